"""French text analysis: sentence spans for chunking and highlights, tokens for BM25.

Both functions work on text that `qa.corpus` has already normalised (NFKC,
plain spaces), so every offset they return points into that text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

#: Bumped whenever `analyze` changes output, so a saved BM25 index is rebuilt.
ANALYZER_VERSION = "fr-snowball-2"


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` into some text."""

    start: int
    end: int


# --- sentences -------------------------------------------------------------

# Words that end with a period without ending a sentence ("M. Macron",
# "cf. p. 3"). Compared lowercased, without the period.
_ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle mlles dr pr me mgr st ste cf p pp vol no av bd gén col "
    "lt prof fig tél art chap éd coll vs mr mrs ms jr sr env ex".split()
)
# A sentence ends at . ! ? or … , possibly followed by closing quotes or
# brackets (French puts a space before »: "Occitanie. »").
_END = re.compile(r"[.!?…]+(?:\s*[»”\"')\]])*")
# What may start the next sentence: a capital, a digit or an opening quote.
_NEXT_START = re.compile(r"\s+(?=[«“\"'(\[—–-]?\s*[A-ZÀ-ÖØ-Þ0-9«“])")
_WORD_BEFORE = re.compile(r"(\w+)\.+$")


def _is_abbreviation(text_before: str) -> bool:
    match = _WORD_BEFORE.search(text_before)
    if match is None:
        return False
    word = match.group(1)
    # A lone capital is an initial ("J. Dupont"), not the end of a sentence.
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def split_sentences(text: str) -> list[Span]:
    """Split `text` into sentence spans (stripped of surrounding whitespace).

    A line break always ends a sentence: headings and captions carry no final
    period. Within a line, a sentence ends at terminal punctuation followed by
    whitespace and a capital, digit or opening quote, unless the word before
    the period is an abbreviation or an initial. Numbers such as "25.000",
    "1.500" or "3,7 %" never split because no space follows their separator.
    """
    spans: list[Span] = []
    line_start = 0
    for line in text.split("\n"):
        cursor = 0
        for end_match in _END.finditer(line):
            next_match = _NEXT_START.match(line, end_match.end())
            if next_match is None:
                continue
            if end_match.group().startswith(".") and _is_abbreviation(
                line[: end_match.start() + 1]
            ):
                continue
            spans.extend(_stripped(line, cursor, end_match.end(), line_start))
            cursor = end_match.end()
        spans.extend(_stripped(line, cursor, len(line), line_start))
        line_start += len(line) + 1
    return spans


def _stripped(line: str, start: int, end: int, offset: int) -> list[Span]:
    piece = line[start:end]
    if not piece.strip():
        return []
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    return [Span(offset + start + lead, offset + end - trail)]


# --- tokens for BM25 ------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
# French elisions, stripped before tokenising ("l'IA" -> "IA", "jusqu'au" -> "au").
_ELISION = re.compile(r"\b(?:l|d|qu|n|s|c|j|m|t|jusqu|lorsqu|puisqu|quoiqu)'(?=\w)")
# English possessive ("Occitania's").
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")
# Digit groups: "34 000", "25.000", "1,500" -> "34000", "25000", "1500".
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:[ .,]\d{3})+(?![\d]|[.,]\d)")
# Decimal comma or point: "3,7" and "3.7" both become "3,7".
_DECIMAL = re.compile(r"(?<=\d)[.,](?=\d)")
_TOKEN = re.compile(r"\d+(?:,\d+)?(?!\w)|\w+(?:'\w+)*")
# Hyphenated compounds of real words ("start-up", "éco-système") also count as
# one word, so that "startup" and "écosystème" find them.
_COMPOUND = re.compile(r"(?<![\w-])[^\W\d_]{2,}(?:-[^\W\d_]{2,})+(?![\w-])")

# NLTK's French and English lists as bm25s ships them, plus question words
# (users ask questions; the articles do not contain "combien" or "where").
# "ai" is kept out: in these articles it is far more often "AI" than "j'ai".
_EXTRA_STOPWORDS = (
    "quel quelle quels quelles combien comment pourquoi quand ou quoi lequel laquelle "
    "lesquels est-ce cette cet ces aux leurs plus tres aussi "
    "what where who whom whose which when why how does do did has have had been "
    "its from about many much there"
).split()


def fold(text: str) -> str:
    """Lowercase, unify apostrophes and remove accents ("Économie" -> "economie")."""
    text = text.casefold().translate(_APOSTROPHES).translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """French and English stop words, accent-folded like the tokens they filter."""
    words = {fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN, *_EXTRA_STOPWORDS)}
    return frozenset(words - {"ai"})


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def tokenize(text: str) -> list[str]:
    """Folded, elision-free tokens of `text`, stop words included, not stemmed."""
    text = _ELISION.sub("", fold(text))
    text = _POSSESSIVE.sub("", text)
    text = _THOUSANDS.sub(lambda m: re.sub(r"[ .,]", "", m.group()), text)
    text = _DECIMAL.sub(",", text)
    joined = [m.group().replace("-", "") for m in _COMPOUND.finditer(text)]
    return _TOKEN.findall(text) + joined


def analyze(text: str) -> list[str]:
    """BM25 terms of `text`: lowercased, accent-folded, elisions and stop words
    removed, Snowball French stems.

    Accents are folded before stemming so that a question typed without
    accents ("securite") gets the same stems as the article ("sécurité"), and
    a final plural "s" is dropped so "emploi" finds "emplois".
    """
    stop = stopwords()
    words = [_singular(t) for t in tokenize(text) if t not in stop and (len(t) > 1 or t.isdigit())]
    return _stemmer().stemWords(words)


def _singular(token: str) -> str:
    """Drop a plural "s" that Snowball keeps after a vowel ("emplois", "euros")."""
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token
