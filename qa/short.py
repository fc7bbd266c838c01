"""The short answer: the span of the answering sentence that holds what the
question asks for ("Réponse : 40 start-up"), shown before the excerpts.

Where the question wants a person, a place, an organisation, a number, an
amount, a date or a duration (`Query.wants`), every span of that kind in the
first excerpt's answering sentence is a candidate: spaCy's entities stored
with the index for names, patterns for figures and dates (a figure keeps
the words that say what it counts, "2 600 chercheurs"; a date its
preposition, "fin octobre"). A span the question already names is not an
answer. The fitted model of `qa.decide` gives each candidate the probability
that it is the answer; the best one is offered only when that probability
clears the threshold chosen on dev, so a reader who sees a short answer can
trust it as much as the dev figures say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.annotate import SentenceNote
from qa.text import (
    ENTITY_ANSWERS,
    MONTHS,
    SEASONS,
    WEEKDAYS,
    fold,
    ordered_stems,
    stopwords,
)

#: A short answer is at most this many words (the evaluation's rule too).
MAX_WORDS = 8

_FIGURE = r"\d+(?:[  .,]\d{3})*(?:[.,]\d+)?"
_WRITTEN = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
    r"vingt|trente|quarante|cinquante|soixante|cent|mille|une? dizaine|une? douzaine|"
    r"une? vingtaine|une? trentaine|une? quarantaine|une? cinquantaine|une? centaine|"
    r"des dizaines|des centaines|des milliers|des dizaines de milliers|la moitié|le double|"
    r"two|three|four|five|six|seven|eight|nine|ten|twenty|hundred|thousand"
)
_ORDINAL = r"premi[eè]re?|seconde?|\w+i[eè]me|first|second|third|\w+th"
_ABOUT = (
    r"(?:(?:près|plus|moins|autour|au moins|environ|quelque|presque|jusqu['’]à|entre|"
    r"more than|less than|about|nearly|over|some)\s+(?:de\s+|d['’]\s*)?)?"
)
_UNITS = {
    "money": r"\s*(?:millions?|milliards?|k)?\s*(?:d['’]\s*)?(?:euros?|€|\$|dollars?)",
    "area": r"\s*(?:m2|m²|km2|km²|hectares?|ha)\b",
    "percent": r"\s*(?:%|pour ?cent|percent)",
    "duration": (
        r"\s*(?:ans?|années?|mois|semaines?|jours?|heures?|minutes?|years?|months?|weeks?|"
        r"days?|hours?)\b"
    ),
}
_ONE = rf"(?:{_FIGURE}|(?<![\w-])(?:{_WRITTEN})(?:-(?:et-)?(?:{_WRITTEN}))*\b)"
# "2 à 5 millions", "entre 40 et 50": a range is one answer.
_NUMBER = rf"(?:{_ONE}\s*(?:à|-|–|et|ou|to)\s*)?{_ONE}"
# A date with its preposition ("fin octobre", "depuis 2019"). The months,
# seasons and weekdays are `qa.text`'s. A time said without a figure
# ("prochainement", "depuis plusieurs mois") is not cut as a short answer,
# though the has-the-kind signal counts it: cutting it too moved nothing on
# dev and lost a test question to the refit (README, Tried and dropped).
_DATE = re.compile(
    r"(?:\b(?:en|depuis|dès|fin|début|mi|courant|à partir de|d['’]\s*ici(?: à)?|avant|après|"
    r"in|since|by|until|from)[\s-]+)?"
    rf"(?:(?:\d{{1,2}}(?:er)?\s+)?\b(?:{MONTHS})\b(?:\s+(?:19|20)\d\d)?|\b(?:19|20)\d\d\b|"
    rf"\b(?:{WEEKDAYS})\b|(?:la )?fin de l['’]année|l['’]an(?:née)? (?:prochaine?|dernière?)|"
    rf"cette année|this year|next year|last year|(?:le )?(?:{SEASONS})\b)",
    re.IGNORECASE,
)
_PATTERNS = {
    kind: re.compile(rf"{_ABOUT}{_NUMBER}{unit}", re.IGNORECASE) for kind, unit in _UNITS.items()
}
_PATTERNS["date"] = _DATE
_PATTERNS["number"] = re.compile(rf"{_ABOUT}(?:{_NUMBER}|\b(?:{_ORDINAL})\b)", re.IGNORECASE)
# What a figure counts follows it: "2 600 chercheurs", "24 « apprenants »",
# "des dizaines de milliers", "neuf clusters IA".
_NEXT = re.compile(r"\s+(d['’]\s*|de\s+)?(?:«\s*)?([\w’'/-]+)(?:\s*»)?")
# Two capitalised words in a row: a name spaCy missed.
_NAME = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w-]+)+")
_WORD = re.compile(r"\w+")


def short_kind(wants: str | None, counted: str | None) -> str | None:
    """The kind of span to cut: the question's (`qa.text.answer_type`), but a
    count for "Combien de start-up… en moins de 6 mois ?", whose "mois" reads
    as a date to the question's kind and whose answer is "40 start-up"."""
    if counted is not None and wants in (None, "date"):
        return "number"
    return wants


@dataclass(frozen=True)
class ShortAnswer:
    """The short answer: `text` is `excerpt_text[start:end]` of the first
    excerpt; `confidence` the probability that it is the answer."""

    text: str
    kind: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class SpanCandidate:
    """A span of the answering sentence that may be the short answer, with
    what the model reads of it (see `qa.decide.SHORT_FEATURES`)."""

    start: int
    end: int
    entity: bool
    #: Place among the sentence's spans of this kind (0 first) and their number.
    order: int
    count: int
    #: Words between the span and the nearest word of the question.
    distance: int
    #: Whether the span holds what a "how many" question counts.
    counts_asked: bool
    words: int


