"""The dense index: a saved graph read from its file, plus the rows added since.

At a million passages the float32 vectors alone are 1.5 GB, and a FAISS
index read the usual way copies all of them into the process. FAISS can
instead map a saved index's vectors and links from its file
(`IO_FLAG_MMAP_IFC`): the kernel pages in what a search touches, and may
drop it again, so the loaded index costs almost no memory of its own
(with the posting lists mapped too, a 1M-passage index loads into 429 MiB
of anonymous memory against 2,587 MiB read whole: `python -m bench
--sections 6`, README's Performance section).
But a mapped index is read-only: FAISS aborts the process, not raising an
exception, on an `add` to it.

So `VectorIndex` holds two FAISS indexes of the same type:

- `base`, the saved graph (`ivf` or `hnsw`), mapped from its file, covering
  the first `covered` rows, never written to;
- `tail`, in memory, holding the rows after them: those of the segments
  saved after the graph (added when the index is loaded) and those an
  update adds. A `flat` index, or one built in this process and not saved
  yet, is all tail.

A search asks both and keeps the best; a row's vector is read from the one
holding it. When the store saves the graph again (`qa.store`, once the
tail is large), `save` writes base and tail as one index and maps the new
file in their place, so the tail's memory is given back.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

#: HNSW build breadth: twice FAISS's default of 40, a better graph for about
#: twice the insert time (a common choice; not tuned on this collection).
HNSW_EF_CONSTRUCTION = 80
#: IVF k-means trains on this many vectors per list (FAISS warns below 39).
IVF_TRAIN_PER_LIST = 64


def ivf_lists(count: int) -> int:
    """Number of IVF lists: about the square root of the collection size, so
    lists are about as long as they are many and a search of `nprobe` lists
    reads about nprobe x sqrt(n) vectors, growing with the square root of the
    collection instead of linearly (2 ms at 100k, 6 ms at 1M for nprobe 32)."""
    return max(1, round(math.sqrt(count)))


def new_vector_index(vectors: np.ndarray, kind: str = "flat", hnsw_m: int = 32) -> faiss.Index:
    """Inner-product search over normalised vectors, that is cosine.

    `flat` scans every vector: exact, no build cost, linear query time.
    `ivf` (IndexIVFFlat) clusters the vectors with k-means and scans only the
    lists nearest the question: approximate, quick to build (a sample trains
    it), less memory than a graph.
    `hnsw` (IndexHNSWFlat) is a graph: the best recall for its latency on
    real embeddings, but its build is slow, so it is saved apart and added
    to, not rebuilt, when the index grows (see the README's performance
    section).
    All three keep the full vectors, so `reconstruct` gives exact scores and a
    rebuild can reuse vectors instead of re-embedding.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif kind == "ivf":
        lists = ivf_lists(len(vectors))
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
        )
        sample = min(len(vectors), IVF_TRAIN_PER_LIST * lists)
        rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
        index.train(vectors[np.sort(rows)])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        raise ValueError(f"unknown vector index type {kind!r}")
    index.add(vectors)
    if kind == "ivf":
        index.make_direct_map()  # for reconstruct(); saved with the index
    return index


def vector_index_kind(index: faiss.Index | VectorIndex) -> str:
    """`flat`, `ivf` or `hnsw`, read from a FAISS index or a `VectorIndex`."""
    if isinstance(index, VectorIndex):
        return index.kind
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"


def _empty_like(index: faiss.Index) -> faiss.Index:
    """An empty in-memory index that takes rows as `index` would: an HNSW
    graph of the same degree, or IVF lists around a copy of the same
    centroids (no training), or a flat index."""
    kind = vector_index_kind(index)
    if kind == "hnsw":
        tail = faiss.IndexHNSWFlat(index.d, index.hnsw.nb_neighbors(1), faiss.METRIC_INNER_PRODUCT)
        tail.hnsw.efConstruction = index.hnsw.efConstruction
    elif kind == "ivf":
        quantizer = faiss.clone_index(index.quantizer)  # nlist x d floats, owned
        tail = faiss.IndexIVFFlat(quantizer, index.d, index.nlist, faiss.METRIC_INNER_PRODUCT)
        tail.make_direct_map()
    else:
        tail = faiss.IndexFlatIP(index.d)
    _copy_breadth(index, tail)
    return tail


def _copy_breadth(source: faiss.Index, target: faiss.Index) -> None:
    """Give `target` the search breadth of `source`, an index of its type."""
    if isinstance(source, faiss.IndexHNSW):
        target.hnsw.efSearch = source.hnsw.efSearch
    elif isinstance(source, faiss.IndexIVF):
        target.nprobe = source.nprobe


