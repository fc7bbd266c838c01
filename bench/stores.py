"""7. Stores: the files store (FAISS + BM25 in this process) against Qdrant
(`qa.stores.qdrant`) on the same passages, vectors and questions.

The collection is synthetic (articles of 6 passages of 8 seed sentences, as
in section 6) with structured vectors (`bench.scale.structured_vectors`, a
stand-in for text embeddings); the questions are the evaluation's, their
vectors drawn the same way. For each store:

- `bulk load`: writing the collection (the files store's save; Qdrant's
  `QdrantStore.load`, what `qa export` runs), in passages a second;
- `candidates p50`: one question's `Store.candidates` (dense top 50 and
  BM25 top 50, with the exact scores of their union), the whole store-side
  cost of a question;
- `dense recall@10`: the ten best by the candidates' dense score against
  the exact ten (a flat scan of the same vectors);
- `lexical top 10 agrees`: the share of questions whose ten best by BM25
  are the files store's, in the same order (BM25 parity).

Qdrant runs here in its two embedded forms: Qdrant Edge (`qdrant-edge:PATH`,
the server's engine in this process, HNSW built after the load) and
qdrant-client's local mode (`qdrant:PATH`, an exhaustive search written in
Python, measured up to `LOCAL_MAX` passages). A Qdrant server is not
reachable from this machine; its engine is Edge's.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from bench.common import Row, questions, time_each
from bench.grow import _collection, _notes
from bench.scale import _label, structured_vectors

STORE = "7 stores"
LIMIT = 50
#: qdrant-client's local mode scores every point in Python: beyond this it
#: takes seconds a question, and is left out.
LOCAL_MAX = 5000


def run(sizes: list[int], repeat: int) -> list[Row]:
    rows = _seed_sizes()
    for n in sizes:
        rows += _size(n, repeat)
    return rows


def _size(n: int, repeat: int) -> list[Row]:
    from qa.indexing import Segment
    from qa.lexical import Postings
    from qa.settings import Settings, StoreLocation
    from qa.store import save_index
    from qa.stores.files import FileStore
    from qa.stores.qdrant import QdrantStore, disconnect
    from qa.text import analyze

    label = _label(n)
    docs, passages = _collection(n)
    vectors = structured_vectors(len(passages), np.random.default_rng(1))
    segment = Segment(
        passages,
        vectors,
        Postings.build(analyze(p.text) for p in passages),
        {note.doc_id: note for note in _notes(docs)},
        {d.id: structured_vectors(1, np.random.default_rng(i)) for i, d in enumerate(docs)},
        0,
    )
    qs = questions()
    terms = [analyze(q, query=True) for q in qs]
    qvectors = structured_vectors(len(qs), np.random.default_rng(3))
    exact = np.argsort(-(qvectors @ vectors.T), axis=1)[:, :10]
    rows: list[Row] = [
        Row(STORE, f"{label} passage payload", _payload_bytes(passages), "bytes", "JSON, mean"),
        Row(STORE, f"{label} passage sparse terms", _terms(segment.block), "terms", "mean"),
    ]
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("flat", "hnsw", "qdrant-edge", "qdrant"):
            if kind == "qdrant" and n > LOCAL_MAX:
                continue
            settings = Settings(
                index=f"{tmp}/{kind}", vector_index="flat" if kind == "flat" else "hnsw"
            )
            start = time.perf_counter()
            if kind.startswith("qdrant"):
                store = QdrantStore.load(
                    StoreLocation.parse(f"{kind}:{tmp}/{kind}"),
                    settings,
                    _manifest(docs, len(passages), settings),
                    segment,
                )
                name = "qdrant edge" if kind == "qdrant-edge" else "qdrant local mode"
            else:
                stored = _stored(docs, segment, settings, kind)
                save_index(settings.index, stored)
                store = FileStore(stored, settings)
                name = f"files {kind}"
            seconds = time.perf_counter() - start
            rows.append(
                Row(STORE, f"{name} {label} bulk load", len(passages) / seconds, "passages/s", "")
            )
            found = [
                store.candidates(v, t, "hybrid", LIMIT)
                for v, t in zip(qvectors, terms, strict=True)
            ]
            spread = time_each(
                lambda i, store=store: store.candidates(qvectors[i], terms[i], "hybrid", LIMIT),
                range(len(qs)),
                repeat,
            )
            rows.append(
                Row(STORE, f"{name} {label} candidates p50", spread.p50, "ms", "hybrid, 50 a side")
            )
            recall = np.mean(
                [
                    len(set(c.ids[np.argsort(-c.dense, kind="stable")[:10]]) & set(e)) / 10
                    for c, e in zip(found, exact, strict=True)
                ]
            )
            rows.append(
                Row(STORE, f"{name} {label} dense recall@10", float(recall), "", "vs exact")
            )
            lexical = [_lexical_top(store, c) for c in found]
            if reference is None:
                reference = lexical
            agree = np.mean([a == b for a, b in zip(lexical, reference, strict=True)])
            rows.append(
                Row(
                    STORE,
                    f"{name} {label} lexical top 10 agrees",
                    float(agree),
                    "",
                    "vs files flat",
                )
            )
            if kind.startswith("qdrant"):
                disconnect(StoreLocation.parse(f"{kind}:{tmp}/{kind}"))
    return rows


def _seed_sizes() -> list[Row]:
    """What a real passage weighs, from the seed articles as the engine
    chunks them: payload, distinct terms and sentences (each sentence is
    one more stored vector)."""
    from bench.common import SEEDS
    from qa.chunking import chunk_documents
    from qa.corpus import load_corpus
    from qa.settings import Settings
    from qa.text import analyze, split_sentences

    settings = Settings()
    docs = load_corpus(SEEDS).documents
    passages = chunk_documents(
        docs, settings.passage_chars, settings.passage_max_chars, settings.passage_overlap
    )
    terms = np.mean([len(set(analyze(p.text))) for p in passages])
    sentences = sum(len(split_sentences(d.text)) for d in docs) / len(passages)
    return [
        Row(STORE, "seeds passage payload", _payload_bytes(passages), "bytes", "JSON, mean"),
        Row(STORE, "seeds passage sparse terms", float(terms), "terms", "mean"),
        Row(STORE, "seeds sentences a passage", sentences, "sentences", "one vector each"),
    ]


def _payload_bytes(passages) -> float:
    """Mean size of a passage point's payload as sent (text, offsets, ids)."""
    import json
    from dataclasses import asdict

    sizes = [len(json.dumps({**asdict(p), "gen": 1, "length": 100}).encode()) for p in passages]
    return float(np.mean(sizes))