def span_candidates(
    text: str,
    sentence: SentenceNote,
    wants: str,
    asked: str,
    question_terms: frozenset[str],
    counted: str | None,
) -> list[SpanCandidate]:
    """The spans of `sentence` (offsets into `text`) that hold an answer of
    kind `wants` the question (`asked`, folded) does not already name."""
    found: list[tuple[int, int, bool]] = []
    kinds = ENTITY_ANSWERS.get(wants)
    if kinds is not None:
        names = [
            (e.start, _more_capitals(text, _name_end(text, e.start, e.end), sentence.end), True)
            for e in sentence.entities
            if e.kind in kinds
        ]
        if wants == "person" and not names:
            names = _matches(_NAME, text, sentence, tail=False)
        found += names + _lists(text, [n for n in names if _is_new(text[n[0] : n[1]], asked)])
    elif wants in _PATTERNS:
        found += _matches(_PATTERNS[wants], text, sentence, tail=wants == "number")
    spans = sorted(
        {(s, e, entity) for s, e, entity in found if _is_new(text[s:e], asked)},
        key=lambda f: (f[0], f[1]),
    )
    stems = ordered_stems(text[sentence.start : sentence.end])
    near = [i for i, t in enumerate(stems) if t and t in question_terms]
    out = []
    for order, (start, end, entity) in enumerate(spans):
        first = len(ordered_stems(text[sentence.start : start]))
        last = first + max(len(ordered_stems(text[start:end])) - 1, 0)
        distance = min((max(first - i, i - last, 0) for i in near), default=len(stems))
        inside = ordered_stems(text[start:end])
        out.append(
            SpanCandidate(
                start,
                end,
                entity,
                order,
                len(spans),
                distance,
                counted is not None and counted in inside,
                len(_WORD.findall(text[start:end])),
            )
        )
    return out


def _matches(
    pattern: re.Pattern[str], text: str, sentence: SentenceNote, tail: bool
) -> list[tuple[int, int, bool]]:
    out = []
    for m in pattern.finditer(text, sentence.start, sentence.end):
        start, end = m.start(), m.end()
        if tail:
            end = _counted_words(text, end, sentence.end)
        while end > start and text[end - 1].isspace():
            end -= 1
        out.append((start, end, False))
    return out


_CAPITAL = re.compile(r"[ ]+[A-ZÀ-ÖØ-Þ][\w.&-]*")
_JOINED = re.compile(r"\s*(?:,|et|ou|and|or|&)?\s*(?:à|a|de|d['’]|in)?\s*")


def _more_capitals(text: str, end: int, limit: int) -> int:
    """`end` moved past up to two capitalised words that follow an entity:
    spaCy sometimes stops a name short ("Digital" for "Digital Place")."""
    for _ in range(2):
        more = _CAPITAL.match(text, end, limit)
        if more is None:
            break
        end = more.end()
    return end


def _name_end(text: str, start: int, end: int) -> int:
    """A name ends at a comma or bracket: spaCy sometimes runs on into an
    apposition ("Pierre Deniset, président de FrenchSouth.digital")."""
    cut = min(
        (i for i in (text.find(",", start, end), text.find(" (", start, end)) if i > 0), default=end
    )
    return cut


def _lists(text: str, names: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    """Runs of names joined by commas or "et" ("Toulouse et à Montpellier"):
    a plural question ("Dans quelles villes…") is answered by the run."""
    runs = []
    ordered = sorted(names)
    for i, (start, end, _) in enumerate(ordered):
        for later_start, later_end, _ in ordered[i + 1 :]:
            if _JOINED.fullmatch(text, end, later_start) is None:
                break
            end = later_end
            runs.append((start, end, True))
    return runs


def _counted_words(text: str, end: int, limit: int) -> int:
    """`end` moved past the noun phrase after a figure: up to three words,
    not past punctuation nor a stop word ("40 start-up de la région" ->
    "40 start-up"); "de" may only join the first ("2 millions d'euros")."""
    stop = stopwords()
    for i in range(3):
        more = _NEXT.match(text, end, limit)
        if more is None or fold(more.group(2)) in stop or (i > 0 and more.group(1)):
            break
        end = more.end()
    return end


def _is_new(span: str, asked: str) -> bool:
    key = fold(span).strip()
    return bool(key) and key not in asked


#: What the short-answer model reads of a span, in the order its weights use.
SHORT_FEATURES: tuple[str, ...] = (
    "confidence",
    "entity",
    "first",
    "only",
    "near",
    "counts_asked",
    "asks_count",
    "words",
    "wants_name",
)


def short_matrix(
    spans: list[SpanCandidate], confidence: float, wants: str, asks_count: bool
) -> np.ndarray:
    """One row of `SHORT_FEATURES` per span of one answering sentence whose
    own confidence (that it answers) is `confidence`."""
    rows = [
        [
            confidence,
            float(s.entity),
            float(s.order == 0),
            1.0 / s.count,
            1.0 / (1.0 + s.distance),
            float(s.counts_asked),
            float(asks_count),
            min(s.words, 2 * MAX_WORDS) / MAX_WORDS,
            float(wants in ENTITY_ANSWERS),
        ]
        for s in spans
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(spans), len(SHORT_FEATURES))
