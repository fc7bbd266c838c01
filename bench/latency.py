"""Time of one `ask` against the time of encoding the question alone.

    python bench/latency.py [--repeat N]

Both are measured in the same process on the same questions
(evals/questions.jsonl), after one warm-up call; medians are printed, and
the ratio ask / encode says how much the engine adds to the model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant  # noqa: E402


def median_ms(fn, items, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = (ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line]

    start = time.perf_counter()
    assistant = Assistant.load()
    load_s = time.perf_counter() - start
    assistant.ask(questions[0])  # warm-up
    encode = median_ms(assistant.embedder.encode_query, questions, args.repeat)
    results = {}
    for mode in ("lexical", "dense", "hybrid"):
        results[mode] = median_ms(
            lambda q, m=mode: assistant.ask(q, mode=m), questions, args.repeat
        )
    print(
        f"{len(questions)} questions x {args.repeat}, "
        f"{len(assistant.retriever.index.passages)} passages; Assistant.load {load_s:.1f} s"
    )
    print(f"encode question alone   median {encode:7.2f} ms")
    for mode, ms in results.items():
        print(f"ask ({mode:7})          median {ms:7.2f} ms   ratio to encode {ms / encode:.2f}")


if __name__ == "__main__":
    main()
