import logging
from pathlib import Path

import pytest

from qa.corpus import clean, load_corpus, load_document, make_title, normalize
from qa.errors import CorpusError


def test_seeds_load_with_titles_and_hashes(documents, seeds):
    assert [d.id for d in documents] == sorted(p.name for p in seeds.glob("*.txt"))
    assert len(documents) == 5
    titles = {d.id: d.title for d in documents}
    assert titles["001_e069358ba42b4717.txt"] == (
        "L’Occitanie dévoile un plan de 50 millions d’euros dédié à l’Intelligence Artificielle"
    )
    assert titles["002_ff58c89954683044.txt"].startswith("Toulouse en bonne voie")
    # Not a headline (a full sentence): the start of the first sentence, cut.
    assert titles["004_67b8fb8b68afd666.txt"].startswith("Les clusters du numérique")
    assert titles["004_67b8fb8b68afd666.txt"].endswith("…")
    assert all(len(d.sha256) == 64 for d in documents)


def test_special_spaces_are_normalised(documents):
    text = {d.id: d.text for d in documents}["002_ff58c89954683044.txt"]
    assert "34 000 emplois" in text
    assert "\u2005" not in text and "\xa0" not in text
    assert normalize("300 m²\u00a0dédié") == "300 m2 dédié"


def test_scraping_leftovers_are_cleaned(documents):
    by_id = {d.id: d for d in documents}
    plan = by_id["001_e069358ba42b4717.txt"]
    assert '"/>' not in plan.text
    assert plan.text.count("L’Occitanie dévoile un plan de 50 millions") == 1
    # The caption fragment that repeats the text verbatim is dropped; the
    # "Sur la photo" caption, which says more, stays.
    assert plan.text.count("co-concepteur de l’assistant vocal Siri") == 2
    assert "Sur la photo" in plan.text
    assert not by_id["002_ff58c89954683044.txt"].text.endswith("commentaires:")
    assert "A lire:" not in by_id["004_67b8fb8b68afd666.txt"].text
    cite = by_id["003_e1b8b1c84c49c586.txt"]
    assert cite.date == "2019-09"
    assert cite.text.startswith("La Cité numérique, à Bègles")


def test_clean_rules():
    paragraphs, date = clean(
        [
            'Titre"/>',
            "Titre",
            "Un long paragraphe qui dit beaucoup de choses utiles.",
            "qui dit beaucoup de choses utiles,",
            "3 commentaires:",
        ]
    )
    assert paragraphs == ["Titre", "Un long paragraphe qui dit beaucoup de choses utiles."]
    assert date is None


def test_title_of_a_headline_and_of_a_sentence():
    assert make_title("Toulouse en bonne voie") == "Toulouse en bonne voie"
    long = "Une phrase. Puis " + "mot " * 50
    assert make_title(long) == "Une phrase."


def test_bad_files_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("Un titre\n\nUn article en français.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Un été à Nîmes".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "damaged.pdf").write_bytes(b"%PDF")
    (tmp_path / "ignored.docx").write_bytes(b"PK\x03\x04")
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        corpus = load_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["good.txt"]
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert set(reasons) == {"empty.txt", "latin1.txt", "binary.txt", "damaged.pdf"}
    assert "readable PDF" in reasons["damaged.pdf"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    for name in reasons:
        assert name in caplog.text


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no readable article"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope")


NEWS_PAGE = """<!doctype html><html lang="fr"><head>
<title>Toulouse : la French Tech labellisée | La Dépêche</title>
<meta name="author" content="Jean Dupont">
<meta property="article:published_time" content="2019-09-12T08:30:00+02:00">
<script>window.dataLayer = [];</script></head><body>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/eco">Économie</a></li></ul></nav>
<article><h1>La French Tech à Toulouse</h1>
<p>Le label a été obtenu par la métropole après deux ans de candidature, a annoncé le maire.</p>
<p>Selon la mairie, 40 start-up sont concernées
et 1 200 emplois pourraient être créés d'ici 2020.</p>
</article>
<section class="comments"><p>Super article, bravo à toute l'équipe !</p></section>
<footer><p>© 2019 Tous droits réservés · Mentions légales · Contact</p></footer>
</body></html>"""


def test_news_page_keeps_the_article_and_its_date_and_author(tmp_path):
    (tmp_path / "page.html").write_text(NEWS_PAGE, encoding="utf-8")
    doc = load_corpus(tmp_path).documents[0]
    assert doc.title == "La French Tech à Toulouse"
    assert (doc.date, doc.author) == ("2019-09-12", "Jean Dupont")
    assert "1 200 emplois" in doc.text and doc.text.startswith("La French Tech à Toulouse\n\n")
    for furniture in ("Accueil", "Super article", "Mentions légales", "dataLayer"):
        assert furniture not in doc.text


