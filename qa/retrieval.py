"""Dense, lexical and hybrid search over the stored index.

Each hit carries its dense, lexical and fused scores (exact cosine and BM25,
whatever FAISS index found the candidates); how well it answers
(confidence, and so abstention) is judged per sentence in `qa.answer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from qa.chunking import Passage
from qa.embedding import Embedder
from qa.settings import Fusion, Mode, Settings
from qa.store import StoredIndex
from qa.text import analyze, answer_type, counted_term, key_terms, question_parts


@dataclass(frozen=True)
class Query:
    """A question as the engine sees it: its terms and each distinct term's weight (idf)."""

    text: str
    terms: tuple[str, ...]
    weights: dict[str, float]
    vector: np.ndarray
    #: Terms of the names and numbers in the question (see `qa.text.key_terms`).
    keys: frozenset[str] = frozenset()
    #: The kind of answer wanted (see `qa.text.answer_type`).
    wants: str | None = None
    #: Terms of the question that no article contains.
    unknown: frozenset[str] = frozenset()
    #: What a "how many" question counts, stemmed (see `qa.text.counted_term`).
    counted: str | None = None


@dataclass(frozen=True)
class Hit:
    passage: Passage
    rank: int
    dense: float
    lexical: float
    fused: float


@dataclass(frozen=True)
class Retrieval:
    """What the answer step reads: the question's hits and, for a question
    that asks two things, each part's own query and hits."""

    query: Query
    hits: list[Hit]
    parts: tuple[tuple[Query, list[Hit]], ...] = ()


