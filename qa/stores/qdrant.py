"""The Qdrant store: the same index in Qdrant, embedded or on a server.

Three collections, for a store named C (`qdrant:PATH` names it "passages"):

    C            one point per live passage: payload doc_id, number, start,
                 end, text and gen (the update that wrote it); named vectors
                 "dense" (the passage embedding, dot product, HNSW) and
                 "bm25" (sparse: the project's own French analysis, weighted
                 as BM25's term part; Qdrant's IDF modifier gives the idf)
    C-documents  one point per live document and update: its spaCy notes and
                 a multivector "sentences" (one embedding per sentence); and
                 the manifest point
    C-terms      one point per term: how many passages hold it (the answer
                 step weighs question terms by idf)

BM25 parity: a passage's sparse value for a term is tf / (tf + k1 (1 - b + b
len / avgdl)) and a question's is how often it says the term, so Qdrant's
dot product with IDF is exactly `qa.lexical`'s score (same analyzer, k1, b,
Lucene idf), with avgdl the collection's when the passage was written: it
drifts as the collection grows, and a rebuild refreshes it.

Updates follow the files store's: only new and changed documents are
chunked and embedded, vectors of replaced passages whose text is unchanged
are reused. Writes are ordered so that a crash leaves the previous state
readable: the manifest point first records the update as pending, then the
new points go in, then one manifest write makes them live and records what
is left to delete; the next open finishes or undoes what a crash left.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qa.annotate import DocumentNotes
from qa.chunking import Passage
from qa.corpus import Document
from qa.embedding import Embedder
from qa.errors import StoreError
from qa.indexing import (
    BuildReport,
    Segment,
    build_settings,
    build_steps,
    changes,
    document_records,
    indexed_times,
    new_segment,
    reusable_vectors,
    unplaced,
    versions,
    why_stale,
)
from qa.lexical import Postings
from qa.settings import Mode, Settings, StoreLocation
from qa.store import FORMAT_VERSION, Manifest, utc_now
from qa.stores import Candidates, Store

log = logging.getLogger(__name__)

#: Points per upsert request.
BATCH = 256
_NAMESPACE = uuid.UUID("6f1c1f3e-8a47-4d0c-9a59-1b0c2f1e7a11")
_MANIFEST_ID = str(uuid.uuid5(_NAMESPACE, "manifest"))
#: One client per local folder and process: Qdrant's local mode locks its folder.
_CLIENTS: dict[str, Any] = {}


def term_id(term: str) -> int:
    """A term's index in the sparse vectors: 32 bits of its BLAKE2b hash
    (Qdrant's sparse indices are 32-bit). Two terms of a million collide
    with odds of about one in ten thousand: their counts then add up."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


def _doc_point(doc_id: str, gen: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"doc\n{doc_id}\n{gen}"))


@dataclass
class _State:
    """What the store keeps beside the manifest, in the manifest point."""

    #: The next passage point id and update number.
    next_id: int = 0
    next_gen: int = 1
    #: Live passages and their summed BM25 lengths (avgdl for new points).
    rows: int = 0
    length_sum: float = 0.0
    #: Live passages per document.
    counts: dict[str, int] = field(default_factory=dict)
    #: An update whose points may be written but are not live (a crash).
    pending: int | None = None
    #: What a live update has left to do: passage points and document
    #: points to delete, and the change in each term's passage count (terms
    #: are counted once an update is live, so an undone one needs no fix).
    drop_points: list[int] = field(default_factory=list)
    drop_documents: list[str] = field(default_factory=list)
    term_deltas: dict[str, int] = field(default_factory=dict)


def _models() -> Any:
    try:
        from qdrant_client import models
    except ImportError:
        raise StoreError(
            "QA_STORE names Qdrant but qdrant-client is not installed: "
            "pip install 'qa-articles[qdrant]'"
        ) from None
    return models


