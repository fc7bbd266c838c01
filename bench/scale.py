"""4. Scale: FAISS exact against IVF and HNSW on random vectors, BM25 and the whole
retrieval step (everything in `ask` but encoding and excerpts) at 100k passages.

Random normalised vectors are the hard case for an approximate index: they
have no structure, so their recall is a floor, not what real embeddings
get. A second set with low intrinsic dimension (`structured_vectors`) shows
the other side. `french_rows` gives the curve on real embeddings: about
100k passages of Debian's French documentation embedded with the engine's
model (`bench/french.py`, cached under `bench/.french/`; 1M real passages
would take about 16 hours to embed on this machine, so the 1M rows stay
random, the worst case).
"""

from __future__ import annotations

import random
import time

import numpy as np

from bench.common import Row, Spread, questions, seed_sentences, time_each

DIMENSION = 384
QUERIES = 200


def unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def structured_vectors(n: int, rng: np.random.Generator, rank: int = 32) -> np.ndarray:
    """Points near a random `rank`-dimensional subspace (plus 30% noise):
    a crude stand-in for text embeddings, whose neighbourhoods have a low
    intrinsic dimension, unlike random vectors (where every point is about
    equally far from every other, the worst case for any approximate index)."""
    basis = np.random.default_rng(42).standard_normal((rank, DIMENSION), dtype=np.float32)
    x = rng.standard_normal((n, rank), dtype=np.float32) @ basis
    x += 0.3 * np.sqrt(rank) * rng.standard_normal((n, DIMENSION), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _label(n: int) -> str:
    if n < 1000:
        return str(n)
    return f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:g}M"


def faiss_rows(
    sizes: list[int], nprobes: list[int], efs: list[int], hnsw_max: int, hnsw_m: int
) -> list[Row]:
    """Exact against IVF (the engine's choice above `flat_max_passages`) at
    every size, against HNSW up to `hnsw_max` (its build is the slow part),
    on random vectors; then IVF on structured vectors at the largest size."""
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        vectors, queries = unit_vectors(n, rng), unit_vectors(QUERIES, rng)
        kinds = ["ivf"] + (["hnsw"] if n <= hnsw_max else [])
        rows += _compare(vectors, queries, f"{_label(n)} random", kinds, nprobes, efs, hnsw_m)
        del vectors
    n = max(sizes)
    both = structured_vectors(n + QUERIES, rng)
    rows += _compare(
        both[:n], both[n:], f"{_label(n)} structured", ["ivf"], nprobes, efs, hnsw_m, flat=False
    )
    return rows


def french_rows(nprobes: list[int], efs: list[int], hnsw_m: int, limit: int = 0) -> list[Row]:
    """Exact, IVF, IVF with 8-bit scalar quantisation (the low-memory
    option: a quarter of the vectors' memory) and HNSW on the cached French
    corpus, its held-out passages as queries. Nothing when the corpus is not
    built (`python -m bench.french --build`); `limit` > 0 takes the first
    `limit` passages only."""
    from bench import french

    try:
        corpus = french.load()
    except FileNotFoundError as err:
        print(f"section 4, French corpus skipped: {err}", flush=True)
        return []
    vectors, queries = corpus.vectors[:limit] if limit else corpus.vectors, corpus.query_vectors
    label = f"{_label(len(vectors))} French"
    kinds = ["ivf", "ivf-sq8", "hnsw"]
    # The cache's own build rate is not reported: a build that was paused or
    # shared the machine counts that time too. `python -m bench.french
    # --build --limit N` prints the rate of a build that runs alone.
    return _compare(vectors, queries, label, kinds, nprobes, efs, hnsw_m)


def _approximate(vectors: np.ndarray, kind: str, hnsw_m: int):
    """The engine's index of `kind`, or IVF-SQ8, which the engine does not
    serve (its scores are approximate, and the engine reads exact scores back
    from its index) but which shows what a quarter of the memory costs."""
    if kind != "ivf-sq8":
        from qa.vectors import new_vector_index

        return new_vector_index(vectors, kind, hnsw_m)
    import faiss

    from qa.vectors import IVF_TRAIN_PER_LIST, ivf_lists

    lists, dimension = ivf_lists(len(vectors)), vectors.shape[1]
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dimension),
        dimension,
        lists,
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    sample = min(len(vectors), IVF_TRAIN_PER_LIST * lists)
    rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
    index.train(vectors[np.sort(rows)])
    index.add(vectors)
    return index


