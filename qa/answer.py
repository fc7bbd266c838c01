"""Turn ranked hits into an `Answer`: cited excerpts centred on the
sentences that answer, or an abstention. No text is generated: every excerpt
is a slice of `Document.text`, every highlight a slice of its excerpt.

Excerpts are built around sentences, not passages: every sentence of the
retrieved passages is scored by how much of the question it (and, at half
weight, its context) contains, mixed with its passage's retrieval score. The
best sentence becomes the first excerpt with its neighbours around it, the
next best sentence not yet shown the second, and so on. A long article can so
give two excerpts, and the answering sentence is never cut out by trimming.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from qa.corpus import Document
from qa.retrieval import Hit, Query
from qa.text import ANSWER_KINDS, Span, analyze, has_answer_type, split_sentences

#: A second sentence is highlighted too when it scores this close to the best one.
SECOND_HIGHLIGHT = 0.8


@dataclass(frozen=True)
class Citation:
    """Where an excerpt comes from: `start`/`end` are offsets into the article's
    normalised text; `passage` is the best-ranked passage number it covers."""

    doc_id: str
    title: str
    file: str
    start: int
    end: int
    passage: int
    passages: tuple[int, ...]


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float
    relevance: float


@dataclass(frozen=True)
class Excerpt:
    text: str
    citation: Citation
    scores: Scores
    #: Answering sentences, as offsets into `text`.
    highlights: tuple[Span, ...]

    @property
    def highlighted(self) -> list[str]:
        return [self.text[h.start : h.end] for h in self.highlights]


@dataclass(frozen=True)
class Answer:
    question: str
    mode: str
    excerpts: tuple[Excerpt, ...]
    abstained: bool = False
    reason: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: When abstaining: the nearest excerpts, below the threshold, to show
    #: apart as "closest passages" (never as an answer).
    closest: tuple[Excerpt, ...] = field(default_factory=tuple)

    @property
    def best_relevance(self) -> float:
        return max((e.scores.relevance for e in self.excerpts + self.closest), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dicts and lists, plus each excerpt's highlighted strings."""
        data = asdict(self)
        for key in ("excerpts", "closest"):
            for excerpt, out in zip(getattr(self, key), data[key], strict=True):
                out["highlighted"] = excerpt.highlighted
        return data


@dataclass(frozen=True)
class _Layout:
    """A document's sentences with their terms, computed once per document.

    `context[i]` holds the terms a reader has in mind when reading sentence i:
    its neighbours, its section heading and the article title. "34 000
    emplois" answers a question about Midi-Pyrénées because it sits under the
    heading "Midi-Pyrénées en pointe", though it never names the region.
    """

    sentences: tuple[Span, ...]
    terms: tuple[frozenset[str], ...]
    context: tuple[frozenset[str], ...]
    heading: tuple[bool, ...]
    vocabulary: frozenset[str]
    #: Per sentence, the answer kinds it holds ("number", "date", "person").
    kinds: tuple[frozenset[str], ...]


@dataclass
class _Sentence:
    """A sentence of a retrieved passage, with what ranks it."""

    doc_id: str
    index: int
    score: float
    retrieval: float
    dense: float
    hits: list[Hit]
    #: Set once ranking is done (see `_relevance`).
    relevance: float = 0.0

    @property
    def rank(self) -> float:
        return RETRIEVAL_WEIGHT * self.retrieval + (1 - RETRIEVAL_WEIGHT) * self.score


SentenceScorer = Callable[[Query, list[str]], np.ndarray]

#: Share of the passage's retrieval score in a sentence's rank; the rest is
#: the sentence's own term score. A passage score is shared by all its
#: sentences, so it mostly decides between articles.
RETRIEVAL_WEIGHT = 0.2
#: Weight of a question term found only around a sentence (neighbours,
#: heading, title) rather than in it.
CONTEXT_WEIGHT = 0.5
#: Factor on the relevance of an excerpt whose article never mentions a name
#: or number of the question ("à Lyon", "en 1995", "Google").
MISSING_KEY_FACTOR = 0.5
#: Factor on the score of a sentence that lacks the kind of answer the
#: question wants (no number for "Combien…", no date for "Quand…").
MISSING_KIND_FACTOR = 0.7
#: How many closest passages an abstention offers.
CLOSEST = 3


