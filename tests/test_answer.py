"""End to end on the seeds: answers, citations, highlights, abstention, bad input."""

import json

import numpy as np
import pytest

from qa import Answer, InputError
from qa.decide import load_model

# (question, text that must be in the first excerpt): 12 questions over all 5 articles.
QUESTIONS = [
    ("Quel est le budget du plan IA de l'Occitanie ?", "50 millions"),
    ("Quelle part de son PIB l'Occitanie investit-elle en recherche ?", "3,7 %"),
    ("Quel institut de Toulouse a été désigné cluster IA ?", "Aniti"),
    ("Qui a lancé la plateforme French Tech ?", "Fleur Pellerin"),
    ("Who launched the French Tech platform in 2013?", "Fleur Pellerin"),
    ("Qui est le directeur de Digital Place ?", "Jean-Pierre Bayol"),
    ("Quelle plateforme d'agriculture connectée Microsoft va-t-il lancer ?", "FarmBeats"),
    ("Quelle est la surface de la Cité numérique de Bègles ?", "25.000 m2"),
    ("Where is the Cité numérique near Bordeaux?", "Bègles"),
    ("Avec quel partenaire Microsoft forme-t-il les apprenants de son école IA ?", "Simplon"),
    ("Combien de start-up se sont installées à La Cité en moins de 6 mois ?", "40 start-up"),
    ("Combien de start-ups comptait la délégation occitane à VivaTech ?", "53 start-ups"),
    ("Qui est le président de FrenchSouth.digital ?", "Pierre Deniset"),
    ("Combien d'entreprises compte l'écosystème numérique en Occitanie ?", "8 400 entreprises"),
    # An English question whose words the articles do not hold ("mayor").
    ("Who is the mayor of Bègles?", "Rossignol Puech"),
]

OFF_TOPIC = [
    "What is the capital of Australia?",
    "Quel temps fera-t-il à Brest demain ?",
    "Who won the 2019 Tour de France?",
]


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_expected_answer_is_in_the_first_two_excerpts(assistant, question, expected):
    answer = assistant.ask(question)
    assert not answer.abstained, answer.reason
    assert any(expected in e.text for e in answer.excerpts[:2])


def test_most_answers_come_first(assistant):
    """The fitted ranker puts all but one or two of these answers first (a
    miss today: the Simplon sentence ranks second for "Avec quel partenaire…")."""
    first = sum(expected in assistant.ask(q).excerpts[0].text for q, expected in QUESTIONS)
    assert first >= len(QUESTIONS) - 2


def test_questions_cover_every_article(assistant):
    docs = {assistant.ask(q).excerpts[0].citation.doc_id for q, _ in QUESTIONS}
    assert docs == set(assistant.documents)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Combien d'emplois représente le numérique en Midi-Pyrénées, et combien de "
            "salariés l'écosystème numérique compte-t-il en Occitanie ?",
            ("34 000 emplois", "52 500 salariés"),
        ),
        (
            "Who launched the French Tech platform, and who designated Aniti as one of the "
            "French AI clusters?",
            ("Fleur Pellerin", "Emmanuel Macron"),
        ),
    ],
)
def test_a_two_part_question_is_answered_by_its_first_two_excerpts(assistant, question, expected):
    """Each part has its answer in another article: both come first."""
    answer = assistant.ask(question)
    first = " ".join(e.text for e in answer.excerpts[:2])
    assert all(part in first for part in expected)
    assert len({e.citation.doc_id for e in answer.excerpts[:2]}) == 2