@atexit.register
def _close_clients() -> None:
    """Close the local clients while the interpreter can still run their
    cleanup (left to garbage collection, it fails at exit)."""
    for key in list(_CLIENTS):
        _release(key)


def disconnect(location: StoreLocation) -> None:
    """Close the process's client of an embedded folder (before the folder
    is deleted, say); the next `connect` opens it again."""
    _release(_key(location))


def _key(location: StoreLocation) -> str:
    return f"{'edge' if location.edge else 'local'}:{location.path}"


def _release(key: str) -> None:
    client = _CLIENTS.pop(key, None)
    if client is None:
        return
    try:
        client.close()
    except Exception as err:  # a folder deleted under it: nothing left to save
        log.warning("closing the Qdrant client of %s: %s", key, err)


def connect(location: StoreLocation) -> Any:
    """A Qdrant client for `location`: embedded in a local folder (one per
    folder and process) or talking to a server."""
    _models()
    from qdrant_client import QdrantClient

    if location.path:
        key = _key(location)
        client = _CLIENTS.get(key)
        if client is None and location.edge:
            from qa.stores.edge import EdgeClient

            client = _CLIENTS[key] = EdgeClient(location.path)
        elif client is None:
            try:
                client = _CLIENTS[key] = QdrantClient(path=location.path)
            except RuntimeError as err:  # the folder is locked by another process
                raise StoreError(
                    f"the Qdrant folder {location.path} cannot be opened: {err}"
                ) from err
        return client
    return QdrantClient(url=location.url, timeout=60)


