"""Three changes to the answerability gate, measured the way the shipped
model is chosen, and not kept (README, "Tried and dropped").

    python -m evals.gate_trials                       # every trial
    python -m evals.gate_trials penalty untyped soft-missing

`penalty`: the gate's inverse L2 penalty (the logistic regression's `C`)
at 0.3 and 3 beside the shipped 1. Stronger penalties shrink the
weights toward a gate that reads fewer inputs, which could hold better for
writers the model never read.

`untyped`: a question that asks for no kind of answer ("Comment…",
"Pourquoi…", "Donne-moi une recette…") gets its own weights for the
ranker's best probability, its log, the cosine and both coverages (their
products with "asks no kind" as five more gate inputs). Today the gate
reads "asks no kind" as a sign of an answerable question whatever the
sentence says, which is how "Comment fonctionne la photosynthèse… ?" is
answered at 0.74.

`soft-missing`: `missing_top_term` (the largest idf share of a question
word absent from the sentence and its context) read by meaning: each
absent word counts as much as it is far, in spaCy's French word vectors,
from the sentence's closest word ("préside" against "président" counts
little; "loyer" against a sentence about start-up counts whole). Tried in
place of the exact input, and beside it (as a ranker and gate input).

Each variant is cross-validated on dev as `qa eval --split dev
--train-answerability` does (`qa.decide.fit`: five draws of five folds),
then fitted with each writer group held out and pooled as `qa eval
--split dev --held-out-origins` does (`qa.decide.held_out_groups`). The
test split is never read. About 5 minutes a variant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRIALS = ("penalty", "untyped", "soft-missing")
PENALTIES = (0.3, 3.0)
#: The gate inputs `untyped` gives their own weights when no kind is asked.
UNTYPED_INPUTS = ("best", "best_log", "sentence_cos", "coverage", "soft_coverage")


@dataclass(frozen=True)
class Variant:
    """One way of fitting: its name, its training rows, the gate's `C`, and
    how the gate reads a question (`qa.decide.question_features` or a
    replacement)."""

    name: str
    rows: list[Any]
    gate_c: float = 1.0
    question_features: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class Measured:
    """A variant's dev figures: cross-validated, and writers held out."""

    name: str
    auc: float
    first: float
    threshold: float
    abstained_ok: float
    abstained_wrong: float
    held_out_auc: float
    held_out_first: float
    #: At the threshold the variant chose by cross-validation.
    held_out_ok: float
    held_out_wrong: float