@pytest.mark.parametrize(
    ("question", "short", "kind"),
    [
        ("Qui est le directeur de Digital Place ?", "Jean-Pierre Bayol", "person"),
        ("Quel est le budget du plan IA de l'Occitanie ?", "50 millions d’euros", "money"),
        ("Combien de start-up se sont installées à La Cité en moins de 6 mois ?", "40 start-up",
         "number"),
        # How much of a verb of spending asks for a sum: read as a count, the
        # first excerpt was the plan's announcement, which gives none.
        ("How much did the Region spend on the AI plan?", "50 millions d’euros", "money"),
    ],
)  # fmt: skip
def test_a_short_answer_leads_with_offsets_into_the_first_excerpt(assistant, question, short, kind):
    answer = assistant.ask(question)
    assert answer.short is not None
    assert answer.short.text == short and answer.short.kind == kind
    first = answer.excerpts[0]
    assert first.text[answer.short.start : answer.short.end] == short
    # Inside the highlighted sentence, never elsewhere in the excerpt.
    start, end = answer.short.start, answer.short.end
    assert any(h.start <= start < end <= h.end for h in first.highlights)
    assert answer.short.confidence >= load_model().short_threshold
    assert answer.to_dict()["short"]["text"] == short


def test_no_short_answer_when_the_question_asks_no_kind(assistant):
    answer = assistant.ask("Que trouve-t-on à l'intérieur de l'Experiences Lab toulousain ?")
    assert answer.short is None
    assert answer.to_dict()["short"] is None


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("Quelle est la population de Strasbourg ?", "Aucun article ne parle de « Strasbourg »"),
        ("What is the capital of Australia?", "Aucun article ne parle de « Australia »"),
        ("En quelle année Digital Place a-t-il été fondé ?", "n'emploie le mot « fondé »"),
        (
            "Quel est le chiffre d'affaires de Marbotic ?",
            "Aucun article n'emploie ni le mot « chiffre » ni le mot « affaires »",
        ),
        # Asked as a count, any figure of the Bègles article answered it
        # (0.84); asked as a sum, none of its sentences gives one.
        (
            "Combien a coûté la réhabilitation de l’ancien centre de tri postal de Bègles ?",
            "Aucun article n'emploie ni le mot « coûté » ni le mot « réhabilitation »",
        ),
    ],
)
def test_an_abstention_says_what_is_missing(assistant, question, reason):
    answer = assistant.ask(question)
    assert answer.abstained and answer.short is None
    assert reason in answer.reason
    assert "sous le seuil" in answer.reason


def test_an_abstention_names_the_fact_no_article_gives():
    """When the articles talk about the subject but no close sentence holds
    the kind of fact asked for, the reason names that fact."""
    from qa.answer import Candidate, explain_abstention
    from qa.decide import Signals
    from qa.retrieval import Query

    query = Query(
        "Combien d'élèves l'école IA de Castelnau a-t-elle formés ?",
        ("elev", "ecol", "castelnau", "form"),
        {"elev": 2.0, "ecol": 1.0, "castelnau": 2.0, "form": 1.0},
        np.zeros(3),
        keys=frozenset({"castelnau"}),
        wants="number",
        counted="elev",
    )
    signals = Signals(
        0.8, 0.8, 1.0, 0.6, 0.2, True, True, False, 0.0, 0.0, 0.0, False, False, True, False, 0.2
    )
    best = Candidate("a", 0, [], 1.0, 0.8, signals, confidence=0.2)
    reason = explain_abstention(query, best, 0.3)
    assert reason.startswith("Aucun article ne donne le nombre d’élèves")
    assert "« Castelnau »" in reason and "confiance 0.20, sous le seuil 0.30" in reason


def test_each_part_of_a_two_part_question_leads_with_its_best_sentence():
    """The whole question's two best sentences answer its first part; the
    second part's best still comes second, ahead of them, and every other
    sentence follows with the best confidence any ranking gave it."""
    from qa.answer import Candidate, merge_rankings

    def ranking(*scored):
        return [Candidate(d, i, [], 0.0, 0.0, confidence=p) for d, i, p in scored]

    whole = ranking(("a", 1, 0.9), ("a", 2, 0.8), ("b", 4, 0.5), ("b", 5, 0.1))
    first = ranking(("a", 1, 0.85), ("a", 2, 0.7))
    second = ranking(("b", 4, 0.6), ("a", 2, 0.3), ("b", 5, 0.2))
    merged = merge_rankings([whole, first, second])
    assert [(c.doc_id, c.index) for c in merged] == [("a", 1), ("b", 4), ("a", 2), ("b", 5)]
    assert [c.confidence for c in merged] == [0.9, 0.6, 0.8, 0.2]
    # With no parts, the whole question's ranking is kept as it is.
    assert merge_rankings([whole]) == whole


