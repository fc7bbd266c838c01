"""Follow-up questions are resolved against the previous one before retrieval."""

import pytest

from qa.conversation import is_follow_up, resolve, resolve_history

PAIRS = [
    (
        "Où Microsoft a-t-il ouvert un Experiences Lab à Toulouse ?",
        "Et à Bordeaux ?",
        "Où Microsoft a-t-il ouvert un Experiences Lab à Bordeaux ?",
    ),
    (
        "Combien d'emplois compte le numérique en Midi-Pyrénées ?",
        "Et en Occitanie ?",
        "Combien d'emplois compte le numérique en Occitanie ?",
    ),
    ("Qui dirige Digital Place ?", "Et FrenchSouth.digital ?", "Qui dirige FrenchSouth.digital ?"),
    (
        "Quel est le budget du plan IA de l'Occitanie ?",
        "Et pour la formation ?",
        "Quel est le budget du plan IA de l'Occitanie, pour la formation ?",
    ),
    # Framed by a request or a greeting, the follow-up is read without it.
    (
        "Combien de start-up sont installées à Toulouse ?",
        "Dis-moi, et à Montpellier ?",
        "Combien de start-up sont installées à Montpellier ?",
    ),
    (
        "Combien de start-up sont installées à Toulouse ?",
        "Bonjour, et à Montpellier stp ?",
        "Combien de start-up sont installées à Montpellier ?",
    ),
]


@pytest.mark.parametrize(("first", "follow", "expected"), PAIRS)
def test_follow_ups_are_resolved(first, follow, expected):
    assert resolve(follow, first) == expected


def test_standalone_questions_are_left_alone():
    q = "Qui a lancé la plateforme French Tech ?"
    assert not is_follow_up(q)
    assert resolve(q, "Quel est le budget du plan IA ?") == q
    assert resolve("Et à Bordeaux ?", None) == "Et à Bordeaux ?"


def test_history_resolves_in_a_chain():
    chain = resolve_history(["Quelle est la surface de La Cité à Toulouse ?", "Et à Bègles ?"])
    assert chain[-1] == "Quelle est la surface de La Cité à Bègles ?"


def test_follow_up_retrieves_with_the_conversation_in_mind(assistant):
    first, follow, _ = PAIRS[0]
    resolved = resolve(follow, first)
    answer = assistant.ask(resolved)
    assert not answer.abstained
    assert answer.excerpts[0].citation.doc_id == "003_e1b8b1c84c49c586.txt"
    assert "Bordeaux Métropole" in answer.excerpts[0].text
