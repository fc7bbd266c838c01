"""Adding and removing articles: safe names, bad files refused with nothing
written, and the index following with only the new passages embedded."""

import shutil
from pathlib import Path

import pytest

from qa import Assistant, IndexUpdateError, InputError, Settings
from qa.corpus import load_corpus
from qa.indexing import consistent
from qa.library import Upload, add_articles, read_uploads, remove_article, safe_name
from qa.store import read_manifest

ARTICLE = (
    "La start-up Zorbix s'installe à Albi\n\n"
    "La jeune entreprise Zorbix, spécialisée dans les capteurs agricoles, a annoncé lundi "
    "son installation à Albi. Elle emploie 12 salariés et prévoit d'en recruter 30 d'ici "
    "2027. Sa fondatrice, Léa Marchand, a levé 2 millions d'euros.\n"
).encode()


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("Mon article été.TXT", "Mon_article_ete.txt"),
        ("page.html", "page.html"),
        ("  notes.md", "notes.md"),
        ("é.txt", "e.txt"),
        ("«».txt", "article.txt"),
    ],
)
def test_names_are_made_safe(name, saved):
    assert safe_name(name) == saved


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../etc/passwd.txt", "holds a path"),
        ("sub/dir/a.txt", "holds a path"),
        ("..\\a.txt", "holds a path"),
        ("a\x00.txt", "NUL byte"),
        ("report.docx", "only .txt"),
        ("noextension", "only .txt"),
    ],
)
def test_bad_names_are_refused(name, message):
    with pytest.raises(InputError, match=message):
        safe_name(name)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (Upload("empty.txt", b""), "empty"),
        (Upload("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00"), "binary"),
        (Upload("latin1.txt", "Un été à Béziers".encode("latin-1")), "UTF-8"),
        (Upload("nothing.html", b"<html><script>x()</script></html>"), "no article text"),
        (Upload("big.txt", b"mot " * 300), "over the limit"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(corpus_copy, documents, upload, message):
    before = sorted(p.name for p in corpus_copy.iterdir())
    good = Upload("good.txt", ARTICLE)
    with pytest.raises(InputError, match=message):
        add_articles(corpus_copy, [good, upload], documents, max_bytes=1000)
    assert sorted(p.name for p in corpus_copy.iterdir()) == before


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as out:  # sparse: 50 MB on paper, nothing on disk
        out.truncate(50_000_000)
    with pytest.raises(InputError, match=r"'big.txt' is over the limit of 10.0 MB"):
        read_uploads([big], 10_000_000)
    with pytest.raises(InputError, match="no such file"):
        read_uploads([tmp_path / "missing.txt"], 10_000_000)
    (tmp_path / "ok.md").write_bytes(ARTICLE)
    assert read_uploads([tmp_path / "ok.md"], 10_000_000) == [Upload("ok.md", ARTICLE)]


def test_a_duplicate_is_refused_and_a_taken_name_gets_a_number(corpus_copy, documents):
    seed = next(corpus_copy.glob("*.txt"))
    with pytest.raises(InputError, match="already in the collection"):
        add_articles(corpus_copy, [Upload("copy.txt", seed.read_bytes())], documents, 10**7)
    with pytest.raises(InputError, match="already in the collection"):
        add_articles(corpus_copy, [Upload("a.txt", ARTICLE), Upload("b.txt", ARTICLE)], (), 10**7)
    (corpus_copy / "zorbix.txt").write_text("Un autre texte, sans rapport.", encoding="utf-8")
    assert add_articles(corpus_copy, [Upload("zorbix.txt", ARTICLE)], documents, 10**7) == [
        "zorbix-2.txt"
    ]
    assert not [p for p in corpus_copy.iterdir() if p.name.startswith(".")]


def test_pdf_and_news_page_uploads(corpus_copy, documents):
    """A PDF and an HTML page are read as the corpus reads them; the PDF of
    an article already there as text is refused as a duplicate."""
    pdf = (Path(__file__).parent / "data" / "microsoft-two-columns.pdf").read_bytes()
    with pytest.raises(InputError, match="already in the collection as 000_"):
        add_articles(corpus_copy, [Upload("microsoft.pdf", pdf)], documents, 10**7)
    others = tuple(d for d in documents if not d.id.startswith("000_"))
    page = b"<html><body><article><h1>Zorbix</h1><p>Zorbix s'installe a Albi.</p></article>"
    added = add_articles(
        corpus_copy, [Upload("microsoft.pdf", pdf), Upload("zorbix.htm", page)], others, 10**7
    )
    assert added == ["microsoft.pdf", "zorbix.htm"]
    assert (corpus_copy / "microsoft.pdf").read_bytes() == pdf


def test_replace_keeps_the_old_article_until_the_new_one_is_saved(corpus_copy, documents):
    old = documents[1]
    with pytest.raises(InputError, match="empty"):
        add_articles(corpus_copy, [Upload("x.txt", b"")], documents, 10**7, replacing=old.id)
    assert (corpus_copy / old.id).exists()
    with pytest.raises(InputError, match="no article"):
        add_articles(corpus_copy, [Upload("x.txt", ARTICLE)], documents, 10**7, replacing="nope")
    # The same name: overwritten in place; another name: the old file goes.
    same = add_articles(corpus_copy, [Upload(old.id, ARTICLE)], documents, 10**7, replacing=old.id)
    assert same == [old.id] and (corpus_copy / old.id).read_bytes() == ARTICLE
    now = load_corpus(corpus_copy).documents
    assert add_articles(corpus_copy, [Upload("z.md", ARTICLE)], now, 10**7, replacing=old.id) == [
        "z.md"
    ]
    assert not (corpus_copy / old.id).exists()


def test_remove_refuses_unknown_and_last_articles(corpus_copy, documents):
    with pytest.raises(InputError, match="no article"):
        remove_article(corpus_copy, "../seeds/x.txt", documents)
    with pytest.raises(InputError, match="only article"):
        remove_article(corpus_copy, documents[0].id, documents[:1])


def test_add_then_ask_then_remove(corpus_copy, index_dir, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    assistant = Assistant.load(Settings(corpus=corpus_copy, index=index))
    before = {a.id: a.passages for a in assistant.articles()}
    when = {a.id: a.indexed for a in assistant.articles()}
    assert all(when.values())
    assert assistant.add([Upload("Zorbix à Albi.txt", ARTICLE)]) == ["Zorbix_a_Albi.txt"]
    after = {a.id: a.indexed for a in assistant.articles()}
    assert {i: t for i, t in after.items() if i in when} == when  # the others keep their time
    assert after["Zorbix_a_Albi.txt"] >= max(when.values())
    report = assistant.report
    assert report.embedded == assistant.articles()[-1].passages == 1  # only the new passage
    answer = assistant.ask("Combien de salariés emploie Zorbix ?")
    assert answer.excerpts[0].citation.doc_id == "Zorbix_a_Albi.txt"
    assert "12 salariés" in answer.excerpts[0].text
    replaced = assistant.replace("Zorbix_a_Albi.txt", Upload("zorbix.txt", ARTICLE + b"Fin.\n"))
    assert replaced == "zorbix.txt" and assistant.report.embedded == 1
    assert [a.id for a in assistant.articles()][-1] == "zorbix.txt"
    assistant.remove("zorbix.txt")
    assert {a.id: a.passages for a in assistant.articles()} == before
    assert assistant.report.embedded == 0
    assert not (corpus_copy / "Zorbix_a_Albi.txt").exists()
    assert len(load_corpus(corpus_copy).documents) == len(before)


def test_a_crash_while_indexing_an_upload_keeps_the_old_index(
    corpus_copy, index_dir, tmp_path, monkeypatch
):
    """The index save dies half-way (the third data file: a full disk). The
    upload is undone, answers keep coming from the old collection, and the
    index on disk is the old one: the next load updates it incrementally."""
    import qa.store

    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    settings = Settings(corpus=corpus_copy, index=index)
    assistant = Assistant.load(settings)
    before = [a.id for a in assistant.articles()]
    manifest = (index / "manifest.json").read_bytes()
    written, real = [], qa.store.atomic_write

    def full_disk(path, data):
        written.append(path)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(qa.store, "atomic_write", full_disk)
    with pytest.raises(IndexUpdateError, match=r"No space left.*nothing was added"):
        assistant.add([Upload("zorbix.txt", ARTICLE)])
    monkeypatch.undo()
    assert not (corpus_copy / "zorbix.txt").exists()
    # The held index had taken the new rows before the save failed: it was dropped.
    assert consistent(assistant.retriever.store.stored)
    assert assistant.retriever.store.manifest.passages == sum(
        a.passages for a in assistant.articles()
    )
    assert [a.id for a in assistant.articles()] == before
    assert "French Tech" in assistant.ask("Qui a lancé la French Tech ?").excerpts[0].text
    assert (index / "manifest.json").read_bytes() == manifest
    assert Assistant.load(settings).report.status == "fresh"  # the old index, whole

    (corpus_copy / "zorbix.txt").write_bytes(ARTICLE)  # a crash after the file was saved
    monkeypatch.setattr(qa.store, "atomic_write", full_disk)
    written.clear()
    with pytest.raises(OSError):
        Assistant.load(settings)
    monkeypatch.undo()
    report = Assistant.load(settings).report
    assert report.status == "updated" and report.embedded == 1  # only the new passage
    # The killed save's half-written segment is gone; the new one is named.
    segments = [p.name for p in index.iterdir() if p.name.startswith("seg-")]
    assert sorted(segments) == sorted(s["name"] for s in read_manifest(index).segments)


def test_an_upload_updates_the_index_held_in_memory(corpus_copy, index_dir, tmp_path, monkeypatch):
    """The page's add does not read the index from disk again (most of a
    minute at 1M passages): it updates the one it holds, unless another
    process saved the index since, which it then reads."""
    import qa.indexing

    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    settings = Settings(corpus=corpus_copy, index=index)
    assistant = Assistant.load(settings)
    reads = []
    real = qa.indexing.load_index
    monkeypatch.setattr(qa.indexing, "load_index", lambda *a: reads.append(a) or real(*a))
    assistant.add([Upload("Zorbix à Albi.txt", ARTICLE)])
    assert reads == [] and assistant.report.embedded == 1
    assert "12 salariés" in assistant.ask("Combien de salariés emploie Zorbix ?").excerpts[0].text
    held = assistant.retriever.store.stored
    assert consistent(held) and held.manifest == read_manifest(index)

    other = Assistant.load(settings)  # another process adds an article
    other.add([Upload("Autre.txt", b"Le festival Robotix ouvre a Rodez avec 40 exposants.\n")])
    assistant.remove("Zorbix_a_Albi.txt")
    assert len(reads) == 2  # other's own load, then this one's, as the disk changed
    assert [a.id for a in assistant.articles()][-1] == "Autre.txt"
    assert "Rodez" in assistant.ask("Où ouvre le festival Robotix ?").excerpts[0].text


def test_answers_stay_whole_while_articles_are_added(corpus_copy, index_dir, tmp_path):
    """Questions asked from other threads while an article comes and goes
    each see one whole collection: no question fails, and every excerpt is
    its article's text at the offsets its citation gives."""
    import threading

    from qa.corpus import load_document

    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    assistant = Assistant.load(Settings(corpus=corpus_copy, index=index))
    (tmp_path / "z.txt").write_bytes(ARTICLE)
    texts = {d.id: d.text for d in assistant.corpus.documents}
    texts["Zorbix_a_Albi.txt"] = load_document(tmp_path / "z.txt", "z").text
    question = "Combien de salariés emploie Zorbix ?"
    failures, seen = [], set()
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answer = assistant.ask(question, k=3)
                for e in (*answer.excerpts, *answer.closest):
                    c = e.citation
                    assert texts[c.doc_id][c.start : c.end] == e.text, c
                seen.add(answer.excerpts[0].citation.doc_id if answer.excerpts else None)
            except Exception as err:  # any failure at all is what this test looks for
                failures.append(err)

    readers = [threading.Thread(target=ask) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(2):
            assistant.add([Upload("Zorbix à Albi.txt", ARTICLE)])
            assistant.remove("Zorbix_a_Albi.txt")
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert failures == []
    assert "Zorbix_a_Albi.txt" in seen and len(seen) > 1  # answers from both collections


def test_a_read_only_collection_refuses_changes(read_only_assistant):
    read_only = read_only_assistant
    with pytest.raises(InputError, match="read-only"):
        read_only.add([Upload("a.txt", ARTICLE)])
    with pytest.raises(InputError, match="read-only"):
        read_only.remove(read_only.corpus.documents[0].id)