def test_a_page_without_an_article_is_refused(tmp_path):
    menu = (
        "<html><head><title>Accueil</title></head><body><nav><ul>"
        "<li><a href='/'>Accueil</a></li><li><a href='/eco'>Économie</a></li>"
        "</ul></nav><footer>Mentions légales</footer></body></html>"
    )
    with pytest.raises(CorpusError, match="no article text"):
        load_document(_write(tmp_path / "menu.html", menu), "menu.html")
    with pytest.raises(CorpusError, match="no article text"):
        load_document(_write(tmp_path / "script.htm", "<html><script>x()</script></html>"), "s")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_html_and_markdown_articles(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>Site</title><style>p{}</style></head><body>"
        "<h1>La French Tech à Toulouse</h1><p>Le label a été&nbsp;obtenu.</p>"
        "<script>var x;</script></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "note.md").write_text(
        "# Un titre\n\nDu **gras** et un [lien](http://example.org).\n", encoding="utf-8"
    )
    docs = {d.id: d for d in load_corpus(tmp_path).documents}
    assert docs["page.html"].title == "La French Tech à Toulouse"
    assert docs["page.html"].text == "La French Tech à Toulouse\n\nLe label a été obtenu."
    assert docs["note.md"].title == "Un titre"
    assert docs["note.md"].text == "Un titre\n\nDu gras et un lien."


PDF = Path(__file__).parent / "data" / "microsoft-two-columns.pdf"


def test_pdf_article_reads_whole_columns_with_accents(tmp_path):
    """The seed article 000 printed to PDF by Chromium on two columns
    (`python -m bench.pdf --out DIR`): every word comes back, in order."""
    doc = load_document(PDF, "microsoft.pdf")
    seed = load_corpus(Path(__file__).parent.parent / "seeds").documents[0]
    assert doc.title.startswith("Carole Delga : « Microsoft confirme son implantation")
    assert doc.text.split() == seed.text.split()


def test_bad_pdfs_are_refused(tmp_path):
    from pypdf import PdfWriter

    blank = tmp_path / "scan.pdf"
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with blank.open("wb") as out:
        writer.write(out)
    with pytest.raises(CorpusError, match="no text"):
        load_document(blank, "scan.pdf")
    locked = tmp_path / "locked.pdf"
    writer = PdfWriter(clone_from=PDF)
    writer.encrypt("secret")
    with locked.open("wb") as out:
        writer.write(out)
    with pytest.raises(CorpusError, match="encrypted"):
        load_document(locked, "locked.pdf")
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(PDF.read_bytes()[:2000])
    with pytest.raises(CorpusError, match=r"readable PDF|no text"):
        load_document(cut, "cut.pdf")
    fake = tmp_path / "fake.pdf"
    fake.write_text("Ceci n'est pas un PDF.", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a PDF"):
        load_document(fake, "fake.pdf")


def test_a_reload_reads_only_the_files_that_changed(tmp_path, monkeypatch):
    """A page taking one upload into a large collection reads that file, not
    every article again; a file rewritten in place (same size) is read again."""
    import os

    import qa.corpus

    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(f"Article {name}\n\nLe texte de {name}.\n", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe pas de l'UTF-8")
    first = load_corpus(tmp_path)
    read, real = [], qa.corpus.load_document
    monkeypatch.setattr(qa.corpus, "load_document", lambda p, i: read.append(i) or real(p, i))

    again = load_corpus(tmp_path, previous=first)
    assert read == [] and again == first

    (tmp_path / "d.txt").write_text("Article d\n\nNouveau.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Article b.txt\n\nLe texte de B.txt.\n", encoding="utf-8")
    stat = (tmp_path / "b.txt").stat()
    os.utime(tmp_path / "b.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime
    (tmp_path / "c.txt").unlink()
    grown = load_corpus(tmp_path, previous=again)
    assert sorted(read) == ["b.txt", "d.txt"]  # b's change time moved: read again
    assert [d.id for d in grown.documents] == ["a.txt", "b.txt", "d.txt"]
    assert "B.txt" in grown.documents[1].text
    assert grown.documents[0] is first.documents[0]
    assert [s.path for s in grown.skipped] == [str(tmp_path / "bad.txt")]
