"""Dense, lexical and hybrid search over the stored index.

Each hit carries its dense, lexical and fused scores (exact cosine and BM25,
whatever FAISS index found the candidates); how well it answers
(confidence, and so abstention) is judged per sentence in `qa.answer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.chunking import Passage
from qa.embedding import Embedder
from qa.settings import Fusion, Mode, Settings
from qa.stores import Store, lucene_idf
from qa.text import (
    WordForms,
    analyze,
    answer_type,
    counted_term,
    key_terms,
    question_parts,
    unframe,
)


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
    """Searches a `Store` and fuses its dense and lexical candidates."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        forms: WordForms | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        #: How the articles write their words: a question typed in capitals
        #: or without accents is read as they would write it.
        self.forms = forms or WordForms()

    def analyze(self, question: str, vector: np.ndarray | None = None) -> Query:
        """Terms, weights and embedding of `question` (`vector`, when already
        encoded). The embedding is computed in every mode: the confidence
        (and so abstention) always uses it. A term no article holds gets the
        highest idf and is `unknown`."""
        terms = tuple(analyze(question, query=True))
        if vector is None:
            vector = self.embedder.encode_query(question)[0]
        keys = key_terms(question)
        df, count = self.store.document_frequencies(list(dict.fromkeys((*terms, *keys))))
        weights = {t: lucene_idf(df.get(t, 0), count) for t in dict.fromkeys(terms)}
        unknown = frozenset(t for t in (*weights, *keys) if t not in df)
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
        `only`: search the passages of these documents alone. The question
        is read without the request around it (`qa.text.unframe`) and as
        the articles write its words (`WordForms`)."""
        question = self.forms.restore(unframe(question))
        parts = question_parts(question)
        if len(parts) < 2:
            return Retrieval(*self.search(question, mode, limit, only=only))
        vectors = self.embedder.encode_query([question, *parts])
        query, hits = self.search(question, mode, limit, vectors[0], only)
        found = tuple(
            self.search(part, mode, limit, vector, only)
            for part, vector in zip(parts, vectors[1:], strict=True)
        )
        return Retrieval(query, hits, found)

    def search(
        self,
        question: str,
        mode: Mode,
        limit: int,
        vector: np.ndarray | None = None,
        only: frozenset[str] | None = None,
    ) -> tuple[Query, list[Hit]]:
        """The `limit` best passages for `question`, best first.

        The candidates are the store's `limit` nearest passages and its
        `limit` best by BM25; fusion ranks their union. When the collection
        has no more than `limit` passages, that is every passage and the
        ranking is exhaustive. `only` (document ids) keeps the search to
        their passages: each side searches them alone, so a selection gets
        its own `limit` nearest, not what is left of the collection's.
        """
        query = self.analyze(self.forms.restore(unframe(question)), vector)
        found = self.store.candidates(query.vector, query.terms, mode, limit, only)
        dense, lexical = found.dense, found.lexical
        if mode == "dense":
            fused = dense
        elif mode == "lexical":
            fused = lexical
        else:
            fused = fuse(dense, lexical, self.settings.fusion, self.settings)
        order = np.argsort(-fused, kind="stable")
        if mode == "lexical":
            order = order[lexical[order] > 0]
        order = order[:limit]
        passages = self.store.passages(found.ids[order])
        hits = [
            Hit(
                passage=passage,
                rank=rank,
                dense=float(dense[i]),
                lexical=float(lexical[i]),
                fused=float(fused[i]),
            )
            for rank, (i, passage) in enumerate(zip(order, passages, strict=True), 1)
        ]
        return query, hits


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
