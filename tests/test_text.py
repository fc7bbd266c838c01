from qa.text import analyze, fold, split_sentences, tokenize


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_elisions_are_stripped():
    assert analyze("l'Occitanie") == analyze("Occitanie")
    assert analyze("d’euros") == analyze("euros")
    for word in ("qu'il", "n'est", "s'étendra", "c'est", "j'ai", "jusqu'au", "lorsqu'elle"):
        tokens = tokenize(word)
        assert "'" not in "".join(tokens), (word, tokens)
    assert analyze("jusqu’à Toulouse") == analyze("Toulouse")
    assert analyze("lorsqu'Airbus") == analyze("Airbus")


def test_words_with_inner_apostrophe_are_kept_whole():
    assert tokenize("aujourd'hui") == ["aujourd'hui"]


def test_accents_are_folded_and_case_lowered():
    assert fold("Économie Réindustrialisation Île") == "economie reindustrialisation ile"
    assert analyze("sécurité") == analyze("securite") == analyze("SÉCURITÉ")
    assert analyze("œuvré") == analyze("oeuvre")


def test_stop_words_are_dropped_in_french_and_english():
    assert analyze("le la les de du des et est une") == []
    assert analyze("the of and where is what how") == []
    assert analyze("Quel est le budget ?") == analyze("budget")


def test_snowball_french_stemming():
    assert analyze("entreprises") == analyze("entreprise")
    assert analyze("numérique") == analyze("numériques")
    assert analyze("développement") == analyze("développements")
    assert analyze("emplois") == analyze("emploi")
    assert analyze("innovantes") == analyze("innovant")


def test_numbers_match_across_writings():
    assert analyze("34 000 emplois") == analyze("34000 emplois")
    assert analyze("25.000 m2") == analyze("25000 m2")
    assert analyze("1,500 jobs")[0] == analyze("1.500 emplois")[0] == "1500"
    assert analyze("3,7 %") == analyze("3.7%") == ["3,7"]


def test_compounds_match_their_joined_form():
    assert set(analyze("startup")) <= set(analyze("start-up"))
    assert set(analyze("écosystème")) <= set(analyze("éco-système"))


def test_english_question_keeps_names_and_numbers():
    terms = analyze("Where is the Cité numérique near Bordeaux in 2019?")
    for term in analyze("Cité numérique Bordeaux 2019"):
        assert term in terms


def test_sentences_do_not_break_on_abbreviations_and_numbers():
    text = (
        "M. Dupont a visité un espace de 25.000 m2 pour 1.500 emplois. "
        "La région investit 3,7 % de son PIB. Mme Delga et J. Martin sont venus."
    )
    assert sentences(text) == [
        "M. Dupont a visité un espace de 25.000 m2 pour 1.500 emplois.",
        "La région investit 3,7 % de son PIB.",
        "Mme Delga et J. Martin sont venus.",
    ]


def test_sentences_keep_guillemets_with_their_sentence():
    text = (
        "« Notre rôle, c’est de fabriquer des compétences. », poursuit Laurent Schlosser. "
        "Pourquoi ? « Parce qu’on manque de compétences », assure-t-il."
    )
    assert sentences(text) == [
        "« Notre rôle, c’est de fabriquer des compétences. », poursuit Laurent Schlosser.",
        "Pourquoi ?",
        "« Parce qu’on manque de compétences », assure-t-il.",
    ]


def test_line_breaks_end_sentences_and_offsets_point_into_text():
    text = "Midi-Pyrénées en pointe\n\nIl est vrai que la région est seconde. Elle progresse."
    spans = split_sentences(text)
    assert [text[s.start : s.end] for s in spans] == [
        "Midi-Pyrénées en pointe",
        "Il est vrai que la région est seconde.",
        "Elle progresse.",
    ]


def test_lowercase_after_period_does_not_split():
    assert len(split_sentences("Pole Star, etc. ont préparé un projet.")) == 1
