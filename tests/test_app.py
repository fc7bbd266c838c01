"""The chat page's rendering and its API, through gradio_client on localhost."""

import json
from pathlib import Path

import pytest

from app import build_demo, render


def test_render_leads_with_the_sentence_and_cites(assistant):
    answer = assistant.ask("Que trouve-t-on à l'intérieur de l'Experiences Lab toulousain ?")
    assert answer.short is None
    page = render(answer, assistant.documents)
    assert page.startswith("**Réponse :** « ")
    assert "<mark>" in page and "<details><summary>Lire l'article entier</summary>" in page


def test_render_leads_with_the_short_answer_then_the_sentence(assistant):
    answer = assistant.ask("Quel est le budget du plan IA de l'Occitanie ?")
    page = render(answer, assistant.documents)
    lines = page.split("\n")
    assert lines[0].startswith("**Réponse : 50 millions d’euros**")
    assert lines[1].startswith("« ") and "50 millions d’euros" in lines[1]
    assert "**[1] L’Occitanie dévoile un plan" in page
    assert "<mark>" in page and "001\\_e069358ba42b4717.txt" in page
    assert "<details><summary>Lire l'article entier</summary>" in page


def test_render_abstention_sets_closest_passages_apart(assistant):
    answer = assistant.ask("Qui a remporté le Tour de France 2019 ?")
    assert answer.abstained and answer.closest
    page = render(answer, assistant.documents)
    assert page.startswith("**Les articles ne répondent pas à cette question.** Aucun ")
    assert "sous le seuil" in page.split("\n")[0]
    assert "Passages les plus proches" in page
    assert "Réponse :" not in page


def test_render_escapes_html_and_markdown():
    from app import _escape

    out = _escape('<script>alert(1)</script> <img src=x onerror="y"> [a](http://x) ![i](y.png)')
    assert "<" not in out.replace("&lt;", "") and "](" not in out


@pytest.mark.parametrize(
    "text",
    [
        "- Mickaël Bosredon/20 Minutes\n\n« On manque de compétences »",
        "+ 12 % en un an",
        "2019. Le projet est lancé.",
        "3) troisième point",
        "Le titre\n===",
        "Le titre\n---",
        "  - indenté",
    ],
)
def test_an_excerpt_that_starts_like_a_list_or_heading_shows_as_text(text):
    """An excerpt's first line is read as Markdown by the page: a photo
    credit "- Mickaël Bosredon/20 Minutes" once showed as a bullet list
    holding the whole excerpt. CommonMark, as the page's renderer reads it."""
    from html import unescape

    from markdown_it import MarkdownIt

    from app import _marked

    html = MarkdownIt("commonmark").render(_marked(text, []))
    assert not any(tag in html for tag in ("<li", "<ol", "<ul", "<h1", "<h2", "<hr"))
    shown = html.replace("<br>", "\n").removeprefix("<p>").removesuffix("</p>\n")
    # Word for word, but for the leading spaces a paragraph drops.
    assert unescape(shown) == text.lstrip()


@pytest.fixture(scope="module")
def client(assistant):
    from gradio_client import Client

    demo = build_demo(assistant)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield Client(url, verbose=False)
    finally:
        demo.close()


def test_api_ask_returns_the_answer_as_json(client):
    data = client.predict(
        question="Where is the Cité numérique near Bordeaux?", k=3, mode="hybrid", api_name="/ask"
    )
    assert "Bègles" in data["excerpts"][0]["text"]
    assert len(data["excerpts"]) <= 3


def test_api_chat_answers_and_reports_bad_input(client):
    question = "Quel est le budget du plan IA de l'Occitanie ?"
    page, citation = client.predict(question, "hybrid", 5, [], "", "", api_name="/chat")
    assert "50 millions" in page
    assert citation.startswith("« ") and "50 millions" in citation
    assert citation.endswith("(001_e069358ba42b4717.txt)")
    page, citation = client.predict("   ", "hybrid", 5, [], "", "", api_name="/chat")
    assert "the question is empty" in page and citation == ""
    page, _ = client.predict(question, "hybrid", 5, [], "2019-13", "", api_name="/chat")
    assert "YYYY" in page