class QdrantStore(Store):
    """An index in Qdrant (see the module docstring for its layout)."""

    def __init__(self, client: Any, location: StoreLocation, settings: Settings) -> None:
        self.client = client
        self.location = location
        self.settings = settings
        self.passage_collection = location.collection
        self.document_collection = f"{location.collection}-documents"
        self.term_collection = f"{location.collection}-terms"
        self._manifest: Manifest | None = None
        self._state = _State()
        #: The update that wrote each live document's points.
        self._gens: dict[str, int] = {}
        #: Passages read by the latest searches, by point id.
        self._seen: dict[int, Passage] = {}

    # -- opening and updating -------------------------------------------------

    @classmethod
    def open(
        cls,
        location: StoreLocation,
        docs: tuple[Document, ...],
        settings: Settings,
        embedder: Embedder,
        rebuild: bool = False,
        progress: bool = False,
    ) -> tuple[QdrantStore, BuildReport]:
        from qdrant_client.http.exceptions import ApiException

        store = cls(connect(location), location, settings)
        try:
            with embedder.workers():  # one worker pool for every step, when there are workers
                return store._sync(docs, embedder, rebuild, progress)
        except (OSError, ApiException) as err:  # a server down, refusing, or too old
            raise StoreError(
                f"Qdrant at {location.url or location.path} did not answer as expected: {err}"
            ) from err

    def update(
        self, docs: tuple[Document, ...], settings: Settings, embedder: Embedder, progress: bool
    ) -> tuple[QdrantStore, BuildReport]:
        store = QdrantStore(self.client, self.location, settings)
        with embedder.workers():  # one worker pool for every step, when there are workers
            return store._sync(docs, embedder, False, progress)

    def _sync(
        self, docs: tuple[Document, ...], embedder: Embedder, rebuild: bool, progress: bool
    ) -> tuple[QdrantStore, BuildReport]:
        build = qdrant_build(self.settings, embedder)
        records = document_records(docs)
        manifest = None if rebuild else self._read()
        if manifest is not None:
            self._finish()
        if manifest is not None and manifest.build == build and unplaced(manifest) == records:
            count = manifest.passages
            return self, BuildReport("fresh", "index is up to date", len(docs), count, 0, 0)
        if manifest is None or manifest.build != build:
            reason = (
                ("rebuild requested" if rebuild else f"no index in {self._where()}")
                if manifest is None
                else why_stale(manifest, build, records)
            )
            self._create(embedder.dimension)
            self._manifest = Manifest(FORMAT_VERSION, build, [], 0, [])
            self._state = _State()
            self._gens = {}
            status = "built"
        else:
            reason = why_stale(manifest, build, records)
            status = "updated"
        before = versions(self.manifest)
        embedded = 0
        # Every `build_step` new or changed documents are written and made
        # live: an interrupted build resumes from there.
        for target in build_steps(docs, before, self.settings.build_step):
            embedded += self._append(target, embedder, progress, manifest).embedded
        count = self.manifest.passages
        report = BuildReport(status, reason, len(docs), count, embedded, count - embedded)
        log.info("qdrant index %s (%s): %d passages, %d embedded", status, reason, count, embedded)
        return self, report

    @classmethod
    def load(
        cls, location: StoreLocation, settings: Settings, manifest: Manifest, contents: Segment
    ) -> QdrantStore:
        """A new Qdrant index (any there is replaced) holding `contents`,
        another store's live rows with its `manifest`: a bulk load, nothing
        re-embedded or re-analysed."""
        store = cls(connect(location), location, settings)
        build = {**manifest.build, "vectors": _vector_settings(settings)}
        store._create(int(build["model"]["dimension"]))
        store._manifest = Manifest(FORMAT_VERSION, build, [], 0, [])
        store._apply(unplaced(manifest), dict(manifest.indexed), contents, set(), [])
        return store

    def _append(
        self,
        docs: tuple[Document, ...],
        embedder: Embedder,
        progress: bool,
        known: Manifest | None = None,
    ) -> Segment:
        """Write the new and changed documents of `docs`, drop the removed
        and replaced ones; vectors of their unchanged texts are reused.
        `known`: the manifest whose indexing times unchanged documents keep."""
        _, fresh, gone = changes(docs, self.manifest)
        dying = self._points_of(gone, vectors=True)
        passages = [_passage(p.payload) for p in dying]
        vectors = [np.asarray(p.vector["dense"], dtype=np.float32) for p in dying]
        notes = [self.sentences(i) for i in gone]
        titles = {d["id"]: d["title"] for d in self.manifest.documents if d["id"] in gone}
        previous = reusable_vectors(
            passages, vectors, titles, [n for n, _ in notes], {n.doc_id: v for n, v in notes}
        )
        notes_by_hash = {n.sha256: n for n, _ in notes}
        new = new_segment(fresh, self.settings, embedder, previous, notes_by_hash, progress)
        times = indexed_times(docs, known or self.manifest)
        self._apply(document_records(docs), times, new, gone, dying)
        return new

    def _apply(
        self,
        records: list[dict[str, Any]],
        indexed: dict[str, str],
        new: Segment,
        gone: set[str],
        dying: list[Any],
    ) -> None:
        """Write `new` (the new and changed documents) and make it live in
        place of the `dying` points of the `gone` documents, crash-safely;
        `records` and `indexed` are every live document's, in order."""
        state = self._state
        gen = state.next_gen
        state.pending = gen
        state.next_gen += 1
        self._write_manifest()
        terms, counts = _row_terms(new.block)
        lengths = new.block.lengths
        dying_lengths = sum(float(p.payload["length"]) for p in dying)
        rows = state.rows + len(new.passages) - len(dying)
        length_sum = state.length_sum + float(lengths.sum(dtype=np.float64)) - dying_lengths
        average = length_sum / rows if rows and length_sum else 1.0
        ids = range(state.next_id, state.next_id + len(new.passages))
        weights = self._weights(terms, counts, lengths, average)
        self._upsert(
            self.passage_collection,
            (
                self._passage_point(i, p, v, t, w, float(n), gen)
                for i, p, v, t, w, n in zip(
                    ids, new.passages, new.vectors, terms, weights, lengths, strict=True
                )
            ),
        )
        self._upsert(
            self.document_collection,
            (self._document_point(d, gen, new) for d in new.notes),
        )
        deltas: Counter[int] = Counter()
        for t in terms:
            deltas.update(t.tolist())
        for p in dying:
            deltas.subtract(p.vector["bm25"].indices)
        state.next_id += len(new.passages)
        state.rows, state.length_sum = rows, length_sum
        for i in gone:
            state.counts.pop(i, None)
        for p in new.passages:
            state.counts[p.doc_id] = state.counts.get(p.doc_id, 0) + 1
        state.pending = None
        state.drop_points = [int(p.id) for p in dying]
        state.drop_documents = [_doc_point(i, self._gens[i]) for i in gone if i in self._gens]
        state.term_deltas = {str(t): n for t, n in deltas.items() if n}
        for i in gone:
            self._gens.pop(i, None)
        for doc_id in new.notes:
            self._gens[doc_id] = gen
        segments = {i: str(g) for i, g in self._gens.items()}
        documents = [{**r, "segment": segments[r["id"]]} for r in records]
        self._manifest = dataclasses.replace(
            self.manifest,
            documents=documents,
            passages=state.rows,
            indexed=indexed,
            updated=utc_now(),
        )
        self._write_manifest()
        self._finish()
        if self.location.edge:
            self.client.optimize()

    def _finish(self) -> None:
        """Complete what an update (this one, or one a crash interrupted) left:
        delete the points of a pending update that never went live; delete
        the dead points and count the terms of a live one."""
        state = self._state
        models = _models()
        if state.pending is not None:
            dead = models.Filter(
                must=[
                    models.FieldCondition(key="gen", match=models.MatchValue(value=state.pending))
                ]
            )
            for name in (self.passage_collection, self.document_collection):
                self.client.delete(name, points_selector=models.FilterSelector(filter=dead))
            state.pending = None
            self._write_manifest()
        if not (state.drop_points or state.drop_documents or state.term_deltas):
            return
        for name, ids in (
            (self.passage_collection, state.drop_points),
            (self.document_collection, state.drop_documents),
        ):
            for chunk in _chunks(ids, BATCH * 16):
                self.client.delete(name, points_selector=models.PointIdsList(points=chunk))
        self._add_terms(Counter({int(t): n for t, n in state.term_deltas.items()}))
        state.drop_points, state.drop_documents, state.term_deltas = [], [], {}
        self._write_manifest()

    # -- reading ----------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            raise StoreError(f"the Qdrant store {self._where()} holds no index")
        return self._manifest

    def candidates(
        self,
        vector: np.ndarray,
        terms: Sequence[str],
        mode: Mode,
        limit: int,
        only: frozenset[str] | None = None,
    ) -> Candidates:
        """Qdrant's `limit` nearest (HNSW on a server or Edge) and `limit`
        best by BM25, in one batch; then the points only one side found get
        the other side's exact score (`_score_missing`)."""
        models = _models()
        within = None if only is None else _of_documents(only)
        sparse = _query_vector(terms)
        requests: list[tuple[str, Any]] = []
        if mode != "lexical":
            requests.append(("dense", vector.tolist()))
        if mode != "dense" and sparse.indices:
            requests.append(("bm25", sparse))
        batch = [
            models.QueryRequest(
                query=query,
                using=name,
                limit=limit,
                filter=within,
                params=self._search_params(limit),
                with_payload=True,
            )
            for name, query in requests
        ]
        answers = self.client.query_batch_points(self.passage_collection, requests=batch)
        found: dict[str, dict[int, float]] = {"dense": {}, "bm25": {}}
        for (name, _), answer in zip(requests, answers, strict=True):
            for point in answer.points:
                if self._live(point.payload):
                    found[name][int(point.id)] = float(point.score)
                    self._remember(int(point.id), point.payload)
        dense, lexical = found["dense"], found["bm25"]
        ids = sorted(set(dense) | set(lexical))
        missing = [i for i in ids if i not in dense or (sparse.indices and i not in lexical)]
        if missing:
            self._score_missing(missing, vector, sparse, dense, lexical)
        return Candidates(
            np.array(ids, dtype=np.int64),
            np.array([dense.get(i, 0.0) for i in ids], dtype=np.float32),
            np.array([lexical.get(i, 0.0) for i in ids], dtype=np.float32),
        )

    def _score_missing(
        self,
        ids: list[int],
        vector: np.ndarray,
        sparse: Any,
        dense: dict[int, float],
        lexical: dict[int, float],
    ) -> None:
        """Fill `dense` and `lexical` for `ids`: the cosine from their stored
        vectors, BM25 from a sparse query kept to them (Qdrant scores it,
        with the collection's idf)."""
        models = _models()
        lacking = [i for i in ids if i not in dense]
        if lacking:
            points = self.client.retrieve(
                self.passage_collection, ids=lacking, with_vectors=["dense"]
            )
            rows = np.asarray([p.vector["dense"] for p in points], dtype=np.float32)
            for point, score in zip(points, (rows @ vector).tolist(), strict=True):
                self._remember(int(point.id), point.payload)
                dense[int(point.id)] = score
        lacking = [i for i in ids if i not in lexical]
        if lacking and sparse.indices:
            within = models.Filter(must=[models.HasIdCondition(has_id=lacking)])
            request = models.QueryRequest(
                query=sparse, using="bm25", limit=len(lacking), filter=within, with_payload=True
            )
            (answer,) = self.client.query_batch_points(self.passage_collection, requests=[request])
            for point in answer.points:
                lexical[int(point.id)] = float(point.score)

    def _remember(self, point_id: int, payload: dict[str, Any]) -> None:
        """Keep a found passage, so that `passages` does not read it again."""
        if len(self._seen) >= 4096:
            self._seen.clear()
        self._seen[point_id] = _passage(payload)

    def _search_params(self, limit: int) -> Any:
        """HNSW search breadth, for a server or Edge: qdrant-client's local
        mode searches exhaustively (and warns at any search parameter)."""
        if not self.location.url and not self.location.edge:
            return None
        return _models().SearchParams(hnsw_ef=max(self.settings.hnsw_ef_search, limit))

    def _live(self, payload: dict[str, Any]) -> bool:
        """A point of a live document, written by the update that holds it
        (not a replaced text's, nor an interrupted update's)."""
        return self._gens.get(payload["doc_id"]) == payload["gen"]

    def passages(self, ids: np.ndarray) -> list[Passage]:
        wanted = [int(i) for i in ids if int(i) not in self._seen]
        if wanted:
            for point in self.client.retrieve(self.passage_collection, ids=wanted):
                self._remember(int(point.id), point.payload)
        return [self._seen[int(i)] for i in ids]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        wanted = {term_id(t): t for t in terms}
        points = self.client.retrieve(self.term_collection, ids=list(wanted))
        df = {int(p.id): int(p.payload["df"]) for p in points}
        return {t: df[i] for i, t in wanted.items() if df.get(i, 0) > 0}, self._state.rows

    def sentences(self, doc_id: str) -> tuple[DocumentNotes, np.ndarray]:
        point_id = _doc_point(doc_id, self._gens[doc_id])
        (point,) = self.client.retrieve(
            self.document_collection, ids=[point_id], with_vectors=["sentences"]
        )
        notes = DocumentNotes.from_json(json.loads(point.payload["notes"]))
        rows = (point.vector or {}).get("sentences") or []
        dimension = self.manifest.build["model"]["dimension"]
        return notes, np.asarray(rows, dtype=np.float32).reshape(-1, dimension)

    def live_counts(self) -> dict[str, int]:
        return dict(self._state.counts)

    # -- the collections ---------------------------------------------------------

    def _where(self) -> str:
        return f"{self.location.url or self.location.path} ({self.location.collection})"

    def _read(self) -> Manifest | None:
        """The manifest and state, or None when the store holds no index."""
        if not self.client.collection_exists(self.document_collection):
            return None
        found = self.client.retrieve(self.document_collection, ids=[_MANIFEST_ID])
        if not found:
            return None
        payload = found[0].payload
        try:
            self._manifest = Manifest(**json.loads(payload["manifest"]))
            self._state = _State(**json.loads(payload["state"]))
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(
                f"the Qdrant store {self._where()} holds a manifest this version cannot read "
                f"({err}); rebuild it with `qa index --rebuild`"
            ) from err
        self._gens = {d["id"]: int(d["segment"]) for d in self._manifest.documents}
        return self._manifest

    def _write_manifest(self) -> None:
        models = _models()
        payload = {
            "manifest": json.dumps(asdict(self.manifest), ensure_ascii=False),
            "state": json.dumps(asdict(self._state)),
        }
        self.client.upsert(
            self.document_collection,
            points=[models.PointStruct(id=_MANIFEST_ID, vector={}, payload=payload)],
            wait=True,
        )

    def _create(self, dimension: int) -> None:
        """The three collections, empty (any previous ones dropped)."""
        models = _models()
        for name in (self.passage_collection, self.document_collection, self.term_collection):
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
        self.client.create_collection(
            self.passage_collection,
            vectors_config={
                "dense": models.VectorParams(
                    size=dimension,
                    distance=models.Distance.DOT,
                    hnsw_config=models.HnswConfigDiff(m=self.settings.hnsw_m),
                )
            },
            sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
            # One shard holds the whole collection's BM25 statistics: Qdrant
            # computes idf per shard, so more shards make idf approximate.
            shard_number=self.location.shards or None,
            replication_factor=self.location.replicas or None,
        )
        self.client.create_collection(
            self.document_collection,
            vectors_config={
                "sentences": models.VectorParams(
                    size=dimension,
                    distance=models.Distance.DOT,
                    multivector_config=models.MultiVectorConfig(
                        comparator=models.MultiVectorComparator.MAX_SIM
                    ),
                    hnsw_config=models.HnswConfigDiff(m=0),  # read by id, never searched
                    on_disk=True,  # 3.7 a passage: the largest part, and rarely read
                )
            },
        )
        self.client.create_collection(self.term_collection, vectors_config={})
        if self.location.url:  # the embedded form has no payload indexes
            for name in (self.passage_collection, self.document_collection):
                self.client.create_payload_index(name, "doc_id", models.PayloadSchemaType.KEYWORD)
                self.client.create_payload_index(name, "gen", models.PayloadSchemaType.INTEGER)

    def _upsert(self, collection: str, points: Iterable[Any]) -> None:
        for chunk in _chunks(points, BATCH):
            self.client.upsert(collection, points=chunk, wait=True)

    def _weights(
        self,
        terms: list[np.ndarray],
        counts: list[np.ndarray],
        lengths: np.ndarray,
        average: float,
    ) -> list[np.ndarray]:
        """Each passage's BM25 term part, tf / (tf + k1 (1 - b + b len / avgdl)):
        with Qdrant's idf and the question's term counts, the dot product is
        `qa.lexical`'s score."""
        k1, b = self.settings.bm25_k1, self.settings.bm25_b
        return [
            tf / (tf + k1 * ((1 - b) + b * float(n) / average))
            for tf, n in zip(counts, lengths, strict=True)
        ]

    def _passage_point(
        self,
        point_id: int,
        passage: Passage,
        vector: np.ndarray,
        terms: np.ndarray,
        weights: np.ndarray,
        length: float,
        gen: int,
    ) -> Any:
        models = _models()
        payload = {**asdict(passage), "gen": gen, "length": length}
        return models.PointStruct(
            id=point_id,
            vector={
                "dense": np.asarray(vector, dtype=np.float32).tolist(),
                "bm25": models.SparseVector(indices=terms.tolist(), values=weights.tolist()),
            },
            payload=payload,
        )

    def _document_point(self, doc_id: str, gen: int, new: Segment) -> Any:
        models = _models()
        rows = new.sentence_vectors[doc_id]
        vector = {"sentences": np.asarray(rows, dtype=np.float32).tolist()} if len(rows) else {}
        payload = {
            "doc_id": doc_id,
            "gen": gen,
            "notes": json.dumps(new.notes[doc_id].to_json(), ensure_ascii=False),
        }
        return models.PointStruct(id=_doc_point(doc_id, gen), vector=vector, payload=payload)

    def _points_of(self, doc_ids: set[str], vectors: bool = False) -> list[Any]:
        """The live passage points of `doc_ids`, with their vectors if asked."""
        if not doc_ids:
            return []
        within = _of_documents(doc_ids)
        points, offset = [], None
        while True:
            page, offset = self.client.scroll(
                self.passage_collection,
                scroll_filter=within,
                limit=BATCH * 4,
                offset=offset,
                with_vectors=vectors,
            )
            points.extend(p for p in page if self._live(p.payload))
            if offset is None:
                return points

    def _add_terms(self, deltas: Counter[int]) -> None:
        """Add `deltas` to the terms' passage counts (a term at 0 is dropped)."""
        models = _models()
        changed = [t for t, n in deltas.items() if n]
        for chunk in _chunks(changed, BATCH * 16):
            known = {
                int(p.id): p.payload for p in self.client.retrieve(self.term_collection, ids=chunk)
            }
            keep, drop = [], []
            for t in chunk:
                df = int(known.get(t, {}).get("df", 0)) + deltas[t]
                if df > 0:
                    keep.append(models.PointStruct(id=t, vector={}, payload={"df": df}))
                else:
                    drop.append(t)
            if keep:
                self.client.upsert(self.term_collection, points=keep, wait=True)
            if drop:
                self.client.delete(
                    self.term_collection, points_selector=models.PointIdsList(points=drop)
                )