def untyped_features(
    base: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """`base`'s gate inputs, then `UNTYPED_INPUTS` again times "asks no kind"
    (zero for a question that asks for a person, a figure, a date…)."""
    from qa.decide import QUESTION_FEATURES

    wants = QUESTION_FEATURES.index("wants_kind")
    columns = [QUESTION_FEATURES.index(name) for name in UNTYPED_INPUTS]

    def features(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        f = base(x, p)
        return np.concatenate([f, (1.0 - f[wants]) * f[columns]])

    return features


def beside_features(
    base: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """`base`'s gate inputs, then the best candidate's last column (an input
    added after `qa.decide.FEATURES`)."""

    def features(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.concatenate([base(x[:, :-1], p), x[int(np.argmax(p)), -1:]])

    return features


def soft_missing(weights: np.ndarray, inside: np.ndarray, closest: np.ndarray) -> np.ndarray:
    """For each sentence, the largest of the question words' idf shares
    (`weights`, summing to at most 1) times 1 minus the cosine of the
    sentence's closest word (`closest`: words x sentences); a word one of
    whose stems the sentence or its context holds (`inside`, words x
    sentences) counts 0. With cosines all 0 it is the exact input."""
    far = np.where(inside, 0.0, 1.0 - np.clip(closest, 0.0, 1.0))
    if not len(weights):
        return np.zeros(closest.shape[1])
    return np.max(weights[:, None] * far, axis=0, initial=0.0)


def soft_missing_rows(assistant: Any, questions: Sequence[Any]) -> Iterator[tuple[Any, np.ndarray]]:
    """Each dev question's training row (`qa.evaluation.labelled_candidates`)
    with `soft_missing` of each of its candidates."""
    from qa import evaluation as ev
    from qa.answer import _layout, _question_words, _sentence_words
    from qa.text import words_with_terms
    from qa.words import closest, load_word_vectors

    vectors = load_word_vectors()
    docs = assistant.documents
    for item in ev.labelled_candidates(assistant, questions):
        query, found = item.query, item.candidates
        total = sum(query.weights.values()) or 1.0
        words = words_with_terms(query.text)
        asked = _question_words(query, vectors)
        sentences = [
            _sentence_words(docs[c.doc_id].text, docs[c.doc_id].title, vectors)[c.index]
            for c in found
        ]
        near = closest(vectors, asked.rows, sentences)
        inside = np.zeros((len(words), len(found)), dtype=bool)
        for j, c in enumerate(found):
            layout = _layout(docs[c.doc_id].text, docs[c.doc_id].title)
            held = layout.terms[c.index] | layout.context[c.index]
            inside[:, j] = [bool(terms & held) for _, terms in words]
        yield item.row, soft_missing(asked.weights / total, inside, near)


def measure(variant: Variant, origin_of: dict[str, str]) -> Measured:
    from qa import decide

    # `qa.decide` fits with the variant's gate inputs, or its own.
    reading = variant.question_features or decide.question_features
    with mock.patch.object(decide, "question_features", reading):
        model, figures = decide.fit(variant.rows, compare=False, gate_c=variant.gate_c)
        # Judged at the variant's own threshold: the one each group's model
        # would choose (one draw of folds is enough for the pooled rows) is
        # not read here.
        pooled = decide.held_out_groups(
            variant.rows, origin_of, shipped=model.threshold, gate_c=variant.gate_c, repeats=1
        )
    f = figures["logistic"]
    held = next(r for r in pooled if r.group == decide.POOLED_SHIPPED)
    return Measured(
        variant.name,
        f["auc_answerable"],
        f["first_candidate_answers"],
        model.threshold,
        f["abstained_ok"],
        f["abstained_wrong"],
        held.auc or 0.0,
        held.first_candidate_answers,
        held.abstained_ok,
        held.abstained_wrong,
    )


def variants(trials: Sequence[str], questions_file: Path) -> tuple[list[Variant], dict[str, str]]:
    """The shipped model, then each trial's variants, over dev's candidates."""
    from qa import decide
    from qa import evaluation as ev
    from qa.assistant import Assistant

    assistant = Assistant.load()
    dev = ev.load_questions(questions_file, "dev")
    origin_of = {q.id: q.origin for q in dev}
    if "soft-missing" in trials:
        pairs = list(soft_missing_rows(assistant, dev))
        rows = [row for row, _ in pairs]
    else:
        pairs, rows = [], ev.training_questions(assistant, dev)
    out = [Variant("shipped", rows)]
    if "penalty" in trials:
        out += [Variant(f"gate C = {c:g}", rows, gate_c=c) for c in PENALTIES]
    if "untyped" in trials:
        out.append(
            Variant(
                "untyped: own weights",
                rows,
                question_features=untyped_features(decide.question_features),
            )
        )
    if "soft-missing" in trials:
        column = decide.FEATURES.index("missing_top_term")
        instead, beside = [], []
        for row, soft in pairs:
            x = row.x.copy()
            x[:, column] = soft
            instead.append(replace(row, x=x))
            beside.append(replace(row, x=np.hstack([row.x, soft[:, None]])))
        out.append(Variant("soft missing_top_term, instead", instead))
        out.append(
            Variant(
                "soft missing_top_term, beside",
                beside,
                question_features=beside_features(decide.question_features),
            )
        )
    return out, origin_of


def report(measured: Sequence[Measured]) -> str:
    lines = [
        "| variant | dev AUC | best candidate right | threshold | unanswerable abstained"
        " | answerable abstained | held out: AUC | best candidate right"
        " | unanswerable abstained | answerable abstained |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measured:
        lines.append(
            f"| {m.name} | {m.auc:.4f} | {m.first:.3f} | {m.threshold:.3f} | "
            f"{m.abstained_ok:.3f} | {m.abstained_wrong:.3f} | {m.held_out_auc:.4f} | "
            f"{m.held_out_first:.3f} | {m.held_out_ok:.3f} | {m.held_out_wrong:.3f} |"
        )
    lines.append(
        "\ndev: five draws of five folds by question; held out: each dev origin fitted"
        " without, pooled, judged at the variant's own threshold"
    )
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command's arguments; no trial named means every trial. The names
    are checked here, not by `choices`: argparse checks an empty `nargs="*"`
    positional against its choices too, and refuses it."""
    parser = argparse.ArgumentParser(prog="python -m evals.gate_trials", description=__doc__)
    parser.add_argument("trials", nargs="*", metavar="TRIAL", help=f"any of {', '.join(TRIALS)}")
    parser.add_argument("--questions", type=Path, default=ROOT / "evals" / "questions.jsonl")
    args = parser.parse_args(argv)
    unknown = [t for t in args.trials if t not in TRIALS]
    if unknown:
        parser.error(f"unknown trial {unknown[0]!r}: choose from {', '.join(TRIALS)}")
    args.trials = args.trials or list(TRIALS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    found, origin_of = variants(args.trials, args.questions)
    measured = []
    for variant in found:
        measured.append(measure(variant, origin_of))
        print(f"measured: {variant.name}", file=sys.stderr, flush=True)
    print(report(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
