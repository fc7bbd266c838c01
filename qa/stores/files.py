"""The default store: the index as plain files under `settings.index`.

Saving, loading and growing the files is `qa.store` and `qa.indexing`; this
module searches what they hold: the FAISS index finds the dense candidates,
BM25 scores every passage (a sparse sum over the question's terms), and the
candidates' dense scores are exact cosines of the stored vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.annotate import DocumentNotes
from qa.chunking import Passage
from qa.corpus import Document
from qa.embedding import Embedder
from qa.indexing import BuildReport, Segment, consistent, ensure_index, live_parts
from qa.settings import Mode, Settings
from qa.store import Manifest, StoredIndex, load_index, read_manifest
from qa.stores import Candidates, Store


class FileStore(Store):
    """A loaded `StoredIndex`, searched in this process."""

    def __init__(self, stored: StoredIndex, settings: Settings) -> None:
        self.stored = stored
        self.settings = settings
        self._n = len(stored.passages)
        #: The live rows, or None when every row is (a removed or replaced
        #: article's rows stay in the index, dead, until a compaction).
        self._live = None if stored.live.all() else stored.live
        self._notes = {n.doc_id: n for n in stored.notes}
        # Search breadth is a query-time knob, not part of the saved index.
        stored.vectors.set_breadth(
            max(settings.hnsw_ef_search, settings.candidates), settings.ivf_nprobe
        )

    @classmethod
    def open(
        cls,
        docs: tuple[Document, ...],
        settings: Settings,
        embedder: Embedder,
        rebuild: bool = False,
        progress: bool = False,
    ) -> tuple[FileStore, BuildReport]:
        stored, report = ensure_index(docs, settings, embedder, rebuild=rebuild, progress=progress)
        return cls(stored, settings), report

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    def update(
        self, docs: tuple[Document, ...], settings: Settings, embedder: Embedder, progress: bool
    ) -> tuple[FileStore, BuildReport]:
        """`ensure_index` with this index held: updated in place, not read
        again from disk, unless another process saved since."""
        stored, report = ensure_index(docs, settings, embedder, progress=progress, held=self.stored)
        return FileStore(stored, settings), report

    def damaged(self) -> bool:
        return not consistent(self.stored)

    def saved(self, known: Manifest) -> FileStore | None:
        """The index as saved with manifest `known`, read from disk, or None
        when another manifest replaced it since."""
        if read_manifest(self.settings.index) != known:
            return None
        return FileStore(load_index(self.settings.index, known), self.settings)

    def contents(self) -> Segment:
        """Every live row as one segment (passages, vectors, term counts,
        notes and sentence vectors, nothing re-embedded): what an export to
        another store writes."""
        rows, vectors, block = live_parts(self.stored)
        return Segment(
            passages=self.passages(rows),
            vectors=vectors,
            block=block,
            notes=dict(self._notes),
            sentence_vectors=dict(self.stored.sentence_vectors),
            embedded=0,
        )

    def candidates(
        self,
        vector: np.ndarray,
        terms: Sequence[str],
        mode: Mode,
        limit: int,
        only: frozenset[str] | None = None,
    ) -> Candidates:
        allowed = None if only is None else self.stored.passages.rows_of(only)
        if self._live is not None:
            allowed = self._live if allowed is None else allowed & self._live
        lexical = self.stored.lexical.scores(terms)
        if allowed is not None:
            lexical = np.where(allowed, lexical, 0.0).astype(np.float32)
        ids = self._pool(vector, lexical, mode, limit, allowed)
        return Candidates(ids, self._dense_scores(vector, ids), lexical[ids])

    def passages(self, ids: np.ndarray) -> list[Passage]:
        return [self.stored.passages[int(i)] for i in ids]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        lexical = self.stored.lexical
        return {t: lexical.df(t) for t in terms if t in lexical}, lexical.count

    def sentences(self, doc_id: str) -> tuple[DocumentNotes, np.ndarray]:
        return self._notes[doc_id], self.stored.sentence_vectors[doc_id]

    def live_counts(self) -> dict[str, int]:
        return self.stored.live_counts()

    def _pool(
        self,
        vector: np.ndarray,
        lexical: np.ndarray,
        mode: Mode,
        limit: int,
        allowed: np.ndarray | None,
    ) -> np.ndarray:
        """Passage ids worth fusing, in ascending order: all of them (all the
        `allowed` ones) when there are at most `limit`, else the union of the
        dense and lexical top `limit` (only one side's in a single-side mode)."""
        pool = np.arange(self._n) if allowed is None else np.flatnonzero(allowed)
        if len(pool) <= limit:
            return pool
        parts = []
        if mode != "lexical":
            _, found = self.stored.vectors.search(vector, limit, allowed)
            parts.append(found)
        if mode != "dense":
            top = np.argpartition(-lexical, limit)[:limit]
            parts.append(top[lexical[top] > 0])
        return np.unique(np.concatenate(parts))

    def _dense_scores(self, vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact cosine of the question with the passages `ids`: an IVF or
        HNSW index finds the candidates, but their scores (and those of
        candidates only BM25 found) come from the stored vectors themselves."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.float32)
        vectors = self.stored.vectors.reconstruct_batch(ids.astype(np.int64))
        return (vectors @ vector).astype(np.float32)