def _compare(
    vectors: np.ndarray,
    queries: np.ndarray,
    label: str,
    kinds: list[str],
    nprobes: list[int],
    efs: list[int],
    hnsw_m: int,
    flat: bool = True,
) -> list[Row]:
    import faiss

    from qa.vectors import new_vector_index

    exact = new_vector_index(vectors, "flat")
    _, truth = exact.search(queries, 10)
    rows = []
    if flat:
        spread = time_each(lambda q, i=exact: i.search(q[None, :], 10), queries, 1)
        mib = exact.ntotal * DIMENSION * 4 / 2**20
        detail = f"{len(queries)} single queries, k=10"
        rows += [
            Row("4 scale", f"faiss flat {label} p50", spread.p50, "ms", detail),
            Row("4 scale", f"faiss flat {label} memory", mib, "MiB", "vectors only"),
        ]
    del exact
    for kind in kinds:
        start = time.perf_counter()
        index = _approximate(vectors, kind, hnsw_m)
        build = time.perf_counter() - start
        mib = faiss.serialize_index(index).nbytes / 2**20
        shape = f"{index.nlist} lists" if kind.startswith("ivf") else f"M={hnsw_m}"
        rows += [
            Row("4 scale", f"faiss {kind} {label} build", build, "s", shape),
            Row("4 scale", f"faiss {kind} {label} memory", mib, "MiB", "serialised index"),
        ]
        for knob in nprobes if kind.startswith("ivf") else efs:
            if kind.startswith("ivf"):
                index.nprobe = knob
            else:
                index.hnsw.efSearch = knob
            spread = time_each(lambda q, i=index: i.search(q[None, :], 10), queries, 1)
            _, found = index.search(queries, 10)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
            detail = f"{'nprobe' if kind.startswith('ivf') else 'efSearch'}={knob}"
            rows += [
                Row("4 scale", f"faiss {kind} {label} p50", spread.p50, "ms", detail),
                Row("4 scale", f"faiss {kind} {label} recall@10", float(recall), "", detail),
            ]
        del index
    return rows


def lexical_rows(passages: int, repeat: int) -> list[Row]:
    """BM25 over `passages` synthetic passages of ~8 seed sentences, and the
    engine's whole retrieval step on them (flat, then IVF; vectors random)."""
    from qa.chunking import Passage
    from qa.lexical import Lexical, Postings
    from qa.rows import PassageTable
    from qa.settings import Settings
    from qa.store import Manifest, StoredIndex
    from qa.text import analyze
    from qa.vectors import VectorIndex, new_vector_index

    rng = random.Random(0)
    pool = seed_sentences()
    analyzed = [analyze(s) for s in pool]  # a passage's terms are its sentences' terms
    picks = [[rng.randrange(len(pool)) for _ in range(8)] for _ in range(passages)]
    corpus_tokens = [[t for i in pick for t in analyzed[i]] for pick in picks]
    start = time.perf_counter()
    bm25 = Lexical([Postings.build(corpus_tokens)], k1=1.2, b=0.75)
    build = time.perf_counter() - start
    label = f"{passages // 1000}k"
    qs = questions()
    rows = [Row("4 scale", f"bm25 {label} index build", build, "s", "tokens pre-analysed")]

    def bm25_query(question: str) -> None:
        scores = bm25.scores(analyze(question, query=True))
        np.argpartition(-scores, 50)[:50]

    spread = time_each(bm25_query, qs, repeat)
    rows.append(
        Row("4 scale", f"bm25 {label} query p50", spread.p50, "ms", "analyse + score + top 50")
    )
    rows.append(Row("4 scale", f"bm25 {label} query p95", spread.p95, "ms", ""))

    texts = [" ".join(pool[i] for i in pick) for pick in picks]
    plist = [Passage(f"doc{n // 6}", n % 6, 0, len(t), t) for n, t in enumerate(texts)]
    vectors = unit_vectors(passages, np.random.default_rng(1))
    table = PassageTable.of(plist)
    manifest = Manifest(3, {}, [], passages, [])
    live = np.ones(passages, dtype=bool)
    for kind in ("flat", "ivf", "hnsw"):
        index = VectorIndex(new_vector_index(vectors, kind))
        stored = StoredIndex(manifest, table, index, bm25, live)
        # Default settings: `auto` would pick IVF here; each kind is timed as it is served.
        spread = _retrieval(stored, Settings(), qs, repeat)
        rows.append(
            Row(
                "4 scale",
                f"retrieval {label} hybrid, {kind} p50",
                spread.p50,
                "ms",
                "no encode, no excerpts",
            )
        )
    return rows


class _FixedEmbedder:
    """Stands in for the model: scale is about the index, not the encoder."""

    dimension = DIMENSION

    def __init__(self) -> None:
        self._vector = unit_vectors(1, np.random.default_rng(2))

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector


def _retrieval(stored, settings, qs: list[str], repeat: int) -> Spread:
    from qa.retrieval import Retriever
    from qa.stores.files import FileStore

    retriever = Retriever(FileStore(stored, settings), _FixedEmbedder(), settings)
    return time_each(lambda q: retriever.search(q, "hybrid", settings.candidates), qs, repeat)
