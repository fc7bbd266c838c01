"""2. Index build: passages per second for a full build, and the cost of a
rebuild after one article changed (only its changed passages are embedded).

The model is loaded once beforehand: these figures are chunking, embedding,
BM25 and saving, not start-up (that is section 3).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import SEEDS, Row, seed_sentences, synthetic_articles, write_corpus


def run(embedder, repeat: int, synthetic_passages: int) -> list[Row]:
    from qa.settings import Settings

    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        seeds = Settings(corpus=SEEDS, index=Path(tmp) / "seeds-index")
        rows += full_build("seeds", seeds, embedder, repeat)
        # The seeds hold ~5.4 passages per article; synthetic articles of 30
        # sentences give ~6 passages of the default 800 characters each.
        articles = synthetic_articles(max(1, synthetic_passages // 6), 30)
        corpus = write_corpus(Path(tmp) / "synthetic", articles)
        synthetic = Settings(corpus=corpus, index=Path(tmp) / "synthetic-index")
        rows += full_build("synthetic", synthetic, embedder, max(1, repeat // 2))
        rows += _one_changed(synthetic, embedder, repeat)
    rows += _batching(embedder, min(repeat, 3))
    rows += _workers(embedder)
    return rows


def _workers(
    embedder, texts_count: int = 1024, devices: tuple[str, ...] = ("cpu", "cpu")
) -> list[Row]:
    """The same texts embedded in-process and by a pool of worker processes
    (`encode_devices`), twice in one `workers()` block as a build's steps
    are: the first call pays the workers' start (a model copy each), the
    second is the pool's steady rate. On a CPU the workers share the cores
    the in-process run already uses, so this measures the pool's cost; its
    gain is on several GPUs, one worker each."""
    from qa.embedding import Embedder

    pool = seed_sentences()
    texts = [pool[i % len(pool)] for i in range(texts_count)]
    start = time.perf_counter()
    alone = embedder.encode_passages(texts)
    alone_rate = len(texts) / (time.perf_counter() - start)
    pooled = Embedder(embedder.info, "cpu", devices=devices)
    with pooled.workers():
        start = time.perf_counter()
        pooled.encode_passages(texts)
        first = time.perf_counter() - start
        start = time.perf_counter()
        vectors = pooled.encode_passages(texts)
        second = time.perf_counter() - start
    agree = float((alone * vectors).sum(axis=1).min())
    detail = f"{len(texts)} seed sentences, one run"
    label = f"{len(devices)} worker processes ({','.join(devices)})"
    return [
        Row("2 build", "encode in-process", alone_rate, "texts/s", detail),
        Row(
            "2 build",
            f"encode on {label}",
            len(texts) / second,
            "texts/s",
            f"{detail}, pool started; lowest cosine to in-process {agree:.5f}",
        ),
        Row("2 build", f"start {label}", first - second, "s", "once per build"),
    ]


def _batching(embedder, repeat: int) -> list[Row]:
    """Texts of mixed lengths (the seeds' sentences, 20 to 600 characters)
    encoded one batch at a time in their own order, against one call that
    sentence-transformers sorts by length first, so each batch pads little."""
    texts = seed_sentences()
    rows = []
    for batch in (8, 32, 128):
        unsorted, ordered = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            for i in range(0, len(texts), batch):
                embedder.model.encode_document(texts[i : i + batch], batch_size=batch)
            unsorted.append(len(texts) / (time.perf_counter() - start))
            start = time.perf_counter()
            embedder.model.encode_document(texts, batch_size=batch)
            ordered.append(len(texts) / (time.perf_counter() - start))
        detail = f"{len(texts)} sentences, median of {repeat}"
        rows += [
            Row(
                "2 build",
                f"encode batch {batch}, text order",
                statistics.median(unsorted),
                "texts/s",
                detail,
            ),
            Row(
                "2 build",
                f"encode batch {batch}, sorted by length",
                statistics.median(ordered),
                "texts/s",
                detail,
            ),
        ]
    return rows


def full_build(label: str, settings, embedder, repeat: int) -> list[Row]:
    from qa.assistant import word_forms
    from qa.corpus import load_corpus
    from qa.indexing import ensure_index

    corpus = load_corpus(settings.corpus)
    docs = corpus.documents
    rates, seconds, passages = [], [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        _, report = ensure_index(docs, settings, embedder, rebuild=True)
        elapsed = time.perf_counter() - start
        passages = report.passages
        seconds.append(elapsed)
        rates.append(passages / elapsed)
    detail = f"{len(docs)} articles, {passages} passages, median of {repeat}"
    counting = []
    for _ in range(repeat):
        start = time.perf_counter()
        word_forms(corpus)
        counting.append(time.perf_counter() - start)
    return [
        Row("2 build", f"full build {label}", statistics.median(rates), "passages/s", detail),
        Row("2 build", f"full build {label} time", statistics.median(seconds), "s", detail),
        # Counted at every start and update, not stored: see qa.assistant.word_forms.
        Row(
            "2 build",
            f"word forms {label}",
            statistics.median(counting) * 1000,
            "ms",
            f"{len(docs)} articles, median of {repeat}, at every start",
        ),
    ]


def _one_changed(settings, embedder, repeat: int) -> list[Row]:
    from qa.corpus import load_corpus
    from qa.indexing import ensure_index

    target = sorted(settings.corpus.iterdir())[0]
    original = target.read_text(encoding="utf-8")
    seconds, embedded, total = [], [], 0
    for n in range(repeat):
        target.write_text(original + f"\nUne phrase ajoutée, version {n}.\n", encoding="utf-8")
        docs = load_corpus(settings.corpus).documents
        start = time.perf_counter()
        _, report = ensure_index(docs, settings, embedder)
        seconds.append(time.perf_counter() - start)
        embedded.append(report.embedded)
        total = report.passages
    detail = (
        f"{statistics.median(embedded):.0f} of {total} passages re-embedded, median of {repeat}"
    )
    return [
        Row("2 build", "rebuild after one article changed", statistics.median(seconds), "s", detail)
    ]
