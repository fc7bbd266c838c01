import pytest

from qa import Assistant, Settings
from qa.errors import IndexCorruptedError
from qa.indexing import _sentence_key, embed_sentences, why_stale
from qa.store import MANIFEST, VECTORS, read_manifest


def _segment(index, number=0):
    """The folder of segment `number` of the index in `index`."""
    return index / read_manifest(index).segments[number]["name"]


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
    # ones are embedded (after the changed passages), each alone and after
    # the sentence before it. The comment counter that ended the article is
    # no longer at its end, so it is text now.
    assert analysed == ["002_ff58c89954683044.txt"]
    sentences = encoded[report.embedded :]
    new = ["0 commentaires:", "La Ville Rose compte aussi 12 licornes."]
    before = "Toulouse espère donc être parmi les premières métropoles labellisées, fin octobre."
    assert sentences == [*new, f"{before} {new[0]}", f"{new[0]} {new[1]}"]
    assert report.status == "updated"
    assert "002_ff58c89954683044.txt" in report.reason
    changed_passages = [
        p
        for p in assistant.retriever.store.stored.live_passages()
        if p.doc_id == "002_ff58c89954683044.txt"
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


def test_a_setting_only_the_saved_index_has_is_named_as_the_reason():
    from qa.store import FORMAT_VERSION, Manifest

    saved = Manifest(FORMAT_VERSION, {"model": {"name": "m"}, "newer": 1}, [], 0, [])
    assert why_stale(saved, {"model": {"name": "m"}}, []) == "settings changed: newer"
    assert why_stale(saved, {"model": {"name": "n"}, "newer": 1}, []) == "settings changed: model"


def test_corrupted_index_is_an_error_until_rebuilt(corpus_copy, tmp_path):
    settings = Settings(corpus=corpus_copy, index=tmp_path / "index")
    Assistant.load(settings)
    (_segment(tmp_path / "index") / VECTORS).write_bytes(b"garbage")
    with pytest.raises(IndexCorruptedError, match=r"vectors\.npy.*qa index --rebuild"):
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
    pairs = list(zip(["", *texts[:-1]], texts, strict=True))
    fresh = embed_sentences(pairs, assistant.embedder, {})
    assert np.allclose(stored.vectors, fresh, atol=1e-4)
    # Each is the mean of the sentence read alone and after the one before.
    alone = assistant.embedder.encode_passages(texts[1:2])[0]
    read_on = assistant.embedder.encode_passages([f"{texts[0]} {texts[1]}"])[0]
    assert np.allclose(stored.vectors[1], (alone + read_on) / 2, atol=1e-4)


def test_a_sentence_is_read_alone_and_after_the_one_before_and_a_first_one_once():
    """`embed_sentences` in one encoding call: every sentence alone, then each
    after the sentence before it; an article's first has nothing before it,
    so its one reading is its vector. A vector already known is reused."""
    import numpy as np

    class Recording:
        dimension = 2

        def __init__(self):
            self.calls: list[list[str]] = []

        def encode_passages(self, texts, progress=False):
            self.calls.append(list(texts))
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    embedder = Recording()
    pairs = [("", "Un."), ("Un.", "Deux."), ("Deux.", "Trois.")]
    vectors = embed_sentences(pairs, embedder, {})
    assert embedder.calls == [["Un.", "Deux.", "Trois.", "Un. Deux.", "Deux. Trois."]]
    assert vectors.tolist() == [[3, 1], [(5 + 9) / 2, 1], [(6 + 12) / 2, 1]]
    known = {_sentence_key(*pair): v for pair, v in zip(pairs, vectors, strict=True)}
    embedder.calls.clear()
    again = embed_sentences([*pairs, ("Trois.", "Quatre.")], embedder, known)
    assert embedder.calls == [["Quatre.", "Trois. Quatre."]]
    assert again[:3].tolist() == vectors.tolist()


def test_a_save_by_another_process_while_loading_is_not_corruption(
    index_dir, seeds, tmp_path, monkeypatch
):
    """Another process (`qa add` beside the page) saves the index between
    this one reading the manifest and reading the files it names, and
    deletes them: the load reads the new manifest and succeeds. A file
    damaged for real is still an error."""
    import shutil

    import qa.indexing
    from qa.indexing import compact
    from qa.store import load_index, save_index

    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    stored = load_index(index, read_manifest(index))
    real, calls = qa.indexing.load_index, []

    def raced(folder, manifest):
        calls.append(manifest.segments[0]["name"])
        if len(calls) == 1:  # the other process: a new segment, the old one deleted
            save_index(folder, compact(stored, Settings()))
        return real(folder, manifest)

    monkeypatch.setattr(qa.indexing, "load_index", raced)
    assistant = Assistant.load(Settings(corpus=seeds, index=index))
    assert assistant.report.status == "fresh"
    assert len(calls) == 2 and calls[0] != calls[1]
    assert "French Tech" in assistant.ask("Qui a lancé la French Tech ?").excerpts[0].text

    monkeypatch.undo()
    (_segment(index) / VECTORS).write_bytes(b"damaged")
    with pytest.raises(IndexCorruptedError, match="sha256"):
        Assistant.load(Settings(corpus=seeds, index=index))


NEW_ARTICLE = (
    "Un laboratoire de robotique ouvre à Albi\n\n"
    "Le laboratoire Robotarn ouvrira ses portes à Albi en mars, avec 35 chercheurs "
    "venus de l'école des Mines.\n\nIl sera dirigé par Jeanne Falco."
)


def _files(folder):
    """Each file under `folder` with its inode and modification time."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def _same_answers(left, right, questions):
    for question in questions:
        a, b = left.ask(question), right.ask(question)
        assert [(e.citation.doc_id, e.text) for e in a.excerpts] == [
            (e.citation.doc_id, e.text) for e in b.excerpts
        ], question
        assert a.abstained == b.abstained
        for x, y in zip(a.excerpts, b.excerpts, strict=True):
            assert x.scores.dense == pytest.approx(y.scores.dense, abs=1e-5)
            assert x.scores.lexical == pytest.approx(y.scores.lexical, rel=1e-5)


QUESTIONS = [
    "Combien de chercheurs compte le laboratoire Robotarn ?",
    "Qui dirigera le laboratoire d'Albi ?",
    "Combien d'entreprises à la Cité numérique ?",
    "Quel est le budget du plan IA de l'Occitanie ?",
    "Who is the mayor of Bègles?",
]


def test_adding_an_article_appends_a_segment_and_rewrites_nothing(corpus_copy, tmp_path):
    index = tmp_path / "index"
    settings = Settings(corpus=corpus_copy, index=index)
    Assistant.load(settings)
    first = _segment(index)
    before = _files(first)
    (corpus_copy / "robotarn.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    assistant = Assistant.load(settings)
    report = assistant.report
    assert report.status == "updated" and report.reason == "added robotarn.txt"
    segments = read_manifest(index).segments
    assert len(segments) == 2 and segments[1]["passages"] == report.embedded == 1
    assert _files(first) == before, "the first segment's files are neither rewritten nor moved"
    assert "35 chercheurs" in assistant.ask(QUESTIONS[0]).excerpts[0].text
    fresh = Assistant.load(Settings(corpus=corpus_copy, index=tmp_path / "fresh"))
    _same_answers(assistant, fresh, QUESTIONS)
    assert Assistant.load(settings).report.status == "fresh"


def test_replaced_text_is_dead_until_compaction(corpus_copy, tmp_path, monkeypatch):
    import qa.indexing

    index = tmp_path / "index"
    settings = Settings(corpus=corpus_copy, index=index)
    Assistant.load(settings)
    article = corpus_copy / "002_ff58c89954683044.txt"
    text = article.read_text(encoding="utf-8")
    assert "Ville Rose" in text
    article.write_text(text.replace("Ville Rose", "Cité des Violettes"), encoding="utf-8")
    assistant = Assistant.load(settings)
    stored = assistant.retriever.store.stored
    dead = [p for p, alive in zip(stored.passages, stored.live, strict=True) if not alive]
    assert dead and all(p.doc_id == article.name for p in dead)
    assert any("Ville Rose" in p.text for p in dead)
    assert stored.manifest.passages == int(stored.live.sum()) < len(stored.passages)
    for mode in ("lexical", "dense", "hybrid"):
        answer = assistant.ask("Ville Rose", mode=mode)
        shown = [*answer.excerpts, *answer.closest]
        assert all("Ville Rose" not in e.text for e in shown), "a dead row was searched"
    listed = {a.id: a.passages for a in assistant.articles()}
    assert listed[article.name] == len([p for p in dead if p.doc_id == article.name])

    monkeypatch.setattr(qa.indexing, "COMPACT_DEAD_SHARE", 0.0)
    (corpus_copy / "robotarn.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    compacted = Assistant.load(settings)
    assert compacted.report.embedded == 1, "compaction reuses every stored vector"
    stored = compacted.retriever.store.stored
    assert stored.live.all() and len(read_manifest(index).segments) == 1
    assert sorted(p.name for p in index.iterdir()) == sorted(
        [".writer.lock", MANIFEST, read_manifest(index).segments[0]["name"]]
    )
    monkeypatch.undo()
    fresh = Assistant.load(Settings(corpus=corpus_copy, index=tmp_path / "fresh"))
    _same_answers(compacted, fresh, QUESTIONS)


def test_many_small_updates_merge_the_newest_segments(corpus_copy, tmp_path, monkeypatch):
    import qa.indexing

    monkeypatch.setattr(qa.indexing, "MAX_SEGMENTS", 2)
    index = tmp_path / "index"
    settings = Settings(corpus=corpus_copy, index=index)
    Assistant.load(settings)
    first = _segment(index)
    before = _files(first)
    for n in range(3):
        (corpus_copy / f"note{n}.txt").write_text(
            f"Brève numéro {n}\n\nLa brève {n} annonce {n + 7} recrutements à Castres.",
            encoding="utf-8",
        )
        report = Assistant.load(settings).report
        assert report.embedded == 1
        assert len(read_manifest(index).segments) <= 2
    assert _files(first) == before, "merging the newest segments leaves the first alone"
    assistant = Assistant.load(settings)
    assert assistant.report.status == "fresh"
    answer = assistant.ask("Combien de recrutements annonce la brève 2 ?")
    assert "9 recrutements" in answer.excerpts[0].text


def test_an_hnsw_graph_is_saved_once_and_extended(corpus_copy, tmp_path, monkeypatch):
    import qa.store

    index = tmp_path / "index"
    settings = Settings(corpus=corpus_copy, index=index, vector_index="hnsw")
    built = Assistant.load(settings).report
    graph = read_manifest(index).ann
    assert graph["rows"] == built.passages and (index / graph["file"]).is_file()
    (corpus_copy / "robotarn.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    updated = Assistant.load(settings)
    assert read_manifest(index).ann == graph, "a small update does not rewrite the graph"
    vectors = updated.retriever.store.stored.vectors
    assert vectors.ntotal == built.passages + 1
    # The saved graph is mapped, untouched; the new row is in the in-memory tail.
    assert (vectors.covered, vectors.tail.ntotal) == (built.passages, 1)
    assert "35 chercheurs" in updated.ask(QUESTIONS[0], mode="dense").excerpts[0].text
    reloaded = Assistant.load(settings)
    assert reloaded.report.status == "fresh"
    vectors = reloaded.retriever.store.stored.vectors
    assert (vectors.covered, vectors.tail.ntotal) == (built.passages, 1)
    assert "35 chercheurs" in reloaded.ask(QUESTIONS[0], mode="dense").excerpts[0].text

    monkeypatch.setattr(qa.store, "ANN_TAIL_ROWS", 0)
    (corpus_copy / "other.txt").write_text("Autre brève\n\nRien de neuf à Rodez.", encoding="utf-8")
    rewritten = Assistant.load(settings)
    graph2 = read_manifest(index).ann
    assert graph2["rows"] == built.passages + 2 and not (index / graph["file"]).exists()
    # Base and tail were written as one graph, which is now what is mapped.
    vectors = rewritten.retriever.store.stored.vectors
    assert (vectors.covered, vectors.tail.ntotal) == (built.passages + 2, 0)
    assert "35 chercheurs" in rewritten.ask(QUESTIONS[0], mode="dense").excerpts[0].text


def test_a_graph_ending_inside_a_merged_segment_still_loads(corpus_copy, tmp_path, monkeypatch):
    import qa.indexing
    import qa.store

    index = tmp_path / "index"
    settings = Settings(corpus=corpus_copy, index=index, vector_index="hnsw")
    built = Assistant.load(settings).report
    monkeypatch.setattr(qa.store, "ANN_TAIL_ROWS", 0)
    monkeypatch.setattr(qa.store, "ANN_TAIL_SHARE", 0.0)
    (corpus_copy / "robotarn.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    Assistant.load(settings)
    assert read_manifest(index).ann["rows"] == built.passages + 1
    monkeypatch.setattr(qa.store, "ANN_TAIL_ROWS", 10**9)
    monkeypatch.setattr(qa.indexing, "MAX_SEGMENTS", 2)
    for n in range(2):
        (corpus_copy / f"note{n}.txt").write_text(
            f"Brève {n}\n\nLa brève {n} annonce {n + 7} recrutements à Castres.", encoding="utf-8"
        )
        Assistant.load(settings)
    manifest = read_manifest(index)
    starts = [0]
    for segment in manifest.segments:
        starts.append(starts[-1] + segment["passages"])
    assert manifest.ann["rows"] not in starts, "the graph ends inside the merged segment"
    assistant = Assistant.load(settings)
    assert assistant.report.status == "fresh"
    assert assistant.retriever.store.stored.vectors.ntotal == built.passages + 3
    assert (
        "8 recrutements"
        in assistant.ask("Combien de recrutements annonce la brève 1 ?").excerpts[0].text
    )


def test_a_long_build_goes_in_steps_changed_documents_first(documents):
    from qa.indexing import build_steps

    docs = tuple(documents)
    assert build_steps(docs, {}, 10) == [docs]
    steps = build_steps(docs, {}, 2)
    assert [len(s) for s in steps] == [2, 4, 5] and steps[-1] == docs
    before = {d.id: (d.sha256, d.title) for d in docs[:3]}
    before[docs[2].id] = ("changed", docs[2].title)
    steps = build_steps(docs, before, 1)
    # Two unchanged documents stay throughout; the changed one comes first.
    assert [{d.id for d in s} - set(before) for s in steps] == [
        set(),
        {docs[3].id},
        {docs[3].id, docs[4].id},
    ]
    assert all(docs[2].id in {d.id for d in s} for s in steps[1:]) and docs[2] in steps[0]


@pytest.mark.parametrize("store", ["files", "qdrant-edge"])
def test_an_interrupted_build_resumes_from_its_last_step(
    assistant, corpus_copy, tmp_path, monkeypatch, store
):
    """A build saved every two articles, killed in its second step: the next
    start embeds only what was not saved, and answers as a whole build."""
    import qa.embedding

    target = "files" if store == "files" else f"{store}:{tmp_path / 'q'}"
    settings = assistant.settings.with_(
        corpus=corpus_copy, index=tmp_path / "index", store=target, build_step=2
    )
    real, calls = qa.embedding.Embedder.encode_passages, []

    def dies_in_step_two(self, texts, progress=False):
        calls.append(len(texts))
        if len(calls) == 3:  # step one embedded its passages, then its sentences
            raise KeyboardInterrupt
        return real(self, texts, progress)

    monkeypatch.setattr(qa.embedding.Embedder, "encode_passages", dies_in_step_two)
    with pytest.raises(KeyboardInterrupt):
        Assistant.load(settings)
    monkeypatch.setattr(qa.embedding.Embedder, "encode_passages", real)
    resumed = Assistant.load(settings)
    assert resumed.report.status == "updated"
    assert 0 < resumed.report.embedded < resumed.report.passages
    assert resumed.report.embedded + calls[0] == resumed.report.passages

    def summary(articles):
        return [(a.id, a.passages, a.sha256) for a in articles]

    assert summary(resumed.articles()) == summary(assistant.articles())
    question = "Combien d'entreprises accueille la Cité numérique ?"
    assert [e.text for e in resumed.ask(question).excerpts] == [
        e.text for e in assistant.ask(question).excerpts
    ]
