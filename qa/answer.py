"""Turn ranked hits into an `Answer`: cited excerpts centred on the
sentences that answer, or an abstention. No text is generated: every excerpt
is a slice of `Document.text`, every highlight a slice of its excerpt.

Excerpts are built around sentences, not passages: every sentence of the
retrieved passages gets its signals (its own and its passage's cosine with
the question, the question terms it and its context hold, whether it holds
the kind of answer asked for...) and the fitted model of `qa.decide` turns
them into the probability that it answers. The most probable sentence
becomes the first excerpt with its neighbours around it, the next one not
yet shown the second, and so on; when none reaches the model's threshold the
assistant abstains. A long article can so give two excerpts, and the
answering sentence is never cut out by trimming.

A question that asks two things ("Combien d'emplois en Midi-Pyrénées, et
combien de salariés en Occitanie ?") is also ranked part by part: each
part's best sentence leads, then every sentence with the best confidence
any part gives it, so each part's answer comes first even when the whole
question leans to one article. Measured on dev against diversifying the
excerpts across articles (maximal marginal relevance), which moved no dev
answer and pushed single-article answers down on test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from qa.annotate import DocumentNotes, SentenceNote
from qa.corpus import Document
from qa.decide import Answerability, Signals, feature_matrix, load_model
from qa.errors import IndexCorruptedError
from qa.retrieval import Hit, Query
from qa.short import (
    SHORT_FEATURES,
    ShortAnswer,
    SpanCandidate,
    short_kind,
    short_matrix,
    span_candidates,
)
from qa.text import (
    ENTITY_ANSWERS,
    Span,
    analyze,
    counted_word,
    counts_term,
    fold,
    is_english,
    key_words,
    ordered_stems,
    split_sentences,
    typed_spans,
    words_with_terms,
)
from qa.words import WordVectors, closest, load_word_vectors


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
    #: The article's date and byline, when known (`qa.corpus.Document`).
    date: str | None = None
    author: str | None = None

    @property
    def byline(self) -> str:
        """ "Jean Dupont, 2019-09-12", the part known, or ""."""
        return ", ".join(x for x in (self.author, self.date) if x)


@dataclass(frozen=True)
class Scores:
    """Retrieval scores of the excerpt's best passage, and the probability
    (`qa.decide`) that its answering sentence answers the question."""

    dense: float
    lexical: float
    fused: float
    confidence: float


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

    @property
    def said(self) -> str:
        """What the excerpt answers with: its marked sentences joined by
        " … ", or the whole excerpt when none is marked."""
        return " … ".join(self.highlighted) or self.text


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
    #: What the question asks for, cut from the first excerpt (`qa.short`),
    #: when the model trusts it enough.
    short: ShortAnswer | None = None

    @property
    def best_confidence(self) -> float:
        return max((e.scores.confidence for e in self.excerpts + self.closest), default=0.0)

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
    #: Per sentence, its words stemmed in order (see `qa.text.ordered_stems`).
    stems: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SentenceIndex:
    """What the index stored about one document's sentences: spaCy's
    entities and one embedding per sentence (rows match `_Layout.sentences`)."""

    notes: DocumentNotes
    vectors: np.ndarray


@dataclass
class Candidate:
    """A sentence of a retrieved passage, with what the decision reads."""

    doc_id: str
    index: int
    hits: list[Hit]
    retrieval: float
    dense: float
    signals: Signals | None = None
    #: Probability that it answers (`qa.decide`), set once all are scored.
    confidence: float = 0.0


#: A second sentence is highlighted too when its confidence is this close to the best one's.
SECOND_HIGHLIGHT = 0.8
#: How many closest passages an abstention offers.
CLOSEST = 3


def build_answer(
    query: Query,
    hits: list[Hit],
    docs: Mapping[str, Document],
    sentences: Mapping[str, SentenceIndex],
    *,
    k: int,
    mode: str,
    min_confidence: float | None = None,
    excerpt_chars: int,
    model: Answerability | None = None,
    warnings: tuple[str, ...] = (),
    parts: Sequence[tuple[Query, list[Hit]]] = (),
) -> Answer:
    """Up to `k` excerpts whose confidence reaches the threshold (the fitted
    model's, or `min_confidence`), best first; otherwise an abstention that
    keeps the closest excerpts apart. For a question that asks two things,
    `parts` holds each part's query and hits: whether to answer is decided
    on the whole question, which excerpts to show on every part."""
    model = model or load_model()
    threshold = model.threshold if min_confidence is None else min_confidence
    ranked = rank_candidates(query, hits, docs, sentences, model)
    used: dict[str, set[int]] = {}
    excerpts: list[Excerpt] = []
    if ranked and ranked[0].confidence >= threshold:
        # The question is answered: the best k sentences are shown, each
        # with its own (lower) confidence, so that a second article's part
        # of the answer is not cut.
        ranked = merge_rankings(
            [ranked, *(rank_candidates(*part, docs, sentences, model) for part in parts)]
        )
        confidence = {(c.doc_id, c.index): c.confidence for c in ranked}
        for candidate in ranked:
            if candidate.index in used.get(candidate.doc_id, ()):
                continue
            excerpts.append(_excerpt(candidate, docs, excerpt_chars, used, confidence))
            if len(excerpts) == k:
                break
        # The first excerpt is built around the best candidate.
        short = short_answer(query, ranked[0], excerpts[0], docs, sentences, model)
        return Answer(query.text, mode, tuple(excerpts), False, "", warnings, short=short)
    confidence = {(c.doc_id, c.index): c.confidence for c in ranked}
    closest = []
    for candidate in ranked:
        if candidate.index not in used.get(candidate.doc_id, ()):
            closest.append(_excerpt(candidate, docs, excerpt_chars, used, confidence))
            if len(closest) == CLOSEST:
                break
    reason = explain_abstention(query, ranked[0] if ranked else None, threshold)
    return Answer(query.text, mode, (), True, reason, warnings, tuple(closest))


#: What a question of each kind asks for, as the reason for abstaining names it.
_ASKED = {
    "number": "le chiffre demandé",
    "money": "le montant demandé",
    "area": "la surface demandée",
    "percent": "la part demandée",
    "duration": "la durée demandée",
    "date": "la date demandée",
    "person": "le nom de la personne demandée",
    "place": "le lieu demandé",
    "organisation": "le nom de l'organisation demandée",
}


def explain_abstention(query: Query, best: Candidate | None, threshold: float) -> str:
    """Why the assistant does not answer, in the reader's words, from what
    the engine measured: a name no article mentions ("Aucun article ne parle
    de « Strasbourg »"), a word none uses, or, when the articles do talk
    about the question's subject, the kind of fact none of the closest
    sentences gives ("aucun ne donne le nombre d'élèves"). Then the
    confidence against the threshold."""
    score = best.confidence if best is not None else 0.0
    tail = f" (confiance {score:.2f}, sous le seuil {threshold:.2f})."
    words = words_with_terms(query.text)
    names = [w for w in key_words(query.text) if _all_unknown(w, query.unknown)]
    if names:
        return f"Aucun article ne parle {_neither('de', names)}{tail}"
    english = is_english(query.text)
    rare = [
        w
        for w, terms in words
        if not english and terms <= query.unknown and any(t in query.weights for t in terms)
    ]
    if rare:
        return f"Aucun article n'emploie {_neither('le mot', rare)}{tail}"
    signals = best.signals if best is not None else None
    kind = short_kind(query.wants, query.counted)
    if kind is not None and signals is not None and not signals.has_wanted_new:
        counted = counted_word(query.text)
        asked = _ASKED.get(kind, "ce qui est demandé")
        if kind == "number" and counted:
            asked = f"le nombre {'d’' if counted[:1].lower() in 'aeéèêiîoôuhy' else 'de '}{counted}"
        subject = [w for w in key_words(query.text) if not _all_unknown(w, query.unknown)]
        quoted = ", ".join(f"« {w} »" for w in dict.fromkeys(subject))
        about = f" : les passages les plus proches parlent de {quoted}" if subject else ""
        return f"Aucun article ne donne {asked}{about}{tail}"
    return f"Aucun passage des articles ne répond assez sûrement à la question{tail}"


def _all_unknown(word: str, unknown: frozenset[str]) -> bool:
    terms = frozenset(analyze(word, query=True))
    return bool(terms) and terms <= unknown


def _neither(lead: str, words: list[str]) -> str:
    """ "de « Strasbourg »", or "ni de « Lyon » ni de « Brest »" for several."""
    quoted = [f"{lead} « {w} »" for w in dict.fromkeys(words)]
    return quoted[0] if len(quoted) == 1 else " ".join(f"ni {q}" for q in quoted)


def short_spans(
    query: Query,
    lead: Candidate,
    docs: Mapping[str, Document],
    sentences: Mapping[str, SentenceIndex],
) -> tuple[list[SpanCandidate], np.ndarray]:
    """The spans of the answering sentence `lead` that may be the short
    answer, and their rows of `qa.short.SHORT_FEATURES`."""
    kind = short_kind(query.wants, query.counted)
    if kind is None:
        return [], np.zeros((0, len(SHORT_FEATURES)))
    spans = span_candidates(
        docs[lead.doc_id].text,
        sentences[lead.doc_id].notes.sentences[lead.index],
        kind,
        fold(query.text),
        frozenset(query.weights),
        query.counted,
    )
    x = short_matrix(spans, lead.confidence, kind, query.counted is not None)
    return spans, x


def short_answer(
    query: Query,
    lead: Candidate,
    excerpt: Excerpt,
    docs: Mapping[str, Document],
    sentences: Mapping[str, SentenceIndex],
    model: Answerability,
) -> ShortAnswer | None:
    """The most probable span of the first excerpt's answering sentence,
    when the model's probability clears its threshold; offsets into `excerpt`."""
    if model.short is None:
        return None
    spans, x = short_spans(query, lead, docs, sentences)
    window = excerpt.citation
    inside = [i for i, s in enumerate(spans) if s.start >= window.start and s.end <= window.end]
    if not inside:
        return None
    p = model.short.probabilities(x[inside])
    best = int(np.argmax(p))
    if p[best] < model.short_threshold:
        return None
    span = spans[inside[best]]
    start, end = span.start - window.start, span.end - window.start
    kind = short_kind(query.wants, query.counted) or ""
    return ShortAnswer(excerpt.text[start:end], kind, start, end, round(float(p[best]), 4))


def merge_rankings(rankings: list[list[Candidate]]) -> list[Candidate]:
    """One ranking from the whole question's (first) and its parts': each
    part's best sentence first, best first, then every other sentence with
    the best confidence any ranking gave it.

    Putting the parts' best first gives each part's answer a place among the
    first excerpts even when the whole question's best sentences all answer
    one part (dev, two-article questions: answered first 0.469 -> 0.571
    against ranking by best confidence alone, `qa eval --split dev`)."""
    best: dict[tuple[str, int], Candidate] = {}
    for ranking in rankings:
        for c in ranking:
            key = (c.doc_id, c.index)
            if key not in best or c.confidence > best[key].confidence:
                best[key] = c
    leaders: dict[tuple[str, int], Candidate] = {}
    for ranking in rankings[1:]:
        leader = next((c for c in ranking if (c.doc_id, c.index) not in leaders), None)
        if leader is not None:
            leaders[leader.doc_id, leader.index] = best[leader.doc_id, leader.index]
    rest = [c for key, c in best.items() if key not in leaders]
    by_confidence = sorted(leaders.values(), key=lambda c: -c.confidence)
    return by_confidence + sorted(rest, key=lambda c: -c.confidence)


def rank_candidates(
    query: Query,
    hits: list[Hit],
    docs: Mapping[str, Document],
    sentences: Mapping[str, SentenceIndex],
    model: Answerability | None,
) -> list[Candidate]:
    """Every sentence inside a retrieved passage with its signals and (given
    a model) its confidence, best first. A sentence in several passages takes
    the best retrieval and dense scores among them."""
    found = candidates(query, hits, docs, sentences)
    if model is not None and found:
        confidence, _ = model.score(feature_matrix([c.signals for c in found]))
        for c, p in zip(found, confidence, strict=True):
            c.confidence = float(p)
    return sorted(found, key=lambda c: -c.confidence)


def candidates(
    query: Query,
    hits: list[Hit],
    docs: Mapping[str, Document],
    sentences: Mapping[str, SentenceIndex],
) -> list[Candidate]:
    """The candidate sentences of `hits`, in passage order, with their signals."""
    if not hits:
        return []
    fused = np.array([h.fused for h in hits], dtype=np.float64)
    low, span = float(fused.min()), max(float(fused.max() - fused.min()), 1e-12)
    found: dict[tuple[str, int], Candidate] = {}
    for hit in hits:
        p = hit.passage
        layout = _layout(docs[p.doc_id].text, docs[p.doc_id].title)
        retrieval = (hit.fused - low) / span
        for i, sentence in enumerate(layout.sentences):
            if sentence.start < p.start or sentence.end > p.end:
                continue
            key = (p.doc_id, i)
            if key in found:
                c = found[key]
                c.retrieval = max(c.retrieval, retrieval)
                c.dense = max(c.dense, hit.dense)
                c.hits.append(hit)
            else:
                found[key] = Candidate(p.doc_id, i, [hit], retrieval, hit.dense)
    english = is_english(query.text)
    asked = fold(query.text)
    total = sum(query.weights.values()) or 1.0

    def share(terms: frozenset[str]) -> float:
        """The share of the question's idf weight on `terms`."""
        return sum(w for t, w in query.weights.items() if t in terms) / total

    unknown = share(query.unknown)
    attribute = {t: w for t, w in query.weights.items() if t not in query.keys}
    attribute_total = sum(attribute.values())
    vectors = load_word_vectors()
    asked_words = _question_words(query, vectors)
    for doc_id in {c.doc_id for c in found.values()}:
        layout = _layout(docs[doc_id].text, docs[doc_id].title)
        if len(sentences[doc_id].notes.sentences) != len(layout.sentences):
            raise IndexCorruptedError(
                doc_id, "its stored sentences differ from the text's; rebuild"
            )
    ranked = list(found.values())
    soft = _soft_coverage(
        asked_words,
        vectors,
        [
            _sentence_words(docs[c.doc_id].text, docs[c.doc_id].title, vectors)[c.index]
            for c in ranked
        ],
    )
    for c, (soft_all, soft_asked, soft_least) in zip(ranked, soft.tolist(), strict=True):
        doc = docs[c.doc_id]
        layout = _layout(doc.text, doc.title)
        stored = sentences[c.doc_id]
        own, around = layout.terms[c.index], layout.context[c.index]
        note = stored.notes.sentences[c.index]
        has, new = _holds_wanted(query.wants, doc.text, note, asked)
        absent = [w for t, w in query.weights.items() if t not in own and t not in around]
        keys = query.keys
        c.signals = Signals(
            sentence_cos=float(stored.vectors[c.index] @ query.vector),
            passage_cos=c.dense,
            retrieval=c.retrieval,
            coverage=share(own),
            context_coverage=share(around),
            wants_kind=query.wants is not None,
            has_wanted=has,
            has_wanted_new=new,
            missing_keys_article=len(keys - layout.vocabulary) / len(keys) if keys else 0.0,
            missing_keys_corpus=len(keys & query.unknown) / len(keys) if keys else 0.0,
            unknown_terms=unknown,
            heading=layout.heading[c.index],
            english=english,
            asks_count=query.counted is not None,
            counts_asked=query.counted is not None
            and counts_term(layout.stems[c.index], query.counted),
            missing_top_term=max(absent, default=0.0) / total,
            attribute_coverage=sum(w for t, w in attribute.items() if t in own) / attribute_total
            if attribute_total
            else 1.0,
            soft_coverage=soft_all,
            soft_attribute_coverage=soft_asked,
            soft_attribute_min=soft_least,
        )
    return ranked


@dataclass(frozen=True)
class _AskedWords:
    """A question's words for soft matching: vector rows, idf weights, and
    which are not names or figures (what is asked about)."""

    rows: np.ndarray
    weights: np.ndarray
    attribute: np.ndarray


def _question_words(query: Query, vectors: WordVectors) -> _AskedWords:
    words = words_with_terms(query.text)
    weights = np.array([max(query.weights.get(t, 0.0) for t in terms) for _, terms in words])
    attribute = np.array([not (terms & query.keys) for _, terms in words], dtype=bool)
    return _AskedWords(vectors.rows([w for w, _ in words]), weights, attribute)


@lru_cache(maxsize=1024)
def _sentence_words(text: str, title: str, vectors: WordVectors) -> tuple[np.ndarray, ...]:
    """The vector rows of each sentence's words (stop words and words without
    a vector left out), once per document."""
    out = []
    for span in _layout(text, title).sentences:
        rows = vectors.rows([w for w, _ in words_with_terms(text[span.start : span.end])])
        out.append(rows[rows >= 0])
    return tuple(out)


def _soft_coverage(
    asked: _AskedWords, vectors: WordVectors, sentences: Sequence[np.ndarray]
) -> np.ndarray:
    """How closely each sentence's words match the question's (`qa.words`),
    one row per sentence: the idf-weighted mean of each question word's best
    similarity, the same over the words that are not names or figures, and
    the least of those."""
    best = closest(vectors, asked.rows, sentences)
    out = np.zeros((len(sentences), 3))
    total = float(asked.weights.sum())
    if total > 0:
        out[:, 0] = asked.weights @ best / total
    attribute = asked.attribute
    if not attribute.any():
        out[:, 1:] = 1.0
        return out
    part = float(asked.weights[attribute].sum())
    if part > 0:
        out[:, 1] = asked.weights[attribute] @ best[attribute] / part
    out[:, 2] = best[attribute].min(axis=0)
    return out


def _holds_wanted(
    wants: str | None, text: str, sentence: SentenceNote, asked: str
) -> tuple[bool, bool]:
    """Whether the sentence holds the kind of answer asked for, and whether
    it holds one the question does not already name ("Qui dirige Digital
    Place ?" is not answered by a sentence whose only name is Digital Place)."""
    if wants is None:
        return False, False
    found = [
        text[e.start : e.end] for e in sentence.entities if e.kind in ENTITY_ANSWERS.get(wants, ())
    ]
    if wants not in ENTITY_ANSWERS:
        found += typed_spans(text[sentence.start : sentence.end], wants)
    new = [f for f in found if fold(f).strip() and fold(f).strip() not in asked]
    return bool(found), bool(new)


def _excerpt(
    best: Candidate,
    docs: Mapping[str, Document],
    max_chars: int,
    shown: dict[str, set[int]],
    confidence: Mapping[tuple[str, int], float],
) -> Excerpt:
    """The excerpt around sentence `best`, grown by neighbours not yet shown
    up to `max_chars`; its sentences are added to `shown`."""
    doc = docs[best.doc_id]
    used = shown.setdefault(doc.id, set())
    layout = _layout(doc.text, doc.title)
    spans = layout.sentences
    center = best.index
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
    for i in range(first, last + 1):
        other = confidence.get((doc.id, i), 0.0)
        if (
            i != center
            and not layout.heading[i]
            and len(marked) < 2
            and other > 0
            and other >= SECOND_HIGHLIGHT * best.confidence
        ):
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
        date=doc.date,
        author=doc.author,
    )
    return Excerpt(
        text=doc.text[window.start : window.end],
        citation=citation,
        scores=Scores(top.dense, top.lexical, top.fused, round(best.confidence, 4)),
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
    stems = tuple(ordered_stems(text[s.start : s.end]) for s in sentences)
    return _Layout(sentences, terms, tuple(context), heading, vocabulary, stems)


def _is_heading(text: str, span: Span) -> bool:
    """A short line of its own with no closing punctuation: a title or heading."""
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    line_end = len(text) if line_end < 0 else line_end
    whole = text[line_start:line_end].strip() == text[span.start : span.end]
    return whole and span.end - span.start <= 120 and text[span.end - 1] not in '.!?…»":'
