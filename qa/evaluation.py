"""Measure answers on a question set: `qa eval` and `python -m evals`.

A question is judged by the text of the excerpts that come back, not by
passage ids, so labels survive any change of chunking. Document-level ranking
metrics (recall, MRR, nDCG) come from `ir_measures` (trec_eval's code), not
from hand-written formulas.

An answerable question counts as answered at rank r when one excerpt among
the first r contains every string of `answers`. A question whose answer
spans n articles needs the strings across the excerpts, so it is answered at
rank r when the first r excerpts hold them all together, and it counts as
answered "first" when r <= n: it cannot be answered with fewer excerpts.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer import Answer, Candidate
from qa.corpus import normalize
from qa.decide import HeldOut, ShortQuestion, TrainingQuestion, load_model
from qa.errors import InputError
from qa.retrieval import Query
from qa.settings import MODES, TYPINGS
from qa.short import MAX_WORDS
from qa.text import APOSTROPHES, strip_accents

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalQuestion:
    """One line of a question file. No `docs` means the articles do not answer it."""

    id: str
    question: str
    docs: tuple[str, ...]
    answers: tuple[str, ...]
    lang: str = ""
    #: What the question tests ("paraphrase", "english", "near_topic", ...).
    kind: str = ""
    #: "dev" (tune on it) or "test" (report it; never tuned on); "" for none.
    split: str = ""
    #: Who wrote it, and when: "v1", the first set, written beside the engine
    #: (the old hand-set weights were tuned on it); "v2", "v3", "v4", later
    #: sets written fresh from the articles alone by other readers.
    origin: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.docs)


@dataclass(frozen=True)
class QuestionResult:
    """What one mode returned for one question."""

    id: str
    question: str
    answerable: bool
    abstained: bool
    #: Smallest r such that the first r excerpts answer it (None: not answered).
    answer_rank: int | None
    answered_first: bool
    #: Article files of the excerpts, best first, without repeats.
    docs: tuple[str, ...]
    #: Relevance of the best candidate passage, whether or not it was shown.
    best_confidence: float
    latency_ms: float
    #: First excerpt's file and answering sentence, to show what came back.
    first: str = ""
    #: The short answer offered ("" for none), and whether it is right.
    short: str = ""
    short_right: bool = False


@dataclass(frozen=True)
class ModeReport:
    mode: str
    metrics: dict[str, float]
    results: tuple[QuestionResult, ...]
    #: The same metrics for the questions of each kind, of each split, and
    #: of each origin (a set written later shows whether the figures hold
    #: on wording nothing was chosen on).
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    by_split: dict[str, dict[str, float]] = field(default_factory=dict)
    by_origin: dict[str, dict[str, float]] = field(default_factory=dict)

    def failures(self) -> list[QuestionResult]:
        """Answerable questions not answered first, unanswerable ones answered."""
        return [
            r
            for r in self.results
            if (r.answerable and not r.answered_first) or (not r.answerable and not r.abstained)
        ]


@dataclass(frozen=True)
class SweepRow:
    threshold: float
    abstained_ok: float
    abstained_wrong: float
    answer_at_1: float


@dataclass(frozen=True)
class Sweep:
    mode: str
    rows: tuple[SweepRow, ...]
    #: Middle of the thresholds that keep wrong abstentions under `max_wrong`
    #: while refusing the most unanswerable questions (None: no threshold does).
    recommended: float | None
    plateau: tuple[float, float] | None
    max_wrong: float


@dataclass(frozen=True)
class Bars:
    """Quality bars for `--min-*` / `--max-*`; `None` means not checked."""

    min_answer_at_1: float | None = None
    min_answer_at_k: float | None = None
    min_abstained: float | None = None
    max_wrong_abstained: float | None = None
    hybrid_best: bool = False


@dataclass
class Evaluation:
    questions_file: str
    k: int
    modes: list[ModeReport] = field(default_factory=list)
    sweep: Sweep | None = None
    warnings: list[str] = field(default_factory=list)
    #: Questions per "kind:NAME", "split:NAME" and "origin:NAME", for the tables.
    group_sizes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- question files ---------------------------------------------------------


SPLITS = ("dev", "test")
#: A feedback line's verdict when the reader said "wrong" without a usable correction.
WRONG = "wrong"


def load_questions(path: Path | str, split: str | None = None) -> list[EvalQuestion]:
    """Read a JSON-lines question file, with an `InputError` naming the file
    and line for anything malformed (blank lines are skipped, and so are
    feedback lines whose verdict is "wrong": they say what is wrong, not
    what is right). `split`
    ("dev" or "test") keeps only that split's questions."""
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"question file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: not JSON ({err.msg})") from None
        if isinstance(item, dict) and item.get("verdict") == WRONG:
            continue  # a reader's "wrong" with no usable correction (qa.feedback)
        question = parse_question(item, where)
        if question.id in seen:
            raise InputError(f"{where}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    if split not in (None, "", "all"):
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}, all")
        questions = [q for q in questions if q.split == split]
    if not questions:
        raise InputError(f"{path}: no questions" + (f" in split {split!r}" if split else ""))
    return questions