@pytest.mark.parametrize(
    "typed", ["QUI EST LE DIRECTEUR DE DIGITAL PLACE ?", "Qui est le directeur de Digital Place"]
)
def test_a_question_typed_in_capitals_or_without_accents_is_answered_as_written(assistant, typed):
    """Typed in capitals, the question read as typed scored 0.45 against
    0.97 (e5 reads "DIGITAL PLACE" as other words): it is read as the
    articles write it, and the answer says how it was read."""
    written = assistant.ask("Qui est le directeur de Digital Place ?")
    answer = assistant.ask(typed)
    assert not answer.abstained
    assert answer.excerpts[0].text == written.excerpts[0].text
    assert "Jean-Pierre Bayol" in answer.excerpts[0].text
    if typed.isupper():
        assert answer.question == "Qui est le directeur de Digital Place ?"
        assert any("question read as « Qui est le directeur" in w for w in answer.warnings)


def test_a_question_framed_by_a_request_is_answered_as_the_bare_question(assistant):
    """Read with it, "Dis-moi" hid "qui", so no person was asked for (confidence 0.47
    against 0.87, no short answer); "Explique-moi", a word no article uses,
    had the question refused (0.23)."""
    bare = assistant.ask("Qui est le maire de Bègles ?")
    framed = assistant.ask("Dis-moi qui est le maire de Bègles ?")
    assert framed.question == "qui est le maire de Bègles ?"
    assert framed.excerpts[0].text == bare.excerpts[0].text
    assert framed.short is not None and framed.short.text == "Clément Rossignol Puech"
    assert "question read as « qui est le maire de Bègles ? », without « Dis-moi »" in (
        framed.warnings
    )
    greeted = assistant.ask("Bonjour, peux-tu me dire qui est le maire de Bègles ?")
    assert greeted.short is not None and greeted.short.text == "Clément Rossignol Puech"
    assert any("without « Bonjour, peux-tu me dire »" in w for w in greeted.warnings)
    assert not assistant.ask("Explique-moi ce qu'est La Cité à Toulouse.").abstained


def test_a_question_without_accents_finds_the_accented_name(assistant):
    answer = assistant.ask("Qui est le maire de Begles ?")
    assert answer.question == "Qui est le maire de Bègles ?"
    assert "Rossignol" in answer.excerpts[0].text


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_excerpts_citations_and_highlights_are_consistent(assistant, mode):
    answer = assistant.ask(
        "Quels sont les projets de Microsoft à Bordeaux et Toulouse ?", k=5, mode=mode
    )
    assert answer.mode == mode
    assert 1 <= len(answer.excerpts) <= 5
    seen: dict[str, list[tuple[int, int]]] = {}
    for excerpt in answer.excerpts:
        c = excerpt.citation
        doc = assistant.documents[c.doc_id]
        assert doc.text[c.start : c.end] == excerpt.text
        assert c.title == doc.title and c.file == doc.path
        assert c.passage in c.passages
        assert len(excerpt.text) <= assistant.settings.excerpt_chars
        assert excerpt.highlights
        for h in excerpt.highlights:
            assert 0 <= h.start < h.end <= len(excerpt.text)
        for start, end in seen.get(c.doc_id, []):
            assert c.end <= start or c.start >= end, "excerpts of one article overlap"
        seen.setdefault(c.doc_id, []).append((c.start, c.end))


