"""The chat page's rendering and its API, through gradio_client on localhost."""

import pytest

from app import build_demo, render


def test_render_marks_highlights_and_escapes_markdown(assistant):
    answer = assistant.ask("Qui a lancé la plateforme French Tech ?")
    page = render(answer)
    assert page.startswith("**[1] Toulouse en bonne voie")
    assert "<mark>" in page and "Fleur Pellerin" in page
    assert "002_ff58c89954683044.txt" in page


def test_render_abstention(assistant):
    page = render(assistant.ask("Quelle est la recette de la tartiflette ?"))
    assert page.startswith("**Pas de réponse dans ces articles.**")


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