class Retriever:
    def __init__(self, index: StoredIndex, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._n = len(index.passages)
        #: The live rows, or None when every row is (a removed or replaced
        #: article's rows stay in the index, dead, until a compaction).
        self._live = None if index.live.all() else index.live
        # Search breadth is a query-time knob, not part of the saved index.
        if isinstance(index.vectors, faiss.IndexHNSW):
            index.vectors.hnsw.efSearch = max(settings.hnsw_ef_search, settings.candidates)
        elif isinstance(index.vectors, faiss.IndexIVF):
            index.vectors.nprobe = min(settings.ivf_nprobe, index.vectors.nlist)

    def idf(self, term: str) -> float:
        """BM25 (Lucene) idf; a term absent from the articles gets the highest
        idf, because a question about something never mentioned is unanswered."""
        return self.index.lexical.idf(term)

    def analyze(self, question: str, vector: np.ndarray | None = None) -> Query:
        """Terms, weights and embedding of `question` (`vector`, when already
        encoded). The embedding is computed in every mode: the confidence
        (and so abstention) always uses it."""
        terms = tuple(analyze(question, query=True))
        weights = {t: self.idf(t) for t in dict.fromkeys(terms)}
        if vector is None:
            vector = self.embedder.encode_query(question)[0]
        keys = key_terms(question)
        unknown = frozenset(t for t in (*weights, *keys) if t not in self.index.lexical)
        return Query(
            question,
            terms,
            weights,
            vector,
            keys,
            answer_type(question),
            unknown,
            counted_term(question),
        )

    def retrieve(
        self, question: str, mode: Mode, limit: int, only: frozenset[str] | None = None
    ) -> Retrieval:
        """`search` for the question and, when it asks two things
        (`qa.text.question_parts`), for each part; all encoded in one batch.
        `only`: search the passages of these documents alone."""
        allowed = None if only is None else self.index.passages.rows_of(only)
        parts = question_parts(question)
        if len(parts) < 2:
            return Retrieval(*self.search(question, mode, limit, allowed=allowed))
        vectors = self.embedder.encode_query([question, *parts])
        query, hits = self.search(question, mode, limit, vectors[0], allowed)
        found = tuple(
            self.search(part, mode, limit, vector, allowed)
            for part, vector in zip(parts, vectors[1:], strict=True)
        )
        return Retrieval(query, hits, found)

    def search(
        self,
        question: str,
        mode: Mode,
        limit: int,
        vector: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[Query, list[Hit]]:
        """The `limit` best passages for `question`, best first.

        The candidates are the `limit` nearest passages by the FAISS index and
        the `limit` best by BM25; fusion ranks their union. When the collection
        has no more than `limit` passages, that is every passage and the
        ranking is exhaustive. `allowed` (one flag per passage) keeps the
        search to those passages: FAISS searches them alone, so a selection
        gets its own `limit` nearest, not what is left of the collection's.
        """
        query = self.analyze(question, vector)
        if self._live is not None:
            allowed = self._live if allowed is None else allowed & self._live
        lexical_all = self._lexical_scores(query)
        if allowed is not None:
            lexical_all = np.where(allowed, lexical_all, 0.0).astype(np.float32)
        ids = self._candidates(query, lexical_all, mode, limit, allowed)
        dense = self._dense_scores(query, ids)
        lexical = lexical_all[ids]
        if mode == "dense":
            fused = dense
        elif mode == "lexical":
            fused = lexical
        else:
            fused = fuse(dense, lexical, self.settings.fusion, self.settings)
        order = np.argsort(-fused, kind="stable")
        if mode == "lexical":
            order = order[lexical[order] > 0]
        hits = [
            Hit(
                passage=self.index.passages[ids[i]],
                rank=rank,
                dense=float(dense[i]),
                lexical=float(lexical[i]),
                fused=float(fused[i]),
            )
            for rank, i in enumerate(order[:limit], 1)
        ]
        return query, hits

    def _candidates(
        self,
        query: Query,
        lexical: np.ndarray,
        mode: Mode,
        limit: int,
        allowed: np.ndarray | None = None,
    ) -> np.ndarray:
        """Passage ids worth fusing, in ascending order: all of them (all the
        `allowed` ones) when there are at most `limit`, else the union of the
        dense and lexical top `limit` (only one side's in a single-side mode)."""
        pool = np.arange(self._n) if allowed is None else np.flatnonzero(allowed)
        if len(pool) <= limit:
            return pool
        parts = []
        if mode != "lexical":
            bits = None if allowed is None else np.packbits(allowed, bitorder="little")
            params = None if bits is None else self._selector(bits)
            _, found = self.index.vectors.search(query.vector[None, :], limit, params=params)
            del params, bits  # the selector reads `bits` in place: freed only now
            parts.append(found[0][found[0] >= 0])
        if mode != "dense":
            top = np.argpartition(-lexical, limit)[:limit]
            parts.append(top[lexical[top] > 0])
        return np.unique(np.concatenate(parts))

    def _selector(self, bits: np.ndarray) -> faiss.SearchParameters:
        """FAISS search parameters that keep a search to the passages whose
        bit is set in `bits` (one per row, little-endian; a bitmap costs one
        bit test a row, where a batch of ids would build a hash set of up to
        every row for each question), with the index's own search breadth
        (parameters passed with a search replace the index's, so they are
        copied). The caller keeps `bits` alive until the search is done."""
        selector = faiss.IDSelectorBitmap(self._n, faiss.swig_ptr(bits))
        vectors = self.index.vectors
        if isinstance(vectors, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=vectors.hnsw.efSearch)
        if isinstance(vectors, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=vectors.nprobe)
        return faiss.SearchParameters(sel=selector)

    def _dense_scores(self, query: Query, ids: np.ndarray) -> np.ndarray:
        """Exact cosine of the question with the passages `ids`: an IVF or
        HNSW index finds the candidates, but their scores (and those of candidates
        only BM25 found) come from the stored vectors themselves."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.float32)
        vectors = self.index.vectors.reconstruct_batch(ids.astype(np.int64))
        return (vectors @ query.vector).astype(np.float32)

    def _lexical_scores(self, query: Query) -> np.ndarray:
        """BM25 score of every passage (a sparse sum over the question's terms)."""
        return self.index.lexical.scores(query.terms)


def fuse(dense: np.ndarray, lexical: np.ndarray, method: Fusion, settings: Settings) -> np.ndarray:
    """Combine dense and lexical scores of all passages.

    `rrf`: reciprocal rank fusion, sum of 1 / (rrf_k + rank); passages with no
    lexical match get no lexical share. `weighted`: min-max normalised scores
    mixed with `dense_weight`.
    """
    if method == "rrf":
        fused = np.zeros_like(dense)
        for scores, present in ((dense, np.ones_like(dense, dtype=bool)), (lexical, lexical > 0)):
            ranks = np.empty(len(scores), dtype=np.float32)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
            fused += np.where(present, 1.0 / (settings.rrf_k + ranks), 0.0)
        return fused
    w = settings.dense_weight
    return w * _minmax(dense) + (1 - w) * _minmax(lexical)


def _minmax(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min(initial=0.0)), float(scores.max(initial=0.0))
    if high - low <= 1e-12:
        return np.zeros_like(scores)
    return (scores - low) / (high - low)
