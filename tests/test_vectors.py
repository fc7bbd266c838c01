"""The dense index: a saved graph mapped from its file, and an in-memory tail."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.store import atomic_fill
from qa.vectors import VectorIndex, new_vector_index

DIMENSION = 16


def _rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _exact(rows: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray) -> list[int]:
    scores = np.where(allowed, rows @ query, -np.inf)
    return list(np.argsort(-scores, kind="stable")[:k])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_a_mapped_graph_and_its_tail_search_as_one_index(tmp_path, kind):
    rows = _rows(300, 0)
    path = tmp_path / "graph.faiss"
    faiss.write_index(new_vector_index(rows[:200], kind, hnsw_m=16), str(path))
    index = VectorIndex.mapped(path)
    # Exhaustive breadth, so the approximate search must equal the exact one.
    index.set_breadth(ef_search=400, nprobe=1000)
    index.add(rows[200:])
    assert (index.covered, index.ntotal, index.tail.ntotal) == (200, 300, 100)
    assert index.base.ntotal == 200  # the mapped base is never written to
    assert index.kind == kind

    assert np.array_equal(
        index.reconstruct_batch(np.array([299, 3, 200, 199])), rows[[299, 3, 200, 199]]
    )
    assert np.array_equal(index.reconstruct_n(190, 20), rows[190:210])

    allowed = np.random.default_rng(1).random(300) < 0.5
    for query in _rows(5, 2):
        scores, found = index.search(query, 10)
        assert list(found) == _exact(rows, query, 10, np.ones(300, dtype=bool))
        assert np.allclose(scores, rows[found] @ query, atol=1e-5)
        _, kept = index.search(query, 10, allowed)
        assert list(kept) == _exact(rows, query, 10, allowed)

    # Only tail rows allowed, or none at all.
    only_tail = np.arange(300) >= 250
    _, found = index.search(rows[260], 3, only_tail)
    assert found[0] == 260 and set(found) <= set(range(250, 300))
    _, none = index.search(rows[0], 3, np.zeros(300, dtype=bool))
    assert len(none) == 0


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "flat"])
def test_saving_writes_base_and_tail_as_one_graph_and_maps_it(tmp_path, kind):
    rows = _rows(120, 3)
    index = VectorIndex(new_vector_index(rows[:80], kind, hnsw_m=16))
    assert index.base is None  # built here, held in memory until saved
    index.save(tmp_path / "first.faiss", atomic_fill)
    assert (index.covered, index.tail.ntotal) == (80, 0)
    index.add(rows[80:])
    index.save(tmp_path / "second.faiss", atomic_fill)
    assert (index.covered, index.tail.ntotal, index.ntotal) == (120, 0, 120)
    assert np.array_equal(index.reconstruct_n(0, 120), rows)
    again = VectorIndex.mapped(tmp_path / "second.faiss")
    assert again.ntotal == 120 and again.kind == kind
    # No temporary file is left beside the graphs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.faiss", "second.faiss"]


def test_a_failed_graph_write_leaves_the_index_as_it_was(tmp_path):
    rows = _rows(50, 4)
    index = VectorIndex(new_vector_index(rows, "hnsw", hnsw_m=16))

    def failing(path, fill):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        index.save(tmp_path / "graph.faiss", failing)
    assert index.base is None and index.ntotal == 50
    assert np.array_equal(index.reconstruct_n(0, 50), rows)