#: The requests `retype` puts around a question, in turn: French, English.
REQUESTS = (
    ("Dis-moi", "Peux-tu me dire", "J'aimerais savoir", "Pouvez-vous m'indiquer"),
    ("Tell me", "Can you tell me", "I'd like to know"),
)


def retype(questions: Sequence[EvalQuestion], typing: str) -> list[EvalQuestion]:
    """`questions` as typed in capitals ("QUI EST LE MAIRE DE BÈGLES ?"),
    without accents ("Qui est le maire de Begles ?") or framed by a request
    ("Dis-moi qui est le maire de Bègles ?", `request`), answers unchanged:
    how much the engine depends on a question being typed with care, and
    asked as a bare question."""
    if typing not in TYPINGS:
        raise InputError(f"unknown typing {typing!r}; choose one of {', '.join(TYPINGS)}")
    if typing == "request":
        return [_as_request(q, i) for i, q in enumerate(questions)]
    if typing == "capitals":
        return [replace(q, question=q.question.upper()) for q in questions]
    if typing == "no-accents":
        return [
            replace(q, question=unicodedata.normalize("NFC", strip_accents(q.question)))
            for q in questions
        ]
    return list(questions)


def _as_request(question: EvalQuestion, turn: int) -> EvalQuestion:
    """The question asked through the `turn`-th request of its language
    (`REQUESTS`), its first letter lowered unless it starts a name
    ("Digital Place", "Jean-Pierre"). A question that does not end with "?"
    ("Donne-moi…", "Name…") is a request already, and is kept."""
    text = question.question.strip()
    if not text.endswith("?"):
        return question
    requests = REQUESTS[1] if question.lang == "en" else REQUESTS[0]
    words = text.split()
    name = any(ch.isupper() for ch in words[0][1:]) or (len(words) > 1 and words[1][:1].isupper())
    body = text if name else text[:1].lower() + text[1:]
    return replace(question, question=f"{requests[turn % len(requests)]} {body}")