def test_api_takes_a_lone_surrogate(client):
    """JSON can carry a lone surrogate ("\\udfff") that gradio_client itself
    cannot send, so the request is made by hand: the answer comes back, with
    the character removed and a warning."""
    import httpx

    question = "Where is the Cité numérique \udfff near Bordeaux?"
    body = json.dumps({"data": [question, 3, "hybrid", None, "", ""]})  # escapes it
    base = client.src.rstrip("/")
    posted = httpx.post(f"{base}/gradio_api/call/ask", content=body,
                        headers={"Content-Type": "application/json"})  # fmt: skip
    stream = httpx.get(f"{base}/gradio_api/call/ask/{posted.json()['event_id']}").text
    assert "event: complete" in stream, stream[:300]
    data = json.loads(stream.split("data: ", 1)[1].splitlines()[0])[0]
    assert "Bègles" in data["excerpts"][0]["text"] and "lone surrogates" in data["warnings"][0]


def _probes(assistant, index_dir):
    """Paths the page must never serve: system files, the source, the
    articles, the index and the model, absolute, relative and encoded."""
    root = Path(__file__).resolve().parent.parent
    model = Path(assistant.embedder.info.path)
    secret = [
        "/etc/passwd",
        str(root / "app.py"),
        "qa/store.py",
        "../../etc/passwd",
        "%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        str(root / "seeds" / "000_2d1ac743b4ad48ec.txt"),
        str(index_dir / "manifest.json"),
        str(next(p for p in model.rglob("*") if p.is_file())),
    ]
    return [f"{prefix}{path}" for prefix in ("/file=", "/gradio_api/file=") for path in secret]


def test_file_routes_serve_no_file_of_the_machine(client, assistant, index_dir):
    import httpx

    base = client.src.rstrip("/")
    for probe in _probes(assistant, index_dir):
        response = httpx.get(base + probe)
        assert response.status_code in (403, 404), (probe, response.status_code)
        assert "root:" not in response.text and "import" not in response.text


def test_no_other_origin_is_allowed(client):
    import httpx

    base = client.src.rstrip("/")
    evil = {"Origin": "http://evil.example"}
    allowed = httpx.get(f"{base}/gradio_api/info", headers=evil).headers
    assert allowed.get("access-control-allow-origin") in (None, "null")
    preflight = httpx.options(
        f"{base}/gradio_api/call/ask",
        headers={**evil, "Access-Control-Request-Method": "POST"},
    ).headers
    assert preflight.get("access-control-allow-origin") in (None, "null")


def test_chat_and_api_keep_to_the_chosen_articles(client):
    """The budget is in article 001: kept to article 000, the page says the
    articles do not answer; kept to 003 by date, /ask cites 003 only."""
    question = "Quel est le budget du plan IA de l'Occitanie ?"
    only = ["000_2d1ac743b4ad48ec.txt"]
    page, citation = client.predict(question, "hybrid", 5, only, "", "", api_name="/chat")
    assert page.startswith("**Les articles ne répondent pas") and citation == ""
    assert "001\\_e069358ba42b4717" not in page
    data = client.predict(question="Combien d'entreprises à la Cité numérique ?", since="2019-09",
                          until="2019-09", api_name="/ask")  # fmt: skip
    assert {e["citation"]["doc_id"] for e in data["excerpts"]} == {"003_e1b8b1c84c49c586.txt"}
    assert data["excerpts"][0]["citation"]["date"] == "2019-09"
    with pytest.raises(Exception, match="no article"):
        client.predict(question=question, documents=["nope.txt"], api_name="/ask")


def test_quote_and_article_view(assistant):
    from app import quote, render_article

    answer = assistant.ask("Où se trouve la Cité numérique près de Bordeaux ?")
    text = quote(answer)
    assert text.startswith("« ") and "Bègles" in text
    assert text.endswith(", 2019-09 (003_e1b8b1c84c49c586.txt)")
    assert quote(assistant.ask("Qui a gagné la Coupe du monde de rugby 2023 ?")) == ""
    doc = assistant.documents["003_e1b8b1c84c49c586.txt"]
    view = render_article(doc, 3)
    assert view.startswith("### La Cité numérique")
    assert "fichier 003\\_e1b8b1c84c49c586.txt · 3 passage\\(s\\) · 2019-09" in view


