"""Short-answer spans: what is cut from the answering sentence, by kind."""

import pytest

from qa.annotate import Entity, SentenceNote
from qa.short import short_kind, span_candidates
from qa.text import fold


def spans(text, wants, question="", entities=(), counted=None):
    note = SentenceNote(0, len(text), tuple(entities))
    found = span_candidates(text, note, wants, fold(question), frozenset(), counted)
    return [text[s.start : s.end] for s in found]


@pytest.mark.parametrize(
    ("text", "wants", "expected"),
    [
        # A figure keeps what it counts, not the stop words after it.
        ("Le secteur compte 2 600 chercheurs et 5 300 entreprises.", "number", "2 600 chercheurs"),
        ("Ce sont déjà 40 start-up de la région qui sont là.", "number", "40 start-up"),
        ("former 24 « apprenants » sur l'IA", "number", "24 « apprenants »"),
        # A range is one answer; so is a written compound number.
        ("financé à hauteur de 2 à 5 millions d’euros par an", "money", "2 à 5 millions d’euros"),
        ("une formation de dix-neuf mois", "duration", "dix-neuf mois"),
        ("installées en moins de 6 mois", "duration", "moins de 6 mois"),
        ("Le label sera attribué fin octobre à Toulouse.", "date", "fin octobre"),
        ("Un plan sera présenté en juin.", "date", "en juin"),
        ("La délégation est venue jeudi.", "date", "jeudi"),
        ("un espace de 25.000 m2 à Bègles", "area", "25.000 m2"),
    ],
)
def test_patterns_cut_the_answer_with_its_words(text, wants, expected):
    assert expected in spans(text, wants)


def test_names_come_from_entities_cut_at_an_apposition_and_joined_in_lists():
    text = "Les équipes restent à Toulouse et à Montpellier, dit Pierre Deniset, président."
    toulouse, montpellier = text.index("Toulouse"), text.index("Montpellier")
    places = [
        Entity(toulouse, toulouse + 8, "place"),
        Entity(montpellier, montpellier + 11, "place"),
    ]
    assert spans(text, "place", entities=places) == [
        "Toulouse",
        "Toulouse et à Montpellier",
        "Montpellier",
    ]
    deniset = text.index("Pierre")
    person = [Entity(deniset, len(text) - 1, "person")]
    assert spans(text, "person", entities=person) == ["Pierre Deniset"]


def test_a_name_the_question_already_gives_is_not_an_answer():
    text = "Jean-Pierre Bayol, directeur de Digital Place, salue Daniel Benchimol."
    people = [
        Entity(0, len("Jean-Pierre Bayol"), "person"),
        Entity(text.index("Daniel"), len(text) - 1, "person"),
    ]
    found = spans(text, "person", "Qui Jean-Pierre Bayol salue-t-il ?", people)
    assert found == ["Daniel Benchimol"]


def test_a_count_question_wants_a_number_even_when_it_names_a_month():
    assert short_kind("date", "startup") == "number"
    assert short_kind("duration", "temp") == "duration"
    assert short_kind("person", None) == "person"
    assert short_kind(None, None) is None


def test_an_organisation_tagged_as_a_place_answers_which_organisation():
    """spaCy's French model tags most of the articles' organisations as
    places ("en partenariat avec Simplon"): an organisation question takes
    them, both as its short answer and as the kind of answer the sentence
    holds (`qa.answer._holds_wanted`); a person question does not."""
    from qa.answer import _holds_wanted

    text = "Sur le principe des écoles de la deuxième chance, et en partenariat avec Simplon."
    simplon = Entity(text.index("Simplon"), text.index("Simplon") + len("Simplon"), "place")
    note = SentenceNote(0, len(text), (simplon,))
    asked = fold("Avec quel partenaire Microsoft a-t-il monté son école IA ?")
    assert spans(text, "organisation", entities=[simplon]) == ["Simplon"]
    assert _holds_wanted("organisation", text, note, asked) == (True, True)
    assert _holds_wanted("person", text, note, asked) == (False, False)