def read_mapped(path: Path) -> faiss.Index:
    """A saved FAISS index with its vectors (and HNSW links, IVF lists)
    mapped from the file rather than read; read whole where FAISS cannot map
    (a platform without mmap). Raises FAISS's RuntimeError on a bad file."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError:
        return faiss.read_index(str(path))  # raises again if the file is bad


class VectorIndex:
    """Rows 0..`covered` in `base` (mapped, read-only), the rest in `tail`.

    Row ids are global: a tail row's FAISS id is its row minus `covered`.
    The two parts and `covered` are swapped as one tuple, so a search in
    another thread sees either the parts before a `save` or those after.
    """

    def __init__(
        self, tail: faiss.Index, base: faiss.Index | None = None, path: Path | None = None
    ) -> None:
        #: base, covered, tail, and the file the base was read from.
        self._parts = (base, 0 if base is None else int(base.ntotal), tail, path)
        self._write_lock = threading.Lock()

    @classmethod
    def mapped(cls, path: Path) -> VectorIndex:
        """The saved index at `path` as base, mapped, with an empty tail."""
        base = read_mapped(path)
        return cls(_empty_like(base), base, path)

    @property
    def base(self) -> faiss.Index | None:
        return self._parts[0]

    @property
    def covered(self) -> int:
        """Rows held by the mapped base (0 without one)."""
        return self._parts[1]

    @property
    def tail(self) -> faiss.Index:
        return self._parts[2]

    @property
    def kind(self) -> str:
        base, _, tail, _ = self._parts
        return vector_index_kind(base if base is not None else tail)

    @property
    def d(self) -> int:
        return int(self.tail.d)

    @property
    def ntotal(self) -> int:
        _, covered, tail, _ = self._parts
        return covered + int(tail.ntotal)

    def add(self, rows: np.ndarray) -> None:
        """Append `rows` (normalised float32 vectors) after the present rows."""
        self.tail.add(np.ascontiguousarray(rows, dtype=np.float32))

    def set_breadth(self, ef_search: int, nprobe: int) -> None:
        """Search breadth, a query-time knob: HNSW's efSearch, IVF's nprobe."""
        for part in self._parts[0], self._parts[2]:
            if isinstance(part, faiss.IndexHNSW):
                part.hnsw.efSearch = ef_search
            elif isinstance(part, faiss.IndexIVF):
                part.nprobe = min(nprobe, part.nlist)

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `k` rows nearest `vector` (highest inner product first), among
        the `allowed` ones (a flag per row) when given: (scores, rows)."""
        base, covered, tail, _ = self._parts
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scores, rows = [], []
        for part, offset in ((base, 0), (tail, covered)):
            if part is None or part.ntotal == 0:
                continue
            flags = None if allowed is None else allowed[offset : offset + part.ntotal]
            if flags is not None and not flags.any():
                continue
            found_scores, found = _search(part, query, k, flags)
            keep = found >= 0
            scores.append(found_scores[keep])
            rows.append(found[keep] + offset)
        if not rows:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores_all, rows_all = np.concatenate(scores), np.concatenate(rows)
        best = np.argsort(-scores_all, kind="stable")[:k]
        return scores_all[best], rows_all[best]

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of rows `ids`, in that order."""
        base, covered, tail, _ = self._parts
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.d), dtype=np.float32)
        in_base = ids < covered
        if in_base.any():
            out[in_base] = base.reconstruct_batch(np.ascontiguousarray(ids[in_base]))
        if (~in_base).any():
            out[~in_base] = tail.reconstruct_batch(np.ascontiguousarray(ids[~in_base] - covered))
        return out

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        """The stored vectors of rows `start` to `start + count`."""
        return self.reconstruct_batch(np.arange(start, start + count, dtype=np.int64))

    def save(self, path: Path, write: Callable[[Path, Callable[[str], None]], None]) -> None:
        """Write base and tail as one index with `write(path, fill)` (the
        store's atomic write: `fill(temporary path)` writes the file), then
        map the written file as the new base with an empty tail.

        The base is read again from its file, whole, for the write (a mapped
        index cannot be added to): that memory is given back once the new
        file is mapped."""
        with self._write_lock:
            base, _, tail, source = self._parts
            if base is None:
                whole = tail
            else:
                whole = _read_whole(base, source)
                if tail.ntotal:
                    whole.add(tail.reconstruct_n(0, tail.ntotal))
            write(path, lambda temporary, index=whole: faiss.write_index(index, temporary))
            del whole  # the in-memory copy: freed before the file is mapped
            saved = read_mapped(path)
            _copy_breadth(tail, saved)  # the tail has the base's breadth, or is the whole
            self._parts = (saved, int(saved.ntotal), _empty_like(saved), path)


def _read_whole(base: faiss.Index, source: Path | None) -> faiss.Index:
    """An in-memory copy of the mapped `base`: read again from its file, or,
    if that is gone, through FAISS's serialisation (twice the memory)."""
    if source is not None and source.is_file():
        return faiss.read_index(str(source))
    return faiss.deserialize_index(faiss.serialize_index(base))


def _search(
    index: faiss.Index, query: np.ndarray, k: int, flags: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's search of one part, kept to the rows whose flag is set (a
    bitmap costs one bit test a row, where a batch of ids would build a hash
    set of up to every row for each question), with the part's own search
    breadth (parameters passed with a search replace the index's)."""
    if flags is None:
        scores, found = index.search(query, k)
        return scores[0], found[0]
    bits = np.packbits(flags, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(flags), faiss.swig_ptr(bits))
    if isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    elif isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    scores, found = index.search(query, k, params=params)
    del params, selector, bits  # the selector reads `bits` in place: freed only now
    return scores[0], found[0]