@pytest.fixture(scope="module")
def library_client(index_dir, seeds, tmp_path_factory):
    """The page over a writable copy of the seeds and their index."""
    import shutil

    from gradio_client import Client

    from qa import Assistant, Settings

    root = tmp_path_factory.mktemp("library")
    shutil.copytree(seeds, root / "articles")
    shutil.copytree(index_dir, root / "index")
    assistant = Assistant.load(
        Settings(corpus=root / "articles", index=root / "index", feedback=root / "feedback.jsonl")
    )
    demo = build_demo(assistant)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield Client(url, verbose=False), root
    finally:
        demo.close()


def test_api_articles_add_ask_remove(library_client, tmp_path):
    from gradio_client import handle_file

    client, root = library_client
    listed = client.predict(api_name="/articles")
    assert len(listed) == 5 and {"id", "title", "date", "passages", "indexed"} <= set(listed[0])
    article = tmp_path / "Zorbix à Albi.md"
    article.write_text(
        "# Zorbix s'installe à Albi\n\nLa start-up Zorbix emploie 12 salariés à Albi.\n",
        encoding="utf-8",
    )
    *_, report = client.predict([handle_file(str(article))], api_name="/add")
    assert report["added"] == ["Zorbix_a_Albi.md"] and report["index"]["embedded"] == 1
    assert (root / "articles" / "Zorbix_a_Albi.md").is_file()
    answer = client.predict(question="Combien de salariés emploie Zorbix ?", api_name="/ask")
    assert answer["excerpts"][0]["citation"]["doc_id"] == "Zorbix_a_Albi.md"
    done = client.predict("Zorbix_a_Albi.md", api_name="/remove")
    assert done["removed"] == "Zorbix_a_Albi.md" and done["index"]["embedded"] == 0
    assert len(client.predict(api_name="/articles")) == 5


def test_api_add_refuses_a_bad_file_and_keeps_the_collection(library_client, tmp_path):
    from gradio_client import handle_file

    client, root = library_client
    latin1 = tmp_path / "vieux.txt"
    latin1.write_bytes("Un été à Béziers, sans accents lisibles".encode("latin-1"))
    with pytest.raises(Exception, match="not valid UTF-8"):
        client.predict([handle_file(str(latin1))], api_name="/add")
    with pytest.raises(Exception, match="no article"):
        client.predict("../../etc/passwd", api_name="/remove")
    assert len(client.predict(api_name="/articles")) == 5
    assert sorted(p.name for p in (root / "articles").iterdir() if p.suffix == ".txt") == sorted(
        p.name for p in Path("seeds").iterdir() if p.suffix == ".txt"
    )


def test_a_read_only_page_serves_no_add_or_remove(read_only_assistant):
    from gradio_client import Client

    demo = build_demo(read_only_assistant)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/ask", "/articles"} <= endpoints
        assert not endpoints & {"/add", "/remove"}
        assert len(client.predict(api_name="/articles")) == len(read_only_assistant.documents)
    finally:
        demo.close()


def test_a_client_beyond_the_queue_is_told_the_page_is_busy(assistant, monkeypatch):
    """With the queue full, a request is refused at once with gradio's
    "Queue is full" (HTTP 503), not left hanging; the queued ones are
    answered. (`python -m bench.load` measures this at 32 and 100 clients.)"""
    import threading
    import time

    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    import app
    from qa import Assistant

    release = threading.Event()

    class Held(Assistant):
        def ask(self, *args, **kwargs):
            release.wait(timeout=60)  # until every request is in
            return super().ask(*args, **kwargs)

    held = Held(*(getattr(assistant, f) for f in ("settings", "corpus", "embedder", "retriever",
                                                  "report")))  # fmt: skip
    monkeypatch.setattr(app, "QUEUE_SIZE", 2)
    demo = build_demo(held)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        jobs = []
        for _ in range(6):
            jobs.append(client.submit("Qui dirige Magellium ?", 3, "hybrid", api_name="/ask"))
            time.sleep(0.3)  # in order: the first ones fill the queue
        busy, answered = [], []
        for job in jobs[3:]:  # one running, two queued: these three are beyond
            with pytest.raises((QueueError, AppError)) as refused:
                job.result(timeout=30)
            busy.append(str(refused.value))
        release.set()
        for job in jobs[:3]:
            answered.append(job.result(timeout=60))
    finally:
        release.set()
        demo.close()
    assert all("Queue is full" in message for message in busy), busy
    assert all(a["excerpts"] or a["closest"] for a in answered)
