"""Cut documents into overlapping, sentence-aligned passages with offsets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qa.corpus import Document
from qa.text import Span, split_sentences


@dataclass(frozen=True)
class Passage:
    """`text == document.text[start:end]`; `number` counts passages within the document."""

    doc_id: str
    number: int
    start: int
    end: int
    text: str


def sentence_segments(text: str, max_chars: int) -> list[Span]:
    """Sentence spans, with any sentence longer than `max_chars` cut at spaces
    so that no passage exceeds what the embedding model reads."""
    segments: list[Span] = []
    for span in split_sentences(text):
        start = span.start
        while span.end - start > max_chars:
            cut = text.rfind(" ", start + 1, start + max_chars)
            cut = cut if cut > start else start + max_chars
            segments.append(Span(start, cut))
            start = cut + 1 if text[cut] == " " else cut
        segments.append(Span(start, span.end))
    return segments


def chunk_document(doc: Document, target_chars: int, max_chars: int, overlap: int) -> list[Passage]:
    """Greedy windows of whole sentences up to `target_chars` (at least one
    sentence each); consecutive windows share `overlap` sentences, so an answer
    that straddles two windows is whole in at least one of them."""
    segments = sentence_segments(doc.text, max_chars)
    passages: list[Passage] = []
    first = 0
    while first < len(segments):
        last = first
        while (
            last + 1 < len(segments)
            and segments[last + 1].end - segments[first].start <= target_chars
        ):
            last += 1
        start, end = segments[first].start, segments[last].end
        passages.append(Passage(doc.id, len(passages), start, end, doc.text[start:end]))
        if last == len(segments) - 1:
            break
        first = max(first + 1, last + 1 - overlap)
    return passages


def chunk_documents(
    docs: Iterable[Document], target_chars: int, max_chars: int, overlap: int
) -> list[Passage]:
    return [p for doc in docs for p in chunk_document(doc, target_chars, max_chars, overlap)]
