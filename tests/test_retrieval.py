"""Candidate pools, the FAISS index switch and its setting."""

import faiss
import numpy as np
import pytest

from qa import Assistant, Settings
from qa.errors import InputError
from qa.retrieval import Retriever
from qa.vectors import new_vector_index, vector_index_kind

QUESTIONS = [
    "Quelle est la surface du nouveau bâtiment de Microsoft à Toulouse ?",
    "Qui a lancé la French Tech ?",
    "Combien de start-up ont été accompagnées ?",
]


def test_auto_switches_to_hnsw_above_the_threshold():
    settings = Settings()
    assert settings.vector_index_for(settings.flat_max_passages) == "flat"
    assert settings.vector_index_for(settings.flat_max_passages + 1) == "hnsw"
    assert Settings(vector_index="flat").vector_index_for(10**9) == "flat"
    assert Settings(vector_index="hnsw").vector_index_for(1) == "hnsw"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vector_index": "ivfpq"}, "unknown vector_index"),
        ({"ivf_nprobe": 0}, "ivf_nprobe"),
        ({"threads": -1}, "threads"),
        ({"hnsw_ef_search": 0}, "hnsw_ef_search"),
        ({"flat_max_passages": 0}, "flat_max_passages"),
    ],
)
def test_bad_index_settings_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        Settings(**change)


@pytest.mark.parametrize(("setting", "kind"), [("ivf", "ivf"), ("auto", "hnsw")])
def test_approximate_index_finds_what_the_flat_one_finds(assistant, seeds, tmp_path, setting, kind):
    settings = Settings(
        corpus=seeds, index=tmp_path / "index", vector_index=setting, flat_max_passages=10
    )
    approximate = Assistant.load(settings)
    vectors = approximate.retriever.store.stored.vectors
    assert vector_index_kind(vectors) == kind
    # Once saved, the graph is searched mapped from its file; nothing in memory.
    graph = vectors.base
    assert graph is not None and vectors.covered == vectors.ntotal
    assert vector_index_kind(vectors.tail) == kind and vectors.tail.ntotal == 0
    if kind == "hnsw":
        assert graph.hnsw.efSearch >= settings.candidates
    else:
        assert graph.nlist == 5  # about sqrt(27 passages)
        assert graph.nprobe == 5  # ivf_nprobe, capped at the number of lists
    for question in QUESTIONS:
        got, want = approximate.ask(question), assistant.ask(question)
        assert [e.text for e in got.excerpts] == [e.text for e in want.excerpts]
        kept = approximate.ask(question, documents=[SELECTED[0]])
        assert {e.citation.doc_id for e in (*kept.excerpts, *kept.closest)} == {SELECTED[0]}
    reloaded = Assistant.load(settings)
    assert reloaded.report.status == "fresh"
    assert vector_index_kind(reloaded.retriever.store.stored.vectors) == kind

    # Back to exact search: the index is stale, but no passage is re-embedded.
    flat = Assistant.load(settings.with_(vector_index="flat"))
    assert flat.report.status == "updated"
    assert "vectors" in flat.report.reason
    assert flat.report.embedded == 0
    assert vector_index_kind(flat.retriever.store.stored.vectors) == "flat"


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_a_small_candidate_pool_keeps_the_top_of_the_exhaustive_ranking(assistant, mode):
    retriever = assistant.retriever
    assert len(retriever.store.stored.passages) > 5
    for question in QUESTIONS:
        _, pooled = retriever.search(question, mode, 5)
        _, full = retriever.search(question, mode, len(retriever.store.stored.passages))
        assert [h.passage for h in pooled] == [h.passage for h in full[:5]]


def test_pooled_hybrid_hits_carry_exact_scores(assistant):
    retriever = assistant.retriever
    n = len(retriever.store.stored.passages)
    for question in QUESTIONS:
        _, pooled = retriever.search(question, "hybrid", 5)
        _, full = retriever.search(question, "hybrid", n)
        exact = {h.passage: (h.dense, h.lexical) for h in full}
        assert len(pooled) == 5
        for hit in pooled:
            assert hit.dense == pytest.approx(exact[hit.passage][0], abs=1e-5)
            assert hit.lexical == pytest.approx(exact[hit.passage][1], abs=1e-5)
        assert pooled[0].passage == full[0].passage


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_recall_on_clustered_vectors(kind):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64))
    vectors = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[:100] + 0.05 * rng.normal(size=(100, 64)).astype(np.float32)
    exact = new_vector_index(vectors, "flat")
    approx = new_vector_index(vectors, kind, hnsw_m=16)
    if kind == "hnsw":
        approx.hnsw.efSearch = 64
    else:
        assert approx.nlist == 71  # about sqrt(5000)
        approx.nprobe = 8
    _, want = exact.search(queries, 10)
    _, got = approx.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall > 0.9
    assert isinstance(approx, faiss.IndexHNSWFlat if kind == "hnsw" else faiss.IndexIVFFlat)
    assert np.array_equal(approx.reconstruct_batch(np.arange(10)), vectors[:10])


SELECTED = ("001_e069358ba42b4717.txt", "004_67b8fb8b68afd666.txt")


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_a_selection_is_searched_on_its_own(assistant, mode):
    """Kept to two articles, a search returns their passages only, ranked as
    the whole collection's ranking ranks them (FAISS searched the selection
    itself, not what is left of the collection's top)."""
    retriever = assistant.retriever
    passages = retriever.store.stored.passages
    allowed = np.array([p.doc_id in SELECTED for p in passages])
    assert 5 < allowed.sum() < len(passages)
    for question in QUESTIONS:
        _, kept = retriever.search(question, mode, 5, only=frozenset(SELECTED))
        _, full = retriever.search(question, mode, len(passages))
        assert kept and {h.passage.doc_id for h in kept} <= set(SELECTED)
        if mode != "hybrid":  # hybrid scores are normalised over the pool
            want = [h.passage for h in full if h.passage.doc_id in SELECTED][:5]
            assert [h.passage for h in kept] == want


def test_selection_by_article_and_date(assistant):
    question = "Combien d'entreprises accueille la Cité numérique ?"
    dated = "003_e1b8b1c84c49c586.txt"  # "date 2019-09"
    assert assistant.select() is None
    assert assistant.select(documents=list(SELECTED)) == frozenset(SELECTED)
    assert assistant.select(since="2019-09-15") == {dated}
    assert assistant.select(since="2019", until="2019-09-01") == {dated}
    answer = assistant.ask(question, documents=[SELECTED[1]])
    assert {e.citation.doc_id for e in (*answer.excerpts, *answer.closest)} == {SELECTED[1]}
    assert (
        assistant.ask(question, since="2019-01", until="2019-12").excerpts[0].citation.doc_id
        == dated
    )
    for kwargs, message in [
        ({"documents": ["../etc/passwd"]}, "no article"),
        ({"since": "15/09/2019"}, "YYYY"),
        ({"until": "2019-13"}, "YYYY"),
        ({"since": "2020"}, "dated within"),
        ({"documents": [SELECTED[0]], "until": "2030"}, "dated within"),
    ]:
        with pytest.raises(InputError, match=message):
            assistant.ask(question, **kwargs)


def test_retriever_on_an_empty_pool_returns_no_hits(assistant):
    retriever: Retriever = assistant.retriever
    _, hits = retriever.search("zzzz qqqq", "lexical", 5)
    assert hits == []