def build_answer(
    query: Query,
    hits: list[Hit],
    docs: Mapping[str, Document],
    *,
    k: int,
    mode: str,
    min_relevance: float,
    excerpt_chars: int,
    dense_scorer: SentenceScorer | None = None,
    warnings: tuple[str, ...] = (),
) -> Answer:
    """Up to `k` excerpts whose relevance reaches `min_relevance`, best first;
    otherwise an abstention that keeps the closest excerpts apart.

    `dense_scorer(query, sentences)` picks the highlight when no sentence
    shares a term with the question (a paraphrase found by the dense side).
    """
    ranked = _rank_sentences(query, hits, docs)
    used: dict[str, set[int]] = {}
    excerpts: list[Excerpt] = []
    below: list[_Sentence] = []
    for sentence in ranked:
        if sentence.index in used.get(sentence.doc_id, ()):
            continue
        if sentence.relevance < min_relevance:
            below.append(sentence)
            continue
        excerpts.append(_excerpt(sentence, query, docs, excerpt_chars, used, dense_scorer))
        if len(excerpts) == k:
            break
    if excerpts:
        return Answer(query.text, mode, tuple(excerpts), False, "", warnings)
    used = {}
    closest = []
    for sentence in sorted(below, key=lambda s: -s.relevance):
        if sentence.index not in used.get(sentence.doc_id, ()):
            closest.append(_excerpt(sentence, query, docs, excerpt_chars, used, dense_scorer))
            if len(closest) == CLOSEST:
                break
    best = closest[0].scores.relevance if closest else 0.0
    reason = (
        "The articles do not answer this question: the closest passage has "
        f"relevance {best:.2f}, below the threshold {min_relevance:.2f}."
    )
    return Answer(query.text, mode, (), True, reason, warnings, tuple(closest))


def _relevance(query: Query, sentence: _Sentence, docs: Mapping[str, Document]) -> float:
    """How well a sentence answers, on a 0..1 scale shared by all questions:
    the mean of its passage's cosine (floored at 0) and its term score, halved
    when its article never mentions a name or number of the question."""
    relevance = 0.5 * max(sentence.dense, 0.0) + 0.5 * sentence.score
    doc = docs[sentence.doc_id]
    if query.keys - _layout(doc.text, doc.title).vocabulary:
        relevance *= MISSING_KEY_FACTOR
    return relevance


def _rank_sentences(query: Query, hits: list[Hit], docs: Mapping[str, Document]) -> list[_Sentence]:
    """Every sentence inside a retrieved passage, best first. A sentence in
    several passages takes the best retrieval and dense scores among them."""
    if not hits:
        return []
    fused = np.array([h.fused for h in hits], dtype=np.float64)
    low, span = float(fused.min()), max(float(fused.max() - fused.min()), 1e-12)
    found: dict[tuple[str, int], _Sentence] = {}
    for hit in hits:
        p = hit.passage
        doc = docs[p.doc_id]
        layout = _layout(doc.text, doc.title)
        retrieval = (hit.fused - low) / span
        for i, sentence in enumerate(layout.sentences):
            if sentence.start < p.start or sentence.end > p.end:
                continue
            key = (p.doc_id, i)
            if key in found:
                s = found[key]
                s.retrieval = max(s.retrieval, retrieval)
                s.dense = max(s.dense, hit.dense)
                s.hits.append(hit)
            else:
                score = _sentence_score(query, layout, i)
                found[key] = _Sentence(p.doc_id, i, score, retrieval, hit.dense, [hit])
    for s in found.values():
        s.relevance = _relevance(query, s, docs)
    return sorted(found.values(), key=lambda s: -s.rank)


def _sentence_score(query: Query, layout: _Layout, i: int) -> float:
    """Idf-weighted share of the question's terms in sentence `i`; a term
    only in its context counts `CONTEXT_WEIGHT`. Headings score half: they
    give context but do not answer; a sentence without the kind of answer
    the question wants scores `MISSING_KIND_FACTOR` of its share."""
    total = sum(query.weights.values())
    if total == 0:
        return 0.0
    own, around = layout.terms[i], layout.context[i]
    found = sum(
        w * (1.0 if t in own else CONTEXT_WEIGHT if t in around else 0.0)
        for t, w in query.weights.items()
    )
    factor = 0.5 if layout.heading[i] else 1.0
    if query.wants is not None and query.wants not in layout.kinds[i]:
        factor *= MISSING_KIND_FACTOR
    return found / total * factor


