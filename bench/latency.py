"""1. Query latency against its floor: encoding the question alone.

A dense query cannot be faster than encoding the question, so `ask` is
reported as a ratio to that floor; the difference is what the engine adds
(BM25, fusion, sentence ranking, excerpts). The four calls are interleaved
question by question, so that drift on a shared machine hits them alike.
Also: encoding with 1 thread against torch's default, the evidence for the
`threads` setting.
"""

from __future__ import annotations

import numpy as np

from bench.common import Row, Spread, questions, time_each, time_ms
from qa.text import question_parts

MODES = ("lexical", "dense", "hybrid")


def run(assistant, repeat: int) -> list[Row]:
    import torch

    qs = questions()
    for question in qs:  # warm: model, tokenizer, BM25 arrays and article layouts
        assistant.ask(question)
    times: dict[str, list[float]] = {name: [] for name in ("encode", *MODES)}
    for _ in range(repeat):
        for question in qs:
            times["encode"].append(time_ms(lambda q=question: assistant.embedder.encode_query(q)))
            for mode in MODES:
                times[mode].append(time_ms(lambda q=question, m=mode: assistant.ask(q, mode=m)))
    detail = f"{len(qs)} questions x {repeat}, interleaved"
    encode = Spread.of(times["encode"])
    rows = _rows("encode question", encode, detail)
    for mode in MODES:
        spread = Spread.of(times[mode])
        rows += _rows(f"ask {mode}", spread, detail)
        rows.append(Row("1 latency", f"ask {mode} / encode (p50)", spread.p50 / encode.p50, "x"))
    rows.append(_engine_only(assistant, qs, repeat))
    default = torch.get_num_threads()
    for threads in sorted({1, default}):
        torch.set_num_threads(threads)
        spread = time_each(assistant.embedder.encode_query, qs, repeat)
        rows.append(Row("1 latency", f"encode, {threads} torch thread(s)", spread.p50, "ms p50"))
    torch.set_num_threads(default)
    return rows


def _engine_only(assistant, qs: list[str], repeat: int) -> Row:
    """`ask` (hybrid) with every question's vector computed beforehand: what
    the engine itself costs per question, without the model."""
    embedder = assistant.embedder
    encode = embedder.encode_query
    vectors: dict[str, np.ndarray] = {}

    def cached(text: str | list[str]) -> np.ndarray:
        texts = [text] if isinstance(text, str) else text
        for t in texts:
            if t not in vectors:
                vectors[t] = encode(t)
        return np.vstack([vectors[t] for t in texts])

    for q in qs:  # a two-part question also encodes its parts
        cached([q, *question_parts(q)])
    embedder.encode_query = cached  # an instance attribute shadows the method
    try:
        spread = time_each(assistant.ask, qs, repeat)
    finally:
        del embedder.encode_query
    return Row("1 latency", "ask hybrid without encoding p50", spread.p50, "ms", "vectors cached")


def _rows(name: str, spread: Spread, detail: str) -> list[Row]:
    return [
        Row("1 latency", f"{name} p50", spread.p50, "ms", detail),
        Row("1 latency", f"{name} p95", spread.p95, "ms", detail),
    ]