def _terms(block) -> float:
    """Mean distinct terms a passage: the nonzeros of its sparse vector."""
    return float(len(block.rows) / max(block.size, 1))


def _lexical_top(store, found) -> list:
    """The ten best passages by BM25 among the candidates, as passages."""
    order = np.argsort(-found.lexical, kind="stable")
    order = order[found.lexical[order] > 0][:10]
    return store.passages(found.ids[order])


def _manifest(docs, count: int, settings):
    from qa.indexing import document_records
    from qa.store import FORMAT_VERSION, Manifest

    build = {"model": {"name": "bench-structured", "dimension": 384}}
    records = [{**r, "segment": ""} for r in document_records(docs)]
    return Manifest(
        FORMAT_VERSION, build, records, count, [{"name": "", "passages": count, "files": {}}]
    )


def _stored(docs, segment, settings, kind: str):
    from qa.lexical import Lexical
    from qa.rows import PassageTable
    from qa.store import StoredIndex
    from qa.vectors import VectorIndex, new_vector_index

    count = len(segment.passages)
    return StoredIndex(
        _manifest(docs, count, settings),
        PassageTable.of(segment.passages),
        VectorIndex(new_vector_index(segment.vectors, kind, settings.hnsw_m)),
        Lexical([segment.block], settings.bm25_k1, settings.bm25_b),
        np.ones(count, dtype=bool),
        [segment.notes[d.id] for d in docs],
        dict(segment.sentence_vectors),
    )
