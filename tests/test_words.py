import numpy as np
import pytest

from qa.answer import candidates
from qa.errors import ModelError
from qa.words import _vocab_folder, closest, load_word_vectors


@pytest.fixture(scope="module")
def vectors():
    return load_word_vectors()


def test_rows_find_words_as_written_or_lowercased(vectors):
    rows = vectors.rows(["élèves", "Élèves", "apprenants", "zqxwvyk"])
    assert rows[0] >= 0 and rows[1] >= 0 and rows[2] >= 0
    assert rows[3] == -1
    assert vectors.unit.shape[1] == 300
    assert np.allclose(np.linalg.norm(vectors.unit[rows[:3]], axis=1), 1.0, atol=1e-5)


def test_a_synonym_is_closer_than_an_unrelated_word(vectors):
    question = vectors.rows(["élèves", "loyer", "zqxwvyk"])
    near, far = vectors.rows(["apprenants", "euros"]), vectors.rows(["tramway", "printemps"])
    best = closest(vectors, question, [near, np.zeros(0, dtype=np.int64), far])
    assert best.shape == (3, 3)
    assert best[0, 0] > 0.5 > best[0, 2]
    assert best[1, 0] > best[1, 2]
    # A word without a vector matches nothing; nor does an empty sentence.
    assert best[2].tolist() == [0.0] * 3 and best[:, 1].tolist() == [0.0] * 3
    assert ((best >= 0) & (best <= 1)).all()
    # Each sentence is read on its own, whatever the others hold.
    alone = closest(vectors, question, [far])
    assert np.allclose(alone[:, 0], best[:, 2])
    assert closest(vectors, np.zeros(0, dtype=np.int64), [near]).shape == (0, 1)
    assert closest(vectors, question, []).shape == (3, 0)


def test_a_missing_pipeline_is_a_model_error():
    with pytest.raises(ModelError, match="not installed"):
        _vocab_folder("no_such_spacy_pipeline_xyz")


def test_the_sentence_that_answers_in_other_words_matches_more(assistant):
    """ "élèves" is never written in the articles: the school's "apprenants"
    is; the soft coverage of the question's asked-about words tells that
    sentence from the rest of its article."""
    question = "Combien d'élèves l'école de Microsoft forme-t-elle gratuitement ?"
    query, hits = assistant.retriever.search(question, "hybrid", 50)
    found = candidates(query, hits, assistant.documents, assistant.sentences)

    def text(c):
        span = assistant.sentences[c.doc_id].notes.sentences[c.index]
        return assistant.documents[c.doc_id].text[span.start : span.end]

    answering = [c for c in found if "apprenants" in text(c)]
    others = [c for c in found if "apprenants" not in text(c)]
    assert answering and others
    best = max(c.signals.soft_attribute_coverage for c in answering)
    assert best > np.median([c.signals.soft_attribute_coverage for c in others])
    for c in found:
        s = c.signals
        assert 0.0 <= s.soft_attribute_min <= s.soft_attribute_coverage <= 1.0
        assert 0.0 <= s.soft_coverage <= 1.0
