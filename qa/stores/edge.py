"""Qdrant Edge (`qdrant-edge-py`) behind the few `QdrantClient` calls the
Qdrant store makes, so `QA_STORE=qdrant-edge:PATH` runs the same store on
Qdrant's own engine embedded in this process: HNSW, the IDF modifier, a
write-ahead log, no server.

qdrant-client's local mode (`qdrant:PATH`) scores every point in Python,
which is fine for tests and slow past a few thousand passages; Edge is the
server's Rust engine, one shard per collection, each in its own folder
under PATH. The store builds requests with `qdrant_client.models` (the
vocabulary both share); this module translates the ones it uses. Edge
builds its HNSW graph only when asked (`optimize`): the store asks after
each update, so searches between two updates use the graph.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from qa.errors import StoreError


def _edge() -> Any:
    try:
        import qdrant_edge
    except ImportError:
        raise StoreError(
            "QA_STORE names Qdrant Edge but qdrant-edge-py is not installed: "
            "pip install 'qa-articles[qdrant]'"
        ) from None
    return qdrant_edge


class EdgeClient:
    """Collections as Edge shards in sub-folders of `path`."""

    def __init__(self, path: str) -> None:
        self._edge = _edge()
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, Any] = {}

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is None:
            try:
                shard = self._shards[name] = self._edge.EdgeShard.load(str(self.path / name))
            except Exception as err:  # Edge raises plain Exceptions (a held WAL lock)
                raise StoreError(
                    f"the Qdrant Edge folder {self.path / name} cannot be opened: {err}"
                ) from err
        return shard

    # -- collections ------------------------------------------------------------

    def collection_exists(self, name: str) -> bool:
        return (self.path / name).is_dir()

    def delete_collection(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self.path / name, ignore_errors=True)

    def create_collection(
        self,
        name: str,
        vectors_config: dict[str, Any],
        sparse_vectors_config: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """A shard with the named dense (or multi-) vectors and sparse
        vectors asked for, and keyword and integer indexes on the payload
        fields searches filter on."""
        e = self._edge
        vectors = {}
        for vector, params in vectors_config.items():
            multi = None
            if params.multivector_config is not None:
                multi = e.MultiVectorConfig(comparator=e.MultiVectorComparator.MaxSim)
            m = 16 if params.hnsw_config is None else params.hnsw_config.m
            vectors[vector] = e.EdgeVectorParams(
                size=params.size,
                distance=e.Distance.Dot,
                multivector_config=multi,
                # Qdrant's defaults: below 10 000 KB of vectors a segment is scanned.
                hnsw_config=e.HnswIndexConfig(m=m, ef_construct=100, full_scan_threshold=10_000),
            )
        sparse = {
            vector: e.EdgeSparseVectorParams(modifier=e.Modifier.Idf)
            for vector in (sparse_vectors_config or {})
        }
        if not vectors and not sparse:  # Edge wants one; payload-only points never fill it
            sparse = {"unused": e.EdgeSparseVectorParams()}
        shard = self._shards[name] = e.EdgeShard.create(
            str(self.path / name), e.EdgeConfig(vectors=vectors, sparse_vectors=sparse)
        )
        shard.update(e.UpdateOperation.create_field_index("doc_id", e.PayloadSchemaType.Keyword))
        shard.update(e.UpdateOperation.create_field_index("gen", e.PayloadSchemaType.Integer))

    def optimize(self) -> None:
        """Build the HNSW graphs of what was written, and make it durable."""
        for shard in self._shards.values():
            shard.optimize()
            shard.flush()

    def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()

    # -- points -----------------------------------------------------------------

    def upsert(self, name: str, points: list[Any], wait: bool = True) -> None:
        e = self._edge
        converted = [
            e.Point(id=p.id, vector=self._vector(p.vector), payload=p.payload) for p in points
        ]
        self._shard(name).update(e.UpdateOperation.upsert_points(converted))

    def retrieve(
        self,
        name: str,
        ids: list[Any],
        with_payload: bool = True,
        with_vectors: bool | list[str] = False,
    ) -> list[Any]:
        return self._shard(name).retrieve(ids, with_payload, with_vectors)

    def delete(self, name: str, points_selector: Any) -> None:
        e = self._edge
        if hasattr(points_selector, "points"):
            operation = e.UpdateOperation.delete_points(list(points_selector.points))
        else:
            operation = e.UpdateOperation.delete_points_by_filter(
                self._filter(points_selector.filter)
            )
        self._shard(name).update(operation)

    def scroll(
        self,
        name: str,
        scroll_filter: Any = None,
        limit: int = 10,
        offset: Any = None,
        with_vectors: bool = False,
    ) -> tuple[list[Any], Any]:
        request = self._edge.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=self._filter(scroll_filter),
            with_payload=True,
            with_vector=with_vectors,
        )
        return self._shard(name).scroll(request)

    def count(self, name: str, exact: bool = True) -> Any:
        return SimpleNamespace(count=self._shard(name).count(self._edge.CountRequest(exact=exact)))

    def query_batch_points(self, name: str, requests: list[Any]) -> list[Any]:
        e = self._edge
        queries = [
            e.QueryRequest(
                limit=r.limit,
                query=e.Query.Nearest(self._query_vector(r.query), using=r.using),
                filter=self._filter(r.filter),
                with_payload=True,
                params=e.SearchParams(hnsw_ef=r.params.hnsw_ef) if r.params else None,
            )
            for r in requests
        ]
        answers = self._shard(name).query_batch(e.QueryBatchRequest(queries))
        return [SimpleNamespace(points=points) for points in answers]

    # -- translation --------------------------------------------------------------

    def _vector(self, vector: dict[str, Any]) -> dict[str, Any]:
        return {k: self._query_vector(v) for k, v in vector.items()}

    def _query_vector(self, vector: Any) -> Any:
        if hasattr(vector, "indices"):
            return self._edge.SparseVector(indices=list(vector.indices), values=list(vector.values))
        return vector

    def _filter(self, flt: Any) -> Any:
        """A `models.Filter` of `must` conditions: a payload field matching a
        value or any of several, or point ids."""
        if flt is None:
            return None
        e = self._edge
        must = []
        for condition in flt.must or []:
            if hasattr(condition, "has_id"):
                must.append(e.HasIdCondition(point_ids=set(condition.has_id)))
            elif hasattr(condition.match, "any"):
                must.append(
                    e.FieldCondition(key=condition.key, match=e.MatchAny(any=condition.match.any))
                )
            else:
                must.append(
                    e.FieldCondition(
                        key=condition.key, match=e.MatchValue(value=condition.match.value)
                    )
                )
        return e.Filter(must=must)
