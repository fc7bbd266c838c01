"""Retrieval quality per mode and fusion on evals/questions.jsonl.

    python bench/quality.py [--passage-chars N ...]

For each configuration: how often the gold answer text is inside the first
excerpt (hit@1) and inside any of the first five (hit@5), over the answerable
questions, and the mean reciprocal rank. Then the relevance of the best
excerpt for answerable and unanswerable questions, to place the abstention
threshold. Abstention is switched off (min_relevance=0) while ranking.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant, Settings  # noqa: E402
from qa.corpus import normalize  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def contains(text: str, answers: list[str]) -> bool:
    folded = text.casefold()
    return any(normalize(a).casefold() in folded for a in answers)


def evaluate(assistant: Assistant, questions: list[dict], mode: str) -> dict[str, float]:
    ranks = []
    for q in questions:
        answer = assistant.ask(q["question"], k=5, mode=mode)
        rank = next(
            (i for i, e in enumerate(answer.excerpts, 1) if contains(e.text, q["answers"])), None
        )
        ranks.append(rank)
    n = len(ranks)
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
        "misses": [q["id"] for q, r in zip(questions, ranks, strict=True) if r != 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default=str(ROOT / "evals" / "questions.jsonl"))
    parser.add_argument("--index", help="index folder (default: a scratch one per chunking)")
    parser.add_argument("--passage-chars", type=int, default=None)
    parser.add_argument("--passage-overlap", type=int, default=None)
    args = parser.parse_args()
    questions = load_questions(Path(args.questions))
    answerable = [q for q in questions if q["answers"]]
    unanswerable = [q for q in questions if not q["answers"]]

    base = Settings.from_env(
        passage_chars=args.passage_chars, passage_overlap=args.passage_overlap, min_relevance=0.0
    )
    if args.index:
        base = base.with_(index=Path(args.index))
    elif args.passage_chars or args.passage_overlap is not None:
        base = base.with_(
            index=ROOT / "bench" / ".index" / f"{base.passage_chars}-{base.passage_overlap}"
        )
    assistant = Assistant.load(base)
    stored = assistant.retriever.index
    print(
        f"{len(answerable)} answerable + {len(unanswerable)} unanswerable questions, "
        f"{len(stored.passages)} passages (passage_chars={base.passage_chars}, "
        f"overlap={base.passage_overlap})"
    )
    print(f"{'configuration':34} hit@1  hit@5  MRR   first-excerpt misses")
    configs = [("dense", base), ("lexical", base)]
    configs += [("hybrid", base.with_(fusion="rrf", rrf_k=k)) for k in (10, 60)]
    configs += [
        ("hybrid", base.with_(fusion="weighted", dense_weight=w)) for w in (0.2, 0.3, 0.4, 0.5, 0.7)
    ]
    for mode, settings in configs:
        assistant.settings = settings
        assistant.retriever = Retriever(stored, assistant.embedder, settings)
        r = evaluate(assistant, answerable, mode)
        label = mode
        if mode == "hybrid":
            label += f" rrf k={settings.rrf_k}" if settings.fusion == "rrf" else ""
            label += f" weighted w={settings.dense_weight}" if settings.fusion == "weighted" else ""
        print(
            f"{label:34} {r['hit@1']:.2f}   {r['hit@5']:.2f}   {r['mrr']:.2f}  "
            f"{' '.join(r['misses'])}"
        )

    assistant.settings = base
    assistant.retriever = Retriever(stored, assistant.embedder, base)
    print("\nrelevance of the best excerpt (hybrid, default fusion):")
    for label, group in (("answerable", answerable), ("unanswerable", unanswerable)):
        best = []
        for q in group:
            excerpts = assistant.ask(q["question"], k=1).excerpts
            best.append(excerpts[0].scores.relevance if excerpts else 0.0)
        print(
            f"  {label:12} min {min(best):.3f}  median {statistics.median(best):.3f}  "
            f"max {max(best):.3f}"
        )


if __name__ == "__main__":
    main()