def parse_question(item: object, where: str) -> EvalQuestion:
    """One question-file record as an `EvalQuestion`; `InputError` naming
    `where` for a missing or malformed field."""
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a JSON object")
    for key in ("id", "question"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise InputError(f"{where}: {key!r} must be a non-empty string")
    lists = {}
    for key in ("docs", "answers"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(f"{where}: {key!r} must be a list of non-empty strings")
        lists[key] = tuple(value)
    if lists["docs"] and not lists["answers"]:
        raise InputError(f"{where}: an answerable question (with 'docs') needs 'answers'")
    if lists["answers"] and not lists["docs"]:
        raise InputError(f"{where}: 'answers' given but 'docs' is empty")
    split = item.get("split", "")
    if split not in ("", *SPLITS):
        raise InputError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, got {split!r}")
    return EvalQuestion(
        id=item["id"],
        question=item["question"],
        docs=lists["docs"],
        answers=lists["answers"],
        lang=str(item.get("lang", "")),
        kind=str(item.get("kind", "")),
        split=split,
        origin=str(item.get("origin", "")),
    )


# --- judging one answer -----------------------------------------------------


def match_key(text: str) -> str:
    """Text as compared: the engine's normalisation (NFKC, spaces), casefolded,
    one kind of apostrophe, any run of whitespace (line breaks too) one space."""
    return _SPACES.sub(" ", normalize(text).casefold().translate(APOSTROPHES)).strip()


def answer_rank(excerpts: Sequence[str], answers: Sequence[str], across: bool) -> int | None:
    """The smallest r such that the first r excerpts answer: one excerpt holds
    every answer string, or (`across`, several articles) the r excerpts
    together hold them all. None when no prefix of `excerpts` does."""
    wanted = [match_key(a) for a in answers]
    keys = [match_key(e) for e in excerpts]
    missing = set(wanted)
    for rank, key in enumerate(keys, 1):
        if all(w in key for w in wanted):
            return rank
        if across:
            missing = {w for w in missing if w not in key}
            if not missing:
                return rank
    return None


def judge(question: EvalQuestion, answer: Answer, ms: float) -> QuestionResult:
    texts = [e.text for e in answer.excerpts]
    rank = (
        answer_rank(texts, question.answers, across=len(question.docs) > 1)
        if question.answerable
        else None
    )
    docs = tuple(dict.fromkeys(_file_name(e.citation.doc_id) for e in answer.excerpts))
    first = ""
    if answer.excerpts:
        e = answer.excerpts[0]
        first = f"{_file_name(e.citation.doc_id)}: {_shorten(e.said, 160)}"
    return QuestionResult(
        id=question.id,
        question=question.question,
        answerable=question.answerable,
        abstained=answer.abstained,
        answer_rank=rank,
        answered_first=rank is not None and rank <= max(1, len(question.docs)),
        docs=docs,
        best_confidence=round(answer.best_confidence, 4),
        latency_ms=round(ms, 3),
        first=first,
        short=answer.short.text if answer.short else "",
        short_right=bool(answer.short and short_is_right(answer.short.text, question.answers)),
    )


def _file_name(doc_id: str) -> str:
    return doc_id.rsplit("/", 1)[-1]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- metrics ----------------------------------------------------------------


def score(
    questions: Sequence[EvalQuestion], results: Sequence[QuestionResult], k: int
) -> dict[str, float]:
    """Every metric of one mode. Shares are over answerable questions except
    `abstained_ok` (over unanswerable ones); an abstention answers nothing."""
    import ir_measures
    from ir_measures import RR, R, nDCG

    wanted = {q.id for q in questions}
    by_id = {r.id: r for r in results if r.id in wanted}
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    ranks = [by_id[q.id].answer_rank for q in answerable]
    metrics: dict[str, float] = {
        "answer@1": _share(by_id[q.id].answered_first for q in answerable),
        f"answer@{k}": _share(r is not None and r <= k for r in ranks),
    }
    qrels = {q.id: {_file_name(d): 1 for d in q.docs} for q in answerable}
    run = {
        q.id: {d: float(len(docs) - i) for i, d in enumerate(docs)}
        for q in answerable
        if (docs := by_id[q.id].docs)
    }
    measures = {"doc_recall@1": R @ 1, f"doc_recall@{k}": R @ k, "mrr": RR, f"ndcg@{k}": nDCG @ k}
    # ir_measures averages over every query of `qrels`; one absent from `run`
    # (an abstention) scores 0, as it should.
    found = ir_measures.calc_aggregate(list(measures.values()), qrels, run) if qrels else {}
    for name, measure in measures.items():
        metrics[name] = float(found.get(measure, 0.0)) if run else 0.0
    metrics["abstained_ok"] = _share(by_id[q.id].abstained for q in unanswerable)
    metrics["auc_answerable"] = _auc(
        [by_id[q.id].best_confidence for q in answerable],
        [by_id[q.id].best_confidence for q in unanswerable],
    )
    metrics["abstained_wrong"] = _share(by_id[q.id].abstained for q in answerable)
    offered = [by_id[q.id] for q in answerable if by_id[q.id].short]
    metrics["short_offered"] = len(offered) / len(answerable) if answerable else 0.0
    metrics["short_accuracy"] = _share(r.short_right for r in offered)
    latencies = [r.latency_ms for r in by_id.values()]
    metrics["p50_ms"] = float(np.percentile(latencies, 50)) if latencies else 0.0
    metrics["p95_ms"] = float(np.percentile(latencies, 95)) if latencies else 0.0
    return metrics


def mode_report(
    mode: str, questions: Sequence[EvalQuestion], results: Sequence[QuestionResult], k: int
) -> ModeReport:
    """Every metric of one mode, over all questions, per kind, per split and
    per origin (a split or origin table only when there are two or more)."""

    def groups(attribute: str) -> dict[str, dict[str, float]]:
        names = sorted({getattr(q, attribute) for q in questions} - {""})
        if len(names) < 2 and attribute != "kind":
            return {}
        return {
            name: score(chosen, results, k)
            for name in names
            if (chosen := [q for q in questions if getattr(q, attribute) == name])
        }

    return ModeReport(
        mode,
        score(questions, results, k),
        tuple(results),
        groups("kind"),
        groups("split"),
        groups("origin"),
    )


def _auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """ROC AUC of the best confidence, answerable against unanswerable
    questions: how well the confidence alone separates them, whatever the
    threshold (0.5 when one side is empty)."""
    if not positives or not negatives:
        return 0.5
    from sklearn.metrics import roc_auc_score

    labels = [1] * len(positives) + [0] * len(negatives)
    return float(roc_auc_score(labels, [*positives, *negatives]))


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


# --- running ----------------------------------------------------------------


def evaluate(
    assistant: Any,
    questions: Sequence[EvalQuestion],
    modes: Sequence[str] = MODES,
    k: int | None = None,
    sweep: bool = False,
    questions_file: str = "",
) -> Evaluation:
    """Ask every question in every mode (one warm-up call first, so the
    latencies are those of a running assistant), then score."""
    k = assistant.settings.k if k is None else k
    for mode in modes:
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    report = Evaluation(questions_file=questions_file, k=k)
    for q in questions:
        for title, name in (("kind", q.kind), ("split", q.split), ("origin", q.origin)):
            if name:
                key = f"{title}:{name}"
                report.group_sizes[key] = report.group_sizes.get(key, 0) + 1
    known = {_file_name(d.id) for d in assistant.corpus.documents}
    for q in questions:
        report.warnings += [
            f"{q.id} names {d!r}, which is not in the corpus"
            for d in q.docs
            if _file_name(d) not in known
        ]
    assistant.ask(questions[0].question, k=k)
    for mode in modes:
        results = []
        for q in questions:
            start = time.perf_counter()
            answer = assistant.ask(q.question, k=k, mode=mode)
            ms = (time.perf_counter() - start) * 1000
            results.append(judge(q, answer, ms))
        report.modes.append(mode_report(mode, questions, results, k))
    if sweep:
        mode = assistant.settings.mode if assistant.settings.mode in modes else modes[0]
        report.sweep = sweep_threshold(assistant, questions, mode, k)
    return report


def sweep_threshold(
    assistant: Any,
    questions: Sequence[EvalQuestion],
    mode: str,
    k: int,
    thresholds: Sequence[float] | None = None,
    max_wrong: float = 0.05,
) -> Sweep:
    """Abstention rates and answer@1 for each threshold, on one retrieval per
    question. The recommendation is the middle of the best plateau: the widest
    margin on both sides for questions worded differently from this set."""
    thresholds = thresholds or [round(t, 3) for t in np.arange(0.0, 0.801, 0.025)]
    retrieved = [
        (q, assistant.retriever.retrieve(q.question, mode, assistant.settings.candidates))
        for q in questions
    ]
    rows = []
    for t in thresholds:
        results = [
            judge(q, assistant.compose(found, k=k, mode=mode, min_confidence=t), 0.0)
            for q, found in retrieved
        ]
        m = score(questions, results, k)
        rows.append(SweepRow(t, m["abstained_ok"], m["abstained_wrong"], m["answer@1"]))
    feasible = [r for r in rows if r.abstained_wrong < max_wrong]
    if not feasible:
        return Sweep(mode, tuple(rows), None, None, max_wrong)
    best = max(r.abstained_ok for r in feasible)
    top = [r.threshold for r in feasible if r.abstained_ok == best]
    # The contiguous run of best thresholds that holds the first of them.
    run = [top[0]]
    for t in top[1:]:
        if thresholds.index(t) != thresholds.index(run[-1]) + 1:
            break
        run.append(t)
    middle = round((run[0] + run[-1]) / 2, 3)
    return Sweep(mode, tuple(rows), middle, (run[0], run[-1]), max_wrong)


@dataclass(frozen=True)
class Labelled:
    """One question as the engine read it, its candidate sentences, and
    their training row for `qa.decide`."""

    query: Query
    candidates: list[Candidate]
    row: TrainingQuestion


def labelled_candidates(
    assistant: Any, questions: Sequence[EvalQuestion], mode: str = "hybrid"
) -> Iterator[Labelled]:
    """Each question's candidate sentences as `qa.decide` sees them, with
    their features and whether each holds a gold answer string (any of
    them: for a question over two articles each article's sentence is a
    positive). The query and candidates are kept for a trial that reads
    them further (`evals/spacy_trials.py`)."""
    from qa.answer import candidates
    from qa.decide import feature_matrix

    for q in questions:
        query, hits = assistant.retriever.search(q.question, mode, assistant.settings.candidates)
        found = candidates(query, hits, assistant.documents, assistant.sentences)
        wanted = [match_key(a) for a in q.answers]
        labels = []
        for c in found:
            doc = assistant.documents[c.doc_id]
            span = assistant.sentences[c.doc_id].notes.sentences[c.index]
            key = match_key(doc.text[span.start : span.end])
            labels.append(any(w in key for w in wanted))
        x = feature_matrix([c.signals for c in found])
        # The threshold is set on fresh questions only: the first set's
        # wording is closer to the articles' than new users' questions are.
        row = TrainingQuestion(
            q.id, q.kind, x, np.array(labels, dtype=bool), q.answerable, q.origin != "v1"
        )
        yield Labelled(query, found, row)


def training_questions(
    assistant: Any, questions: Sequence[EvalQuestion], mode: str = "hybrid"
) -> list[TrainingQuestion]:
    """Each question's candidate sentences as `qa.decide` sees them,
    labelled (`labelled_candidates`)."""
    return [item.row for item in labelled_candidates(assistant, questions, mode)]


def short_training(
    assistant: Any, questions: Sequence[EvalQuestion], mode: str = "hybrid"
) -> list[ShortQuestion]:
    """Each answerable question's short-answer candidates as `qa.decide`
    sees them: the spans of the sentence the answer would lead with, each
    labelled right when it holds a gold answer string in at most
    `MAX_WORDS` words (the metric's rule)."""
    from qa.answer import merge_rankings, rank_candidates, short_spans

    model = load_model()
    out = []
    for q in questions:
        if not q.answerable:
            continue
        found = assistant.retriever.retrieve(q.question, mode, assistant.settings.candidates)
        docs, sentences = assistant.documents, assistant.sentences
        ranked = merge_rankings(
            [
                rank_candidates(query, hits, docs, sentences, model)
                for query, hits in ((found.query, found.hits), *found.parts)
            ]
        )
        if not ranked:
            continue
        spans, x = short_spans(found.query, ranked[0], docs, sentences)
        text = docs[ranked[0].doc_id].text
        labels = [short_is_right(text[s.start : s.end], q.answers) for s in spans]
        out.append(ShortQuestion(q.id, q.kind, x, np.array(labels, dtype=bool)))
    return out


def short_is_right(short: str, answers: Sequence[str]) -> bool:
    """A short answer is right when it holds a gold answer string and has at
    most `MAX_WORDS` words."""
    key = match_key(short)
    return len(short.split()) <= MAX_WORDS and any(match_key(a) in key for a in answers)


def tradeoff(results: Sequence[QuestionResult]) -> list[tuple[float, float, float]]:
    """(threshold, answerable wrongly abstained, unanswerable abstained) for
    every threshold on the best confidence that changes a decision: the whole
    trade-off curve of abstention, from answering everything to nothing."""
    ans = np.array([r.best_confidence for r in results if r.answerable])
    una = np.array([r.best_confidence for r in results if not r.answerable])
    points = np.unique(np.concatenate([[0.0], ans, una, [1.0 + 1e-9]]))
    return [
        (
            float(t),
            float(np.mean(ans < t)) if len(ans) else 0.0,
            float(np.mean(una < t)) if len(una) else 0.0,
        )
        for t in points
    ]


def plot_tradeoff(report: Evaluation, path: Path | str, threshold: float, split: str) -> None:
    """The trade-off curve of each mode as a PNG (matplotlib), with the
    operating point at `threshold` marked."""
    try:
        import matplotlib
    except ImportError:
        raise InputError(
            "--plot needs matplotlib: pip install -e '.[test]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for m in report.modes:
        curve = tradeoff(m.results)
        ax.plot(
            [w for _, w, _ in curve],
            [o for _, _, o in curve],
            drawstyle="steps-post",
            label=f"{m.mode} (AUC {m.metrics['auc_answerable']:.3f})",
        )
        wrong = _share(r.abstained for r in m.results if r.answerable)
        ok = _share(r.abstained for r in m.results if not r.answerable)
        ax.plot([wrong], [ok], "o", color=ax.lines[-1].get_color())
    ax.axvline(0.03, color="grey", linestyle=":", linewidth=1)
    ax.axhline(0.90, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("answerable questions wrongly abstained")
    ax.set_ylabel("unanswerable questions abstained")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(
        f"Abstention trade-off, {Path(report.questions_file).name}, split {split}\n"
        f"dots: the threshold in use ({threshold:.2f}); dotted lines: the goal",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def check_bars(report: Evaluation, bars: Bars, mode: str) -> list[str]:
    """What falls short of `bars` for `mode` (empty: everything holds)."""
    by_mode = {m.mode: m.metrics for m in report.modes}
    if mode not in by_mode:
        return [f"mode {mode} was not evaluated, so its bars cannot be checked"]
    m = by_mode[mode]
    k = report.k
    failed = []
    for name, bar, low in (
        ("answer@1", bars.min_answer_at_1, True),
        (f"answer@{k}", bars.min_answer_at_k, True),
        ("abstained_ok", bars.min_abstained, True),
        ("abstained_wrong", bars.max_wrong_abstained, False),
    ):
        if bar is not None and (m[name] < bar if low else m[name] > bar):
            failed.append(f"{mode} {name} = {m[name]:.3f}, {'below' if low else 'above'} {bar}")
    if bars.hybrid_best:
        if "hybrid" not in by_mode or len(by_mode) < 2:
            failed.append("--hybrid-best needs hybrid and another mode evaluated")
        else:
            for name in ("answer@1", f"answer@{k}"):
                rival = max(v[name] for key, v in by_mode.items() if key != "hybrid")
                if by_mode["hybrid"][name] < rival:
                    failed.append(f"hybrid {name} = {by_mode['hybrid'][name]:.3f} < {rival:.3f}")
    return failed


# --- printing ---------------------------------------------------------------


def format_table(report: Evaluation) -> str:
    """Mode by metric, as a Markdown table (it reads in a terminal and pastes
    into the README as it is)."""
    if not report.modes:
        return ""
    names = list(report.modes[0].metrics)
    lines = [
        "| mode | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for m in report.modes:
        cells = [
            f"{m.metrics[n]:.1f}" if n.endswith("_ms") else f"{m.metrics[n]:.3f}" for n in names
        ]
        lines.append(f"| {m.mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + _group_tables(report)


def format_held_out(rows: Sequence[HeldOut]) -> str:
    """`qa.decide.held_out_groups` as a Markdown table: a row per origin."""
    kinds = sorted({k for r in rows for k in r.abstained_by_kind})
    head = [
        "held-out origin",
        "questions",
        "answerable",
        "auc_answerable",
        "best candidate answers",
        "threshold",
        "unanswerable abstained",
        "answerable abstained",
        *(f"{k} abstained" for k in kinds),
    ]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        auc = "" if r.auc is None else f"{r.auc:.3f}"
        cells = [r.group, str(r.questions), str(r.answerable), auc]
        cells += [f"{v:.3f}" for v in (r.first_candidate_answers, r.threshold)]
        cells += [f"{v:.3f}" for v in (r.abstained_ok, r.abstained_wrong)]
        cells += [
            f"{r.abstained_by_kind[k]:.3f}" if k in r.abstained_by_kind else "" for k in kinds
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_separation(separation: dict[str, dict[str, float]]) -> str:
    """`qa.decide.signal_separation` as a Markdown table: a row per gate
    input, a column per kind of unanswerable question."""
    kinds = list(separation)
    names = list(next(iter(separation.values()), {}))
    lines = [
        "| gate input | " + " | ".join(f"AUC against {k}" for k in kinds) + " |",
        "|---" * (len(kinds) + 1) + "|",
    ]
    for name in names:
        cells = [f"{separation[k][name]:.3f}" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _group_tables(report: Evaluation) -> str:
    """A row per split, then per origin, then per kind, of each mode: answer
    rates for kinds of answerable questions, abstention rates for the
    unanswerable ones."""
    out = []
    for m in report.modes:
        tables = (("split", m.by_split), ("origin", m.by_origin), ("kind", m.by_kind))
        for title, groups in tables:
            if not groups:
                continue
            out += [
                "",
                f"| {m.mode} by {title} | n | answer@1 | answer@{report.k} "
                "| unanswerable abstained | answerable abstained | short offered "
                "| short right |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for name, g in groups.items():
                n = report.group_sizes.get(f"{title}:{name}", 0)
                out.append(
                    f"| {name} | {n} | {g['answer@1']:.3f} | {g[f'answer@{report.k}']:.3f} "
                    f"| {g['abstained_ok']:.3f} | {g['abstained_wrong']:.3f} "
                    f"| {g['short_offered']:.3f} | {g['short_accuracy']:.3f} |"
                )
    return "\n".join(out)


def format_failures(report: Evaluation, questions: Sequence[EvalQuestion]) -> str:
    by_id = {q.id: q for q in questions}
    out = []
    for m in report.modes:
        failures = m.failures()
        out.append(f"{m.mode}: {len(failures)} failing")
        for r in failures:
            q = by_id[r.id]
            if not r.answerable:
                why = f"answered (confidence {r.best_confidence:.2f}), should abstain"
            elif r.abstained:
                why = f"abstained (best confidence {r.best_confidence:.2f})"
            elif r.answer_rank is None:
                why = "answer not in the excerpts"
            else:
                why = f"answer at rank {r.answer_rank}"
            expected = f" want {' + '.join(map(repr, q.answers))} in {', '.join(q.docs)}"
            out.append(f"  {r.id} {why}: {q.question}")
            if q.answerable:
                out.append(f"      {expected.strip()}")
            if r.first:
                out.append(f"      got {r.first}")
    return "\n".join(out)


def format_sweep(sweep: Sweep) -> str:
    lines = [
        f"abstention threshold sweep ({sweep.mode}):",
        "| threshold | unanswerable abstained | answerable abstained | answer@1 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.threshold:.3f} | {r.abstained_ok:.3f} | {r.abstained_wrong:.3f} | "
        f"{r.answer_at_1:.3f} |"
        for r in sweep.rows
    ]
    if sweep.recommended is None:
        lines.append(f"no threshold keeps wrong abstentions under {sweep.max_wrong:.0%}")
    else:
        lo, hi = sweep.plateau or (sweep.recommended, sweep.recommended)
        lines.append(
            f"recommended min_confidence {sweep.recommended:.3f}: the middle of {lo:.3f}-{hi:.3f}, "
            f"where wrong abstentions stay under {sweep.max_wrong:.0%} and the most "
            "unanswerable questions are refused"
        )
    return "\n".join(lines)