def test_the_answering_sentence_is_highlighted(assistant):
    excerpt = assistant.ask("Quel est le budget du plan IA de l'Occitanie ?").excerpts[0]
    assert any("50 millions" in text for text in excerpt.highlighted)


def test_k_limits_the_excerpts(assistant):
    assert len(assistant.ask("Microsoft Toulouse Bordeaux", k=1).excerpts) == 1


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_abstain(assistant, question):
    answer = assistant.ask(question)
    assert answer.abstained
    assert answer.excerpts == ()
    assert "seuil" in answer.reason
    assert answer.closest and answer.best_confidence < load_model().threshold


@pytest.mark.parametrize(
    "question",
    [
        "Comment tricoter une écharpe en laine ?",
        "Quel est le meilleur fromage de brebis ?",
        "Quelle est la recette de la tartiflette ?",
    ],
)
def test_a_question_the_articles_share_no_word_with_abstains(assistant, question):
    """Without the rule (`qa.decide.shares_no_word`) the gate alone answers
    the first two, at 0.50 and 0.54 against a threshold of 0.35 (the model
    of when this was written); the third sits near the threshold."""
    answer = assistant.ask(question)
    assert answer.abstained and answer.excerpts == ()
    assert answer.best_confidence == 0.0
    assert answer.reason.startswith("Aucun article n'emploie ni le mot")


@pytest.mark.xfail(
    strict=True,
    reason="known defect: a question that asks no kind of answer and shares a word with "
    "the articles ('bonne') is answered; the gate learnt from dev that such questions are "
    "mostly answerable (see the README's abstention section)",
)
def test_a_recipe_question_abstains(assistant):
    assert assistant.ask("Donne-moi une bonne recette de tartiflette.").abstained


def test_answer_to_dict_is_json_ready(assistant):
    answer = assistant.ask("Qui a lancé la plateforme French Tech ?")
    data = json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))
    first = data["excerpts"][0]
    assert data["question"] == "Qui a lancé la plateforme French Tech ?"
    assert data["abstained"] is False
    assert set(first["citation"]) >= {"doc_id", "title", "file", "start", "end", "passage"}
    assert set(first["scores"]) == {"dense", "lexical", "fused", "confidence"}
    assert 0 < first["scores"]["confidence"] <= 1
    assert first["highlighted"] == [
        first["text"][h["start"] : h["end"]] for h in first["highlights"]
    ]


@pytest.mark.parametrize("question", ["", "   \n\t ", "?!…", None])
def test_empty_questions_are_refused(assistant, question):
    with pytest.raises(InputError):
        assistant.ask(question)


def test_lone_surrogates_are_removed_with_a_warning(assistant):
    """A lone surrogate (U+D800-U+DFFF) once crashed the tokenizer; it is
    removed where every caller passes, and said."""
    answer = assistant.ask("Quel est le budget \udfff du plan IA de l'Occitanie \ud800?")
    assert answer.question == "Quel est le budget du plan IA de l'Occitanie ?"
    assert "50 millions" in answer.excerpts[0].text
    assert answer.warnings == (
        "2 invalid character(s) (lone surrogates) removed from the question",
    )
    with pytest.raises(InputError, match="empty"):
        assistant.ask("\udfff \ud800")


def test_unknown_mode_and_bad_k_are_refused(assistant):
    with pytest.raises(InputError, match="unknown mode 'fuzzy'"):
        assistant.ask("Toulouse", mode="fuzzy")
    with pytest.raises(InputError, match="k must be"):
        assistant.ask("Toulouse", k=0)


def test_a_megabyte_question_is_cut_with_a_warning(assistant):
    question = "Quel est le budget du plan IA de l'Occitanie ? " + "blabla " * 150_000
    answer = assistant.ask(question)
    assert isinstance(answer, Answer)
    assert len(answer.question) <= assistant.settings.max_question_chars
    assert answer.warnings and "cut" in answer.warnings[0]