def qdrant_build(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """The build settings of a Qdrant index: the files store's, with
    Qdrant's HNSW in place of the FAISS index type."""
    build = build_settings(settings, embedder)
    build["vectors"] = _vector_settings(settings)
    return build


def _vector_settings(settings: Settings) -> dict[str, Any]:
    """What shapes a Qdrant index's vectors (in place of the FAISS type)."""
    return {"store": "qdrant", "hnsw_m": settings.hnsw_m}


def _of_documents(doc_ids: Iterable[str]) -> Any:
    """A filter to the points of these documents."""
    models = _models()
    return models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=sorted(doc_ids)))]
    )


def _row_terms(block: Postings) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per passage of `block`: its terms' sparse ids (distinct; two terms
    with one id are summed) and their counts, from the term-major postings."""
    ids = np.array([term_id(t) for t in block.terms], dtype=np.int64)
    term_of = np.repeat(np.arange(len(block.terms)), np.diff(block.indptr))
    order = np.lexsort((ids[term_of], block.rows))
    rows, keys, counts = block.rows[order], ids[term_of][order], block.counts[order]
    n = block.size
    terms_out: list[np.ndarray] = []
    counts_out: list[np.ndarray] = []
    bounds = np.searchsorted(rows, np.arange(n + 1))
    for r in range(n):
        k, c = keys[bounds[r] : bounds[r + 1]], counts[bounds[r] : bounds[r + 1]]
        unique, first = np.unique(k, return_index=True)
        terms_out.append(unique)
        counts_out.append(np.add.reduceat(c, first) if len(c) else c)
    return terms_out, counts_out


def _query_vector(terms: Sequence[str]) -> Any:
    """A question's sparse vector: how often it says each term (a repeated
    term counts each time, as in `qa.lexical`)."""
    models = _models()
    counts: Counter[int] = Counter(term_id(t) for t in terms)
    return models.SparseVector(indices=list(counts), values=[float(n) for n in counts.values()])


def _passage(payload: dict[str, Any]) -> Passage:
    return Passage(
        str(payload["doc_id"]),
        int(payload["number"]),
        int(payload["start"]),
        int(payload["end"]),
        str(payload["text"]),
    )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
