"""Turn ranked hits into an `Answer`: merged, cited excerpts with the
answering sentences marked, or an abstention. No text is generated: every
excerpt is a slice of `Document.text`, every highlight a slice of its excerpt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from qa.corpus import Document
from qa.retrieval import Hit, Query
from qa.text import Span, analyze, split_sentences

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dicts and lists, plus each excerpt's highlighted strings."""
        data = asdict(self)
        for excerpt, out in zip(self.excerpts, data["excerpts"], strict=True):
            out["highlighted"] = excerpt.highlighted
        return data


@dataclass
class _Group:
    """Hits of one document whose passages overlap or touch, merged."""

    doc_id: str
    start: int
    end: int
    hits: list[Hit]


SentenceScorer = Callable[[Query, list[str]], np.ndarray]


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
    """Merge relevant hits into at most `k` excerpts, or abstain.

    `dense_scorer(query, sentences)` picks the highlight when no sentence
    shares a term with the question (a paraphrase found by the dense side).
    """
    relevant = [h for h in hits if h.relevance >= min_relevance]
    if not relevant:
        best = max((h.relevance for h in hits), default=0.0)
        reason = (
            "The articles do not answer this question: the closest passage has "
            f"relevance {best:.2f}, below the threshold {min_relevance:.2f}."
        )
        return Answer(query.text, mode, (), True, reason, warnings)
    groups = _merge(relevant)[:k]
    excerpts = tuple(
        _excerpt(g, docs[g.doc_id], query, excerpt_chars, dense_scorer) for g in groups
    )
    return Answer(query.text, mode, excerpts, False, "", warnings)


def _merge(hits: list[Hit]) -> list[_Group]:
    """Group hits (best first) with the groups of the same document whose
    spans they overlap or touch; a hit that bridges two groups joins them.
    Groups keep the order of their best hit, which stays first in `hits`."""
    groups: list[_Group] = []
    for hit in hits:
        p = hit.passage
        touching = [
            g
            for g in groups
            if g.doc_id == p.doc_id and p.start <= g.end + 2 and p.end >= g.start - 2
        ]
        if not touching:
            groups.append(_Group(p.doc_id, p.start, p.end, [hit]))
            continue
        keep, *others = touching
        keep.start = min(p.start, *(g.start for g in touching))
        keep.end = max(p.end, *(g.end for g in touching))
        keep.hits.append(hit)
        for g in others:
            keep.hits.extend(g.hits)
            groups.remove(g)
    return groups


def _excerpt(
    group: _Group,
    doc: Document,
    query: Query,
    max_chars: int,
    dense_scorer: SentenceScorer | None,
) -> Excerpt:
    sentences = [
        s for s in _sentences(doc.text) if s.start >= group.start and s.end <= group.end
    ] or [Span(group.start, group.end)]
    texts = [doc.text[s.start : s.end] for s in sentences]
    scores = np.array([query.coverage(set(analyze(t))) for t in texts], dtype=np.float32)
    if scores.max(initial=0.0) <= 0 and dense_scorer is not None:
        scores = dense_scorer(query, texts)
    best = int(np.argmax(scores))
    marked = [best]
    runner_up = [i for i in np.argsort(-scores, kind="stable") if i != best][:1]
    if (
        runner_up
        and scores[runner_up[0]] > 0
        and scores[runner_up[0]] >= SECOND_HIGHLIGHT * scores[best]
    ):
        marked.append(int(runner_up[0]))
    window = _window(sentences, sorted(marked), best, max_chars, doc.text)
    highlights = tuple(
        Span(max(s.start, window.start) - window.start, min(s.end, window.end) - window.start)
        for s in (sentences[i] for i in sorted(marked))
        if s.start < window.end and s.end > window.start
    )
    top = group.hits[0]
    citation = Citation(
        doc_id=doc.id,
        title=doc.title,
        file=doc.path,
        start=window.start,
        end=window.end,
        passage=top.passage.number,
        passages=tuple(sorted({h.passage.number for h in group.hits})),
    )
    return Excerpt(
        text=doc.text[window.start : window.end],
        citation=citation,
        scores=Scores(top.dense, top.lexical, top.fused, top.relevance),
        highlights=highlights,
    )


def _window(sentences: list[Span], marked: list[int], best: int, max_chars: int, text: str) -> Span:
    """The span to show: the whole group if short enough, else the marked
    sentences grown by neighbours while they fit in `max_chars`."""
    if sentences[-1].end - sentences[0].start <= max_chars:
        return Span(sentences[0].start, sentences[-1].end)
    first, last = marked[0], marked[-1]
    if sentences[last].end - sentences[first].start > max_chars:
        first = last = best
    if sentences[last].end - sentences[first].start > max_chars:
        return _cut(sentences[best], max_chars, text)
    grew = True
    while grew:
        grew = False
        if (
            last + 1 < len(sentences)
            and sentences[last + 1].end - sentences[first].start <= max_chars
        ):
            last += 1
            grew = True
        if first > 0 and sentences[last].end - sentences[first - 1].start <= max_chars:
            first -= 1
            grew = True
    return Span(sentences[first].start, sentences[last].end)


def _cut(sentence: Span, max_chars: int, text: str) -> Span:
    """The start of a sentence too long to show whole, cut at a space."""
    end = text.rfind(" ", sentence.start, sentence.start + max_chars)
    return Span(sentence.start, end if end > sentence.start else sentence.start + max_chars)


@lru_cache(maxsize=1024)
def _sentences(text: str) -> list[Span]:
    return split_sentences(text)
