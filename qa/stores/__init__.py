"""Where the index lives: one small interface, two stores.

- `files` (the default): FAISS, BM25 term counts, passages and spaCy notes as
  plain files under `settings.index` (`qa.store`, `qa.indexing`); embedded,
  nothing to start.
- `qdrant-edge:PATH` (Qdrant's engine embedded, `qa.stores.edge`),
  `qdrant:PATH` (qdrant-client's local mode, for tests) or
  `qdrant+http://host:6333/COLLECTION` (a server or cluster): the same
  passages, dense vectors in Qdrant's HNSW and the project's own French BM25
  weights as sparse vectors (`qa.stores.qdrant`).

The retriever, the assistant and every entry point talk to a `Store`; only
`open_store` reads `settings.store`. What the interface holds is what both
stores need and no more: candidates of a question with their exact dense and
BM25 scores, passages by id, the question terms' idf, each document's
sentence notes and vectors, counts and the manifest. Fusion, the answer step
and the decision stay outside, identical for both.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.annotate import DocumentNotes
from qa.chunking import Passage
from qa.corpus import Document
from qa.embedding import Embedder
from qa.errors import InputError
from qa.indexing import BuildReport
from qa.settings import Mode, Settings, StoreLocation
from qa.store import Manifest


@dataclass(frozen=True)
class Candidates:
    """Passages worth fusing for one question, in ascending id order, each
    with its exact cosine to the question and its BM25 score (0 when it
    shares no term with it)."""

    ids: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


def lucene_idf(df: int, count: int) -> float:
    """BM25's idf as Lucene (and Qdrant's IDF modifier) computes it; a term
    in no passage gets the highest, since a question about something never
    mentioned is unanswered."""
    return math.log(1 + (count - df + 0.5) / (df + 0.5))


class Store(ABC):
    """An opened index: what the retriever and the answer step read."""

    @property
    @abstractmethod
    def manifest(self) -> Manifest:
        """The build settings, the live documents and when each was indexed."""

    @abstractmethod
    def candidates(
        self,
        vector: np.ndarray,
        terms: Sequence[str],
        mode: Mode,
        limit: int,
        only: frozenset[str] | None = None,
    ) -> Candidates:
        """The `limit` nearest passages to `vector` and the `limit` best by
        BM25 for `terms` (one side only in a single-side mode), or every
        passage when there are no more than `limit`; `only` keeps the search
        to those documents' passages, each side finding its own `limit`."""

    @abstractmethod
    def passages(self, ids: np.ndarray) -> list[Passage]:
        """The passages of `ids` (as `candidates` gave them), in that order."""

    @abstractmethod
    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages hold each of `terms` (absent terms left out),
        and how many passages BM25 counts."""

    @abstractmethod
    def sentences(self, doc_id: str) -> tuple[DocumentNotes, np.ndarray]:
        """A live document's sentence notes and one vector per sentence."""

    @abstractmethod
    def live_counts(self) -> dict[str, int]:
        """Live passages per document id."""

    @abstractmethod
    def update(
        self, docs: tuple[Document, ...], settings: Settings, embedder: Embedder, progress: bool
    ) -> tuple[Store, BuildReport]:
        """This store brought up to date with `docs` (only new and changed
        documents are embedded). A running assistant's questions wait
        meanwhile. When it raises, `damaged` says whether this object may
        no longer be read."""

    def damaged(self) -> bool:
        """Whether a failed `update` left this object unfit to answer."""
        return False

    def saved(self, known: Manifest) -> Store | None:
        """After a failed `update` left this object `damaged`: the store as
        saved with manifest `known`, or None when another save replaced it
        (the caller then opens the store as a start would)."""
        return None


def open_store(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: bool = False,
) -> tuple[Store, BuildReport]:
    """The store `settings.store` names, brought up to date with `docs`:
    built when missing, stale or `rebuild` is set, else updated (only new
    and changed documents are embedded)."""
    location = settings.store_location
    if location.kind == "qdrant":
        from qa.stores.qdrant import QdrantStore

        return QdrantStore.open(location, docs, settings, embedder, rebuild, progress)
    from qa.stores.files import FileStore

    return FileStore.open(docs, settings, embedder, rebuild, progress)


def export_store(source: Store, target: str, settings: Settings) -> Store:
    """A copy of `source` (the files store) in the store `target` names
    (`qdrant:PATH` or `qdrant+http://…`), its vectors and analysis reused."""
    from qa.stores.files import FileStore
    from qa.stores.qdrant import QdrantStore

    location = StoreLocation.parse(target)
    if location.kind != "qdrant":
        raise InputError(f"export writes to a Qdrant store, not {target!r}")
    if not isinstance(source, FileStore):
        raise InputError("export reads the files store (QA_STORE=files)")
    return QdrantStore.load(location, settings, source.manifest, source.contents())
