import pytest

from qa import Assistant, Settings
from qa.errors import IndexCorruptedError
from qa.store import VECTORS, data_folder


def test_fresh_index_is_loaded_not_rebuilt(index_dir, seeds):
    assistant = Assistant.load(Settings(corpus=seeds, index=index_dir))
    assert assistant.report.status == "fresh"
    assert assistant.report.embedded == 0


def test_stale_index_re_embeds_only_the_changed_document(corpus_copy, tmp_path, monkeypatch):
    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    first = Assistant.load(settings).report
    assert first.status == "built"
    assert first.embedded == first.passages

    changed = corpus_copy / "002_ff58c89954683044.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\n\nLa Ville Rose compte aussi 12 licornes.\n",
        encoding="utf-8",
    )
    import qa.indexing

    analysed, encoded = [], []
    real_annotate, real_encode = qa.indexing.annotate, qa.embedding.Embedder.encode_passages

    def spy_annotate(docs):
        docs = list(docs)
        analysed.extend(d.id for d in docs)
        return real_annotate(docs)

    def spy_encode(self, texts, progress=False):
        encoded.extend(texts)
        return real_encode(self, texts, progress)

    monkeypatch.setattr(qa.indexing, "annotate", spy_annotate)
    monkeypatch.setattr(qa.embedding.Embedder, "encode_passages", spy_encode)
    assistant = Assistant.load(settings)
    report = assistant.report
    # spaCy reads only the changed article; among the sentences only the new
    # ones are embedded (after the changed passages). The comment counter
    # that ended the article is no longer at its end, so it is text now.
    assert analysed == ["002_ff58c89954683044.txt"]
    sentences = encoded[report.embedded :]
    assert sentences == ["0 commentaires:", "La Ville Rose compte aussi 12 licornes."]
    assert report.status == "updated"
    assert "002_ff58c89954683044.txt" in report.reason
    changed_passages = [
        p for p in assistant.retriever.index.passages if p.doc_id == "002_ff58c89954683044.txt"
    ]
    # Only passages whose text changed (the last ones of that article) are embedded.
    assert 0 < report.embedded <= len(changed_passages)
    assert report.reused == report.passages - report.embedded
    answer = assistant.ask("Combien de licornes compte la Ville Rose ?")
    assert "12 licornes" in answer.excerpts[0].text

    again = Assistant.load(settings).report
    assert again.status == "fresh"


def test_removed_and_added_documents_make_the_index_stale(corpus_copy, tmp_path):
    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    Assistant.load(settings)
    (corpus_copy / "004_67b8fb8b68afd666.txt").unlink()
    (corpus_copy / "new.md").write_text("# Nouvel article\n\nRien à signaler.", encoding="utf-8")
    report = Assistant.load(settings).report
    assert report.status == "updated"
    assert "added new.md" in report.reason
    assert "removed 004_67b8fb8b68afd666.txt" in report.reason
    assert report.embedded == 1


def test_changed_chunking_settings_rebuild(corpus_copy, tmp_path):
    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    Assistant.load(settings)
    report = Assistant.load(settings.with_(passage_chars=300)).report
    assert report.status == "updated"
    assert "chunking" in report.reason


def test_corrupted_index_is_an_error_until_rebuilt(corpus_copy, tmp_path):
    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    Assistant.load(settings)
    (data_folder(tmp_path / "index") / VECTORS).write_bytes(b"garbage")
    with pytest.raises(IndexCorruptedError, match=r"vectors\.faiss.*qa index --rebuild"):
        Assistant.load(settings)
    report = Assistant.load(settings, rebuild=True).report
    assert report.status == "built"
    assert Assistant.load(settings).report.status == "fresh"


def test_sentence_vectors_stay_with_their_sentences_when_text_is_inserted(corpus_copy, tmp_path):
    """Old sentence offsets point into the old text: reuse must read the old
    sentences, not the new text at old offsets."""
    import numpy as np

    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    Assistant.load(settings)
    changed = corpus_copy / "004_67b8fb8b68afd666.txt"
    text = changed.read_text(encoding="utf-8")
    title, rest = text.split("\n", 1)
    changed.write_text(f"{title}\n\nUn paragraphe ajouté en tête.\n{rest}", encoding="utf-8")
    assistant = Assistant.load(settings)
    stored = assistant.sentences["004_67b8fb8b68afd666.txt"]
    doc = assistant.documents["004_67b8fb8b68afd666.txt"]
    texts = [doc.text[s.start : s.end] for s in stored.notes.sentences]
    fresh = assistant.embedder.encode_passages(texts)
    assert np.allclose(stored.vectors, fresh, atol=1e-4)


def test_a_save_by_another_process_while_loading_is_not_corruption(
    index_dir, seeds, tmp_path, monkeypatch
):
    """Another process (`qa add` beside the page) saves the index between
    this one reading the manifest and reading the files it names, and
    deletes them: the load reads the new manifest and succeeds. A file
    damaged for real is still an error."""
    import shutil

    import qa.indexing
    from qa.store import load_index, read_manifest, save_index

    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    stored = load_index(index, read_manifest(index))
    real, calls = qa.indexing.load_index, []

    def raced(folder, manifest):
        calls.append(manifest.data)
        if len(calls) == 1:
            save_index(folder, stored)  # the other process: new folder, old one deleted
        return real(folder, manifest)

    monkeypatch.setattr(qa.indexing, "load_index", raced)
    assistant = Assistant.load(Settings(corpus=seeds, index=index))
    assert assistant.report.status == "fresh"
    assert len(calls) == 2 and calls[0] != calls[1]
    assert "French Tech" in assistant.ask("Qui a lancé la French Tech ?").excerpts[0].text

    monkeypatch.undo()
    (data_folder(index) / VECTORS).write_bytes(b"damaged")
    with pytest.raises(IndexCorruptedError, match="sha256"):
        Assistant.load(Settings(corpus=seeds, index=index))
