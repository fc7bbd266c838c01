"""3. Cold start and 5. memory, each in a new process with the index on disk.

The parent times the whole run (interpreter start to first answer); the
child times its phases and reports its peak resident memory, first after
the first answer, then after the whole question set in every mode.

    python -m bench.coldstart --child   (what the parent runs)
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path

from bench.common import SAMPLE, Row, memory_mib, run_child

PHASES = ("imports", "model load", "index load", "first query")
MEMORY_ALL = f"peak RSS after {SAMPLE} questions x 3 modes"


def run(index: Path, repeat: int) -> list[Row]:
    """`repeat` new processes on the seeds with the index at `index` (built if absent)."""
    results = []
    for _ in range(repeat):
        start = time.time()  # wall clock: the child reports its answer time on the same clock
        child = run_child("bench.coldstart", "--child", str(index))
        if child.pop("index status") != "fresh":
            raise RuntimeError(f"cold start expects an index on disk in {index}")
        child["new process to first answer"] = child.pop("answered at") - start
        results.append(child)
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    detail = f"median of {repeat} new processes"
    rows = [Row("3 cold start", name, median[name], "s", detail) for name in PHASES]
    rows.append(
        Row(
            "3 cold start",
            "new process to first answer",
            median["new process to first answer"],
            "s",
            detail,
        )
    )
    rows.append(Row("5 memory", "peak RSS after first answer", median["rss first"], "MiB", detail))
    rows.append(Row("5 memory", MEMORY_ALL, median["rss all"], "MiB", detail))
    return rows


def _peak_mib() -> float:
    try:
        return memory_mib()["peak"]
    except (OSError, KeyError):  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(index: str) -> None:
    t0 = time.perf_counter()
    import bm25s  # noqa: F401
    import faiss  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401

    from qa import Assistant, Settings
    from qa.assistant import word_forms
    from qa.corpus import load_corpus
    from qa.embedding import Embedder
    from qa.retrieval import Retriever
    from qa.stores import open_store

    t1 = time.perf_counter()
    settings = Settings(index=Path(index))
    embedder = Embedder.from_settings(settings)
    t2 = time.perf_counter()
    corpus = load_corpus(settings.corpus)
    store, report = open_store(corpus.documents, settings, embedder)
    retriever = Retriever(store, embedder, settings, word_forms(corpus))
    assistant = Assistant(settings, corpus, embedder, retriever, report)
    t3 = time.perf_counter()
    answer = assistant.ask("Quelle est la surface du nouveau bâtiment de Microsoft à Toulouse ?")
    t4 = time.perf_counter()
    answered_at = time.time()
    assert answer.excerpts, "the cold-start question must be answered"
    rss_first = _peak_mib()
    from bench.common import questions

    for mode in ("lexical", "dense", "hybrid"):
        for question in questions():
            assistant.ask(question, mode=mode)
    print(
        json.dumps(
            {
                "imports": t1 - t0,
                "model load": t2 - t1,
                "index load": t3 - t2,
                "first query": t4 - t3,
                "index status": report.status,
                "rss first": rss_first,
                "rss all": _peak_mib(),
                "answered at": answered_at,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
