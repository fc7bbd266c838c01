"""The chat page's rendering and its API, through gradio_client on localhost."""

import pytest

from app import build_demo, render


def test_render_leads_with_the_sentence_and_cites(assistant):
    answer = assistant.ask("Que trouve-t-on à l'intérieur de l'Experiences Lab toulousain ?")
    assert answer.short is None
    page = render(answer, assistant.documents)
    assert page.startswith("**Réponse :** « ")
    assert "<mark>" in page and "<details><summary>Lire l'article entier</summary>" in page


def test_render_leads_with_the_short_answer_then_the_sentence(assistant):
    answer = assistant.ask("Qui a lancé la plateforme French Tech ?")
    page = render(answer, assistant.documents)
    lines = page.split("\n")
    assert lines[0].startswith("**Réponse : Fleur Pellerin**")
    assert lines[1].startswith("« ") and "Fleur Pellerin" in lines[1]
    assert "**[1] Toulouse en bonne voie" in page
    assert "<mark>" in page and "002\\_ff58c89954683044.txt" in page
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
    page = client.predict(
        "Quel est le budget du plan IA de l'Occitanie ?", "hybrid", 5, api_name="/chat"
    )
    assert "50 millions" in page
    assert "the question is empty" in client.predict("   ", "hybrid", 5, api_name="/chat")
