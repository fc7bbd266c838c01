"""The store interface: the files store and Qdrant (embedded, local folder)
answer alike, and the Qdrant store grows, shrinks and survives a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.cli import QUESTIONS as QUESTIONS_FILE
from qa.cli import main
from qa.errors import IndexUpdateError, InputError, StoreError
from qa.evaluation import evaluate, load_questions
from qa.library import Upload
from qa.settings import StoreLocation
from qa.stores import export_store
from qa.stores.qdrant import QdrantStore, connect

QUESTIONS = (
    "Qui a lancé la French Tech ?",
    "Combien de salariés compte Microsoft à Toulouse ?",
    "Who is the mayor of Bègles?",
    "Quel est le budget du plan IA de l'Occitanie ?",
    "Où sont installées les start-up de La Cité ?",
)
ARTICLE = (
    "Zorbix s'installe à Albi\n\n"
    "La start-up Zorbix, spécialisée dans les drones agricoles, ouvre un bureau à Albi. "
    "Elle y emploie 12 salariés et prévoit d'en recruter 8 de plus d'ici 2026.\n"
).encode()


#: Qdrant's two embedded forms: qdrant-client's local mode and Qdrant Edge.
EMBEDDED = ("qdrant", "qdrant-edge")


@pytest.fixture(scope="module", params=EMBEDDED)
def qdrant_assistant(request, assistant, tmp_path_factory):
    """The session's index copied into an embedded Qdrant folder, then
    opened through `QA_STORE` as any entry point would."""
    target = f"{request.param}:{tmp_path_factory.mktemp('qdrant')}"
    export_store(assistant.retriever.store, target, assistant.settings)
    return Assistant.load(assistant.settings.with_(store=target))


def test_store_settings_name_three_forms():
    assert StoreLocation.parse("files").kind == "files"
    assert StoreLocation.parse("qdrant:/data/q") == StoreLocation(
        "qdrant", path="/data/q", collection="passages"
    )
    assert StoreLocation.parse("qdrant+http://node1:6333/news") == StoreLocation(
        "qdrant", url="http://node1:6333", collection="news"
    )
    assert StoreLocation.parse("qdrant+https://q.example:6333/news?shards=6&replicas=2") == (
        StoreLocation(
            "qdrant", url="https://q.example:6333", collection="news", shards=6, replicas=2
        )
    )
    assert StoreLocation.parse("qdrant-edge:/data/q") == StoreLocation(
        "qdrant", path="/data/q", collection="passages", edge=True
    )
    assert Settings.from_env({"QA_STORE": "qdrant:/tmp/x"}).store_location.path == "/tmp/x"
    with pytest.raises(InputError, match="shards=N"):
        Settings(store="qdrant+http://node1:6333/news?shards=0")
    for bad in (
        "qdrant:",
        "qdrant-edge:",
        "qdrant+http://node1:6333",
        "qdrant+http://node1:6333/a/b",
        "redis://x",
    ):
        with pytest.raises(InputError, match="qdrant:PATH"):
            Settings(store=bad)


def test_an_exported_index_opens_fresh_with_the_same_articles(assistant, qdrant_assistant):
    report = qdrant_assistant.report
    assert report.status == "fresh" and report.embedded == 0
    assert isinstance(qdrant_assistant.retriever.store, QdrantStore)
    assert qdrant_assistant.articles() == assistant.articles()


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_both_stores_rank_the_same_passages_with_the_same_scores(assistant, qdrant_assistant, mode):
    """Dense scores are the same cosines; BM25 sent as sparse vectors with
    Qdrant's IDF gives the project's own BM25 scores (same analyzer)."""
    for question in QUESTIONS:
        for only in (None, frozenset({"001_e069358ba42b4717.txt", "004_67b8fb8b68afd666.txt"})):
            _, want = assistant.retriever.search(question, mode, 5, only=only)
            _, got = qdrant_assistant.retriever.search(question, mode, 5, only=only)
            assert [h.passage for h in got] == [h.passage for h in want]
            for g, w in zip(got, want, strict=True):
                assert g.dense == pytest.approx(w.dense, abs=1e-5)
                assert g.lexical == pytest.approx(w.lexical, rel=1e-4, abs=1e-5)
        query = qdrant_assistant.retriever.analyze(question)
        assert query.weights == pytest.approx(assistant.retriever.analyze(question).weights)
        assert query.unknown == assistant.retriever.analyze(question).unknown


def test_the_evaluation_gives_the_same_answers_on_both_stores(assistant, qdrant_assistant):
    """The parity the issue asks for: answer@1 and answer@5 on the test
    split within one question of each other (here they are equal)."""
    questions = load_questions(QUESTIONS_FILE, "test")
    files = evaluate(assistant, questions, ["hybrid"]).modes[0]
    qdrant = evaluate(qdrant_assistant, questions, ["hybrid"]).modes[0]
    one = 1 / sum(q.answerable for q in questions)
    for metric in ("answer@1", "answer@5", "abstained_ok", "abstained_wrong"):
        assert abs(files.metrics[metric] - qdrant.metrics[metric]) <= one + 1e-9, metric
    assert [r.answered_first for r in files.results] == [r.answered_first for r in qdrant.results]


def _count(store: QdrantStore) -> int:
    return store.client.count(store.passage_collection, exact=True).count


@pytest.mark.parametrize("kind", EMBEDDED)
def test_the_qdrant_store_grows_shrinks_and_reopens(assistant, corpus_copy, tmp_path, kind):
    settings = assistant.settings.with_(corpus=corpus_copy, store=f"{kind}:{tmp_path / 'q'}")
    export_store(assistant.retriever.store, settings.store, settings)
    grown = Assistant.load(settings)
    before = grown.report.passages
    grown.add([Upload("Zorbix à Albi.txt", ARTICLE)])
    assert grown.report.status == "updated" and grown.report.embedded == 1
    answer = grown.ask("Combien de salariés emploie Zorbix ?")
    assert "12 salariés" in answer.excerpts[0].text
    store = grown.retriever.store
    assert _count(store) == store.manifest.passages == before + 1
    df, count = store.document_frequencies(["zorbix", "albi"])
    assert df == {"zorbix": 1, "albi": 1} and count == before + 1

    # A changed text: only its changed passage is embedded; the old one goes.
    grown.replace("Zorbix_a_Albi.txt", Upload("Zorbix à Albi.txt", ARTICLE.replace(b"12", b"15")))
    assert grown.report.embedded == 1
    assert "15 salariés" in grown.ask("Combien de salariés emploie Zorbix ?").excerpts[0].text
    assert _count(grown.retriever.store) == before + 1

    reopened = Assistant.load(settings)
    assert reopened.report.status == "fresh"
    assert [a.id for a in reopened.articles()] == [a.id for a in grown.articles()]
    reopened.remove("Zorbix_a_Albi.txt")
    store = reopened.retriever.store
    assert _count(store) == store.manifest.passages == before
    assert store.document_frequencies(["zorbix"]) == ({}, before)
    hits = reopened.retriever.search("Combien de salariés emploie Zorbix ?", "hybrid", 50)[1]
    assert hits and all(h.passage.doc_id != "Zorbix_a_Albi.txt" for h in hits)


@pytest.mark.parametrize("kind", EMBEDDED)
def test_an_update_interrupted_before_it_went_live_is_undone(
    assistant, corpus_copy, tmp_path, monkeypatch, kind
):
    """A crash after the new points are written but before the manifest
    makes them live: answers stay those of before, and the next open
    deletes the orphans."""
    settings = assistant.settings.with_(corpus=corpus_copy, store=f"{kind}:{tmp_path / 'q'}")
    export_store(assistant.retriever.store, settings.store, settings)
    held = Assistant.load(settings)
    before = held.report.passages
    real = QdrantStore._write_manifest
    calls = []

    def crash(self):
        calls.append(self)
        if len(calls) == 2:  # the first marks the update pending, the second makes it live
            raise OSError("killed")
        real(self)

    monkeypatch.setattr(QdrantStore, "_write_manifest", crash)
    with pytest.raises(IndexUpdateError, match="nothing was added"):
        held.add([Upload("Zorbix à Albi.txt", ARTICLE)])
    monkeypatch.setattr(QdrantStore, "_write_manifest", real)
    store = held.retriever.store
    assert _count(store) == before + 1  # the orphan is there...
    hits = held.retriever.search("Combien de salariés emploie Zorbix ?", "hybrid", 50)[1]
    assert all(h.passage.doc_id != "Zorbix_a_Albi.txt" for h in hits)  # ...but never found

    reopened = Assistant.load(settings)
    assert reopened.report.status == "fresh"
    assert _count(reopened.retriever.store) == before
    reopened.add([Upload("Zorbix à Albi.txt", ARTICLE)])
    assert "12 salariés" in reopened.ask("Combien de salariés emploie Zorbix ?").excerpts[0].text


@pytest.mark.parametrize(
    ("kind", "module"), [("qdrant", "qdrant_client"), ("qdrant-edge", "qdrant_edge")]
)
def test_without_the_package_the_error_says_what_to_install(monkeypatch, tmp_path, kind, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(StoreError, match="pip install"):
        connect(StoreLocation.parse(f"{kind}:{tmp_path}"))


def test_a_folder_another_process_holds_is_a_clear_error(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from qdrant_client import QdrantClient
                client = QdrantClient(path={str(tmp_path)!r})
                print("ready", flush=True)
                time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="cannot be opened"):
            connect(StoreLocation.parse(f"qdrant:{tmp_path}"))
    finally:
        holder.kill()
        holder.wait()


def test_an_edge_folder_another_process_holds_is_a_clear_error(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                from qdrant_client import models
                from qa.stores.edge import EdgeClient
                client = EdgeClient({str(tmp_path)!r})
                client.create_collection("passages", {{}}, {{"bm25": models.SparseVectorParams()}})
                print("ready", flush=True)
                time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        client = connect(StoreLocation.parse(f"qdrant-edge:{tmp_path}"))
        with pytest.raises(StoreError, match="cannot be opened"):
            client.retrieve("passages", ids=[1])
    finally:
        holder.kill()
        holder.wait()


def test_a_server_that_does_not_answer_is_a_clear_error(assistant):
    settings = assistant.settings.with_(store="qdrant+http://127.0.0.1:9/news")
    with pytest.raises(StoreError, match="did not answer"):
        Assistant.load(settings)


def test_cli_exports_then_answers_from_qdrant(capsys, index_dir, seeds, tmp_path):
    target = f"qdrant:{tmp_path / 'q'}"
    common = ["--corpus", str(seeds), "--index", str(index_dir)]
    assert main(["export", *common, "--to", target]) == 0
    assert "exported 5 documents" in capsys.readouterr().out
    assert main(["ask", *common, "--store", target, "--json", "Qui a lancé la French Tech ?"]) == 0
    out = capsys.readouterr().out
    assert '"abstained": false' in out and "French Tech" in out
    assert main(["export", *common, "--to", "files"]) == 2
    assert "Qdrant" in capsys.readouterr().err


def test_vectors_round_trip_through_qdrant(assistant, qdrant_assistant):
    doc_id = assistant.articles()[0].id
    notes, vectors = qdrant_assistant.retriever.store.sentences(doc_id)
    want_notes, want = assistant.retriever.store.sentences(doc_id)
    assert notes == want_notes
    np.testing.assert_allclose(vectors, want, atol=1e-6)