def _excerpt(
    best: _Sentence,
    query: Query,
    docs: Mapping[str, Document],
    max_chars: int,
    shown: dict[str, set[int]],
    dense_scorer: SentenceScorer | None,
) -> Excerpt:
    """The excerpt around sentence `best`, grown by neighbours not yet shown
    up to `max_chars`; its sentences are added to `shown`."""
    doc = docs[best.doc_id]
    used = shown.setdefault(doc.id, set())
    layout = _layout(doc.text, doc.title)
    spans = layout.sentences
    center = best.index
    if best.score <= 0 and dense_scorer is not None:
        # No sentence shares a word with the question: let the dense side pick
        # the sentence of the best passage closest in meaning.
        p = best.hits[0].passage
        inside = [
            i
            for i, s in enumerate(spans)
            if s.start >= p.start and s.end <= p.end and i not in used
        ] or [center]
        similarity = dense_scorer(query, [doc.text[spans[i].start : spans[i].end] for i in inside])
        center = inside[int(np.argmax(similarity))]
    first = last = center
    if spans[center].end - spans[center].start > max_chars:
        window = _cut(spans[center], max_chars, doc.text)
    else:
        grew = True
        while grew:
            grew = False
            if (
                last + 1 < len(spans)
                and last + 1 not in used
                and (spans[last + 1].end - spans[first].start <= max_chars)
            ):
                last += 1
                grew = True
            if (
                first > 0
                and first - 1 not in used
                and (spans[last].end - spans[first - 1].start <= max_chars)
            ):
                first -= 1
                grew = True
        window = Span(spans[first].start, spans[last].end)
    marked = [center]
    score = _sentence_score(query, layout, center)
    for i in range(first, last + 1):
        if i != center and not layout.heading[i] and score > 0:
            other = _sentence_score(query, layout, i)
            if other >= SECOND_HIGHLIGHT * score and len(marked) < 2:
                marked.append(i)
    highlights = tuple(
        Span(
            max(spans[i].start, window.start) - window.start,
            min(spans[i].end, window.end) - window.start,
        )
        for i in sorted(marked)
    )
    in_window = [
        h for h in best.hits if h.passage.start < window.end and h.passage.end > window.start
    ]
    top = (in_window or best.hits)[0]
    used.update(range(first, last + 1))
    citation = Citation(
        doc_id=doc.id,
        title=doc.title,
        file=doc.path,
        start=window.start,
        end=window.end,
        passage=top.passage.number,
        passages=tuple(sorted({h.passage.number for h in in_window or best.hits})),
    )
    return Excerpt(
        text=doc.text[window.start : window.end],
        citation=citation,
        scores=Scores(top.dense, top.lexical, top.fused, round(best.relevance, 4)),
        highlights=highlights,
    )


def _cut(sentence: Span, max_chars: int, text: str) -> Span:
    """The start of a sentence too long to show whole, cut at a space."""
    end = text.rfind(" ", sentence.start, sentence.start + max_chars)
    return Span(sentence.start, end if end > sentence.start else sentence.start + max_chars)


@lru_cache(maxsize=1024)
def _layout(text: str, title: str) -> _Layout:
    sentences = tuple(split_sentences(text))
    terms = tuple(frozenset(analyze(text[s.start : s.end])) for s in sentences)
    heading = tuple(_is_heading(text, s) for s in sentences)
    title_terms = frozenset(analyze(title))
    context, section = [], frozenset[str]()
    for i, own in enumerate(terms):
        if heading[i]:
            section = own
        near = (terms[i - 1] if i > 0 else frozenset()) | (
            terms[i + 1] if i + 1 < len(terms) else frozenset()
        )
        context.append((near | section | title_terms) - own)
    vocabulary = frozenset().union(*terms, title_terms)
    kinds = tuple(
        frozenset(k for k in ANSWER_KINDS if has_answer_type(text[s.start : s.end], k))
        for s in sentences
    )
    return _Layout(sentences, terms, tuple(context), heading, vocabulary, kinds)


def _is_heading(text: str, span: Span) -> bool:
    """A short line of its own with no closing punctuation: a title or heading."""
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    line_end = len(text) if line_end < 0 else line_end
    whole = text[line_start:line_end].strip() == text[span.start : span.end]
    return whole and span.end - span.start <= 120 and text[span.end - 1] not in '.!?…»":'
