"""French text analysis: sentence spans for chunking and highlights, tokens for BM25.

Both functions work on text that `qa.corpus` has already normalised (NFKC,
plain spaces), so every offset they return points into that text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

#: Bumped whenever `analyze` changes output, so a saved BM25 index is rebuilt.
ANALYZER_VERSION = "fr-snowball-3"


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
    # Only the tail can hold the word: searching the whole line prefix made
    # splitting quadratic in the paragraph length. A word cut by the window is
    # 30+ letters, which no abbreviation or initial is.
    match = _WORD_BEFORE.search(text_before[-32:])
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

APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
# French elisions, stripped before tokenising ("l'IA" -> "IA", "jusqu'au" -> "au").
_ELISION = re.compile(r"\b(?:l|d|qu|n|s|c|j|m|t|jusqu|lorsqu|puisqu|quoiqu)'(?=\w)")
# Inverted subject pronouns of French questions ("doit-il", "réunira-t-elle").
_INVERSION = re.compile(r"(?<=\w)-(?:t-)?(?:il|elle|ils|elles|on|je|tu|nous|vous|ce)\b")
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
    return strip_accents(text.casefold().translate(APOSTROPHES).translate(_LIGATURES))


def strip_accents(text: str) -> str:
    """`text` without its accents, case kept ("Bègles" -> "Begles")."""
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


def tokenize(text: str, query: bool = False) -> list[str]:
    """Folded, elision-free tokens of `text`, stop words included, not stemmed.

    A hyphenated compound gives its parts and the joined word in an article
    ("Midi-Pyrénées": midi, pyrénées, midipyrénées), but only the joined word
    in a question (`query`), where three terms would weigh it three times.
    """
    text = _ELISION.sub("", fold(text))
    text = _INVERSION.sub("", text)
    text = _POSSESSIVE.sub("", text)
    text = _THOUSANDS.sub(lambda m: re.sub(r"[ .,]", "", m.group()), text)
    text = _DECIMAL.sub(",", text)
    if query:
        return _TOKEN.findall(_COMPOUND.sub(lambda m: m.group().replace("-", ""), text))
    joined = [m.group().replace("-", "") for m in _COMPOUND.finditer(text)]
    return _TOKEN.findall(text) + joined


def analyze(text: str, query: bool = False) -> list[str]:
    """BM25 terms of `text`: lowercased, accent-folded, elisions and stop words
    removed, Snowball French stems.

    Accents are folded before stemming so that a question typed without
    accents ("securite") gets the same stems as the article ("sécurité"), and
    a final plural "s" is dropped so "emploi" finds "emplois".
    """
    stop = stopwords()
    words = [
        _singular(t) for t in tokenize(text, query) if t not in stop and (len(t) > 1 or t.isdigit())
    ]
    return _stemmer().stemWords(words)


def _singular(token: str) -> str:
    """Drop a plural "s" that Snowball keeps after a vowel ("emplois", "euros")."""
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


# A name (a capitalised word after the first) or a number in a question.
_KEY = re.compile(r"(?<!^)(?<![\w-])(?:[A-ZÀ-ÖØ-Þ][\w&.-]*\w|\d[\d .,]*\d|\d)")


def key_words(question: str) -> list[str]:
    """The names and numbers a question asks about, as written ("Lyon",
    "1995", "Google"). The first word is skipped (any sentence starts with a
    capital), and so are acronyms of up to three letters ("IA", "AI", "PIB"):
    they are translated or spelt out too often to be required verbatim."""
    return [
        m.group()
        for m in _KEY.finditer(question.strip())
        if not (m.group().isupper() and len(m.group()) <= 3 and m.group().isalpha())
    ]


def key_terms(question: str) -> frozenset[str]:
    """Terms of `key_words`: an article that never mentions one cannot answer."""
    return frozenset(t for w in key_words(question) for t in analyze(w, query=True))


_WORDS = re.compile(r"\w+(?:[-’']\w+)*")


def words_with_terms(question: str) -> list[tuple[str, frozenset[str]]]:
    """Each word of `question` as written, with the terms it analyses to
    (none for a stop word): what an explanation quotes back to the reader."""
    out = []
    for m in _WORDS.finditer(question):
        word = m.group()
        # "l'école" is quoted "école"
        word = _ELISION.sub("", word.translate(APOSTROPHES))
        terms = frozenset(analyze(word, query=True))
        if terms:
            out.append((word, terms))
    return out


# --- expected answer type -------------------------------------------------------

_NUMBER_WORDS = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|"
    r"quarante|cinquante|soixante|cent|mille|millions?|milliards?|dizaines?|douzaines?|"
    r"vingtaines?|trentaines?|quarantaines?|cinquantaines?|centaines?|moitié|double|"
    r"two|three|four|five|ten|twenty|hundred|thousand|million|billion"
)
# Months and seasons say when for the has-the-kind signal (`_HAS["date"]`)
# and for the short answers cut from a sentence (`qa.short`); weekdays for
# the short answers only (README, Tried and dropped).
MONTHS = (
    r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|"
    r"novembre|décembre|decembre|january|february|march|april|june|july|august|september|"
    r"october|november|december"
)
SEASONS = r"printemps|été|automne|hiver"
WEEKDAYS = (
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday"
)
_NUM = rf"(?:\d[\d .,]*|(?:{_NUMBER_WORDS})(?:-\w+)?)"
# When, said without a figure: news writes "sera dévoilé prochainement",
# "depuis plusieurs mois", "des relations de longue date", "d'ici à la fin
# de l'année". Such a phrase answers "Quand…" as a date does; one that says
# how long answers "Depuis combien de temps…" too.
_VAGUE_SPAN = (
    r"de longue date|depuis longtemps|(?:plusieurs|quelques) (?:années|ans|mois|semaines|jours)|"
    r"for (?:several|a few|many) (?:years|months|weeks)"
)
_VAGUE_WHEN = (
    r"prochainement|bientôt|hier|aujourd['’]hui|demain|à terme|cette année|"
    r"l['’]année (?:prochaine|dernière|passée)|l['’]an (?:prochain|dernier|passé)|"
    r"(?:la semaine|le mois) (?:prochain|dernier)e?|d['’]ici (?:à )?(?:la )?(?:fin|début|mi-)|"
    r"soon|yesterday|today|tomorrow|(?:next|last) (?:year|month|week)|by the end of"
)
# "Combien la Région a-t-elle investi…", "How much did it spend…": how much
# of a verb of spending, in the same clause, asks for a sum, not a count
# ("Quelle part… investit-elle…, et combien de chercheurs…" asks a share,
# then a count); so do "coûté" and the English of the French nouns
# ("funding", "fee"). Typed as a number, such a question met any figure of
# the article ("25.000 m2") and was answered; typed as money, only a
# sentence giving a sum answers it. Measured with `qa eval --split dev
# --train-answerability`, then `qa eval --split test` (README, "What moved").
_SPENDING = (
    r"investi\w*|dépens\w*|pa(?:yé\w*|ie\w*|yer|yent)|débours\w*|invest\w*|spen[dt]\w*|"
    r"paid|pay"
)
# Checked in this order: the first kind a question asks for wins.
_ASKS = {
    "area": re.compile(r"\b(?:surface|superficie|how (?:large|big))\b", re.IGNORECASE),
    "money": re.compile(
        r"\b(?:budget|montant|co[uû]t(?:s|e|es|ent|é|ée|és|ées|er|era|eront|ait|aient)?|prix|"
        r"financ\w*|argent|chiffre d['’]affaires|loyer|salaires?|rémunération|cotisations?|"
        r"tarifs?|subventions?|how much money|"
        r"costs?|costed|costing|revenue|turnover|rent|salary|funding|fees?|prices?)\b"
        rf"|\b(?:combien|how much)\b[^,;?]*\b(?:{_SPENDING})\b"
        rf"|\b(?:{_SPENDING})\b[^,;?]*\bcombien\s*[?!.]*\s*$",
        re.IGNORECASE,
    ),
    "percent": re.compile(
        r"\b(?:quelle part|pourcentage|proportion|what share|percent\w*)\b|%", re.IGNORECASE
    ),
    "duration": re.compile(
        r"\b(?:combien de temps|durée|dure|how long|sur quelle période)\b", re.IGNORECASE
    ),
    "date": re.compile(
        r"\b(?:quand|when|date|année|années|mois|à quel moment|what year|période)\b",
        re.IGNORECASE,
    ),
    "number": re.compile(
        r"\b(?:combien|how many|nombre|number of|population|chiffre|effectif)\b", re.IGNORECASE
    ),
    # The question word first, or last as typed in speech ("Le maire de
    # Bègles, c'est qui ?", "L'école est où ?").
    "person": re.compile(
        r"^\s*(?:qui|who)\b|\b(?:à qui|par qui|de qui|whom|c['’]est qui|est qui|sont qui)\b"
        r"|\b(?:qui|who)\s*[?!.]*\s*$",
        re.IGNORECASE,
    ),
    "place": re.compile(
        r"^\s*(?:où|ou se|where)\b|\b(?:c['’]est|est|sont|se \w+|s['’]\w+) où\b"
        r"|\b(?:où|where)\s*[?!.]*\s*$|\b(?:quelles? villes?|dans quelles? villes?|quel lieu|"
        r"quel endroit|quel quartier|quelle région|which (?:city|cities|town|place|region)|"
        r"in which)\b",
        re.IGNORECASE,
    ),
    "organisation": re.compile(
        r"\b(?:quel(?:le)?s? (?:entreprises?|sociétés?|organismes?|organisations?|"
        r"structures?|associations?|clusters?|laboratoires?|instituts?|incubateurs?|"
        r"groupes?|écoles?|partenaires?|médias?|journal)|which (?:company|companies|firm|"
        r"organi[sz]ation|group|body|institute|lab|laboratory|partner|cluster|school))\b",
        re.IGNORECASE,
    ),
}
_HAS = {
    "area": re.compile(rf"{_NUM}\s*(?:m2|km2|hectares?|ha)\b", re.IGNORECASE),
    "money": re.compile(
        rf"{_NUM}\s*(?:millions?|milliards?)?\s*(?:d['’]\s*)?(?:euros?|€|\$|dollars?)",
        re.IGNORECASE,
    ),
    "percent": re.compile(rf"{_NUM}\s*(?:%|pour ?cent|percent)", re.IGNORECASE),
    "duration": re.compile(
        rf"{_NUM}\s*(?:ans?|années?|mois|semaines?|jours?|heures?|years?|months?|weeks?|days?)\b"
        rf"|\b(?:de|from|entre|between) (?:19|20)\d\d (?:à|to|et|and) (?:19|20)\d\d\b"
        rf"|\b(?:{_VAGUE_SPAN})\b",
        re.IGNORECASE,
    ),
    "date": re.compile(
        rf"\b(?:{MONTHS}|{SEASONS})\b|\b(?:19|20)\d\d\b|\b(?:{_VAGUE_WHEN}|{_VAGUE_SPAN})\b",
        re.IGNORECASE,
    ),
    # A figure, but not a year: "en février 2025" does not say how many.
    "number": re.compile(
        rf"(?<!\d)(?!(?:19|20)\d\d(?!\d))\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE
    ),
    # Two capitalised words in a row: a person's name ("Fleur Pellerin").
    "person": re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w-]+)+"),
    # Places and organisations come from spaCy's entities (`qa.annotate`);
    # a capitalised word after the first is the fallback without them.
    "place": re.compile(r"(?<=\s)[A-ZÀ-ÖØ-Þ][\w-]+"),
    "organisation": re.compile(r"(?<=\s)[A-ZÀ-ÖØ-Þ][\w&.-]*\w"),
}
#: The entity kinds (`qa.annotate.ENTITY_KINDS`) that answer each kind of
#: question. An organisation may be any of spaCy's non-person names: its
#: French model tags most of the articles' organisations as places ("en
#: partenariat avec Simplon", "l'institut Aniti de Toulouse", "la TIC
#: Valley"), so that 13 of the 29 answerable dev questions asking for one
#: found none in the sentence that answers them.
ENTITY_ANSWERS = {
    "person": frozenset({"person"}),
    "place": frozenset({"place"}),
    "organisation": frozenset({"organisation", "misc", "place"}),
}
ANSWER_KINDS = tuple(_ASKS)


def answer_type(question: str) -> str | None:
    """What kind of answer a question wants (one of `ANSWER_KINDS`) or None:
    "Combien d'emplois…" wants a number, "Quelle surface…" an area, "Quand…"
    a date, "Qui…" a name."""
    for kind in ANSWER_KINDS:
        if _ASKS[kind].search(question):
            return kind
    return None


def typed_spans(text: str, kind: str) -> list[str]:
    """The strings of `text` that look like an answer of `kind` (a number, a
    date, an amount…), by pattern; names come from spaCy's entities."""
    return [m.group() for m in _HAS[kind].finditer(text)]


# "combien de salariés", "nombre d'emplois", "how many employees": the thing counted.
_COUNTED = re.compile(
    r"\b(?:combien|nombre|how many|number of)\s+(?:de\s+|d['’]\s*)?"
    r"(?:[\w-]+\s+){0,1}?([\w-]{3,})",
    re.IGNORECASE,
)


def counted_word(question: str) -> str | None:
    """What a "how many" question counts, as written ("salariés"), or None."""
    match = _COUNTED.search(question)
    return match.group(1) if match else None


def counted_term(question: str) -> str | None:
    """The stem of what a "how many" question counts ("Combien de salariés
    Airbus emploie-t-il ?" -> the stem of "salariés"), or None."""
    word = counted_word(question)
    terms = analyze(word, query=True) if word else []
    return terms[0] if terms else None


def ordered_stems(text: str) -> tuple[str, ...]:
    """Each word of `text` in order, stemmed as the question's terms are ("" for
    a stop word), digits kept: what `counts_term` reads."""
    raw = tokenize(text, query=True)  # compounds joined in place: "start-up" -> "startup"
    return tuple(
        t if t[:1].isdigit() else (s[0] if (s := analyze(t, query=True)) else "") for t in raw
    )


def counts_term(stems: tuple[str, ...], term: str) -> bool:
    """Whether a sentence (its `ordered_stems`) gives a number of `term` ("40
    start-up", "34 000 emplois"): a number followed within three words by it."""
    if term not in stems:
        return False
    return any(
        stems[j] == term
        for i, t in enumerate(stems)
        if t[:1].isdigit()
        for j in range(i + 1, min(i + 4, len(stems)))
    )


# "…, et quelle fonction occupe-t-elle ?", "… and who is its president?": a
# coordination followed by a second interrogative starts a second question.
_SECOND_QUESTION = re.compile(
    r"\s*(?:[,;]\s*)?\b(?:et|and)\s+(?=(?:quel(?:le)?s?|qui|combien|quand|où|comment|"
    r"pourquoi|d['’]\s*ici|depuis|lequel|laquelle|lesquel(?:le)?s|"
    r"(?:avec|à|dans|de|sur|pour|par|en) (?:quel(?:le)?s?|qui|combien)|"
    r"who|what|which|how|where|when|why|(?:at|in|on|for|with|from) which)\b)"
    r"|\s*;\s*",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """The questions a question asks: "Combien d'emplois en Midi-Pyrénées, et
    combien de salariés en Occitanie ?" asks two, each answered by its own
    article. One part (the question itself) when it asks one thing, or when a
    part would be too short to stand alone."""
    parts = [p.strip(" ,;?") for p in _SECOND_QUESTION.split(question)]
    if len(parts) < 2 or any(len(p.split()) < 3 for p in parts):
        return [question]
    return [p[:1].upper() + p[1:] + " ?" for p in parts]


# --- how a question is typed ---------------------------------------------------

# A request around the question, as people type to a chat: a greeting or an
# interjection ("Bonjour,", "Alors,", "Et", "Hi!"), then an imperative with
# its pronoun ("Dis-moi", "Explique-moi", "Dites-nous"), a question about
# whether the engine can tell ("Peux-tu me dire", "Pouvez-vous m'indiquer",
# "Sais-tu"), a wish ("J'aimerais savoir", "Merci de me dire", "Je
# cherche"), in English "(Can you) tell me", "Do you know", "I'd like to
# know"; with "s'il te plaît" / "please" and a colon or comma after it.
_OPENING = (
    r"(?:(?:bonjour|bonsoir|salut|coucou|hello|hi|hey|alors|et|donc|ok|okay|question|"
    r"excuse[sz]?-moi|pardon|euh|eh bien|so|well|stp|svp|please|merci(?!\s+de\b)|thanks|thank you|"
    r"s['’]il (?:te|vous) pla[iî]t)(?=[\s,!:.;])[\s,!:.;]*)*"
)
_ABLE = r"(?:peux|pourrais|sais|pouvez|pourriez|savez)"
_POLITE = r"(?:s['’]il (?:te|vous) pla[iî]t|svp|stp|please)"
_REQUEST = re.compile(
    rf"^\s*{_OPENING}(?:"
    r"(?:"
    r"[^\W\d_]+-moi"
    r"|(?:dites|donnez|indiquez|expliquez|précisez|rappelez|citez|racontez|montrez|présentez|"
    r"décrivez|résumez|listez|apprenez|trouvez)-nous"
    rf"|(?:(?:est-ce que|est-ce qu['’])\s*(?:tu|vous|on)\s+{_ABLE}|{_ABLE}-(?:tu|vous)"
    rf"|(?:tu|vous)\s+{_ABLE}|merci de)"
    r"(?:\s+(?:me|nous)\s+|\s+m['’]\s*|\s+)?(?:[^\W\d_]+(?:er|re|ir)\b)?"
    r"|(?:j['’]aimerais|je voudrais|je veux|je souhaite(?:rais)?|nous aimerions|"
    r"nous voudrions|on voudrait|j['’]ai besoin de|je cherche à) (?:savoir|connaître|comprendre)"
    r"|je me demande|je cherche"
    r"|(?:(?:can|could|would|will) you (?:please )?)?(?:tell|give|show|remind) me"
    r"|(?:do|would) you know|i(?:['’]d| would) like to know|i want to know|i wonder"
    r"|i(?:['’]m| am) looking for"
    rf")(?:\s*,?\s*{_POLITE})?[\s:,]+)?",
    re.IGNORECASE,
)


# Thanks or "please" after the question ("… stp ?", "…, please?", "… ? merci").
# Thanks only after a comma or the question's own end: "Qui a dit merci ?"
# asks who said it.
_THANKS = re.compile(
    r"(?:[\s,;]+(?:s['’]il (?:te|vous) pla[iî]t|svp|stp|please|pls)"
    r"|(?:(?<=[?!.])\s*|\s*[,;]\s*)"
    r"(?:merci(?: d['’]avance| beaucoup| bien)?|thanks?(?: you)?(?: in advance)?))"
    r"(?=[\s?!.]*$)",
    re.IGNORECASE,
)


def unframe(question: str) -> str:
    """`question` without the request around it ("Bonjour, dis-moi qui
    dirige Digital Place stp ?" -> "qui dirige Digital Place ?"). The
    request is no part of what is asked, and read as part of it, it hid the
    question word the answer kind is read from ("Qui…" wants a person only
    at the start) and counted "Explique-moi" or "Bonjour" as words no
    article uses, so that "Explique-moi ce qu'est La Cité à Toulouse." was
    refused. The question is kept whole when nothing would be left."""
    return _unframed(question)[0]


def framing(question: str) -> tuple[str, ...]:
    """What `unframe` leaves out of `question`, in order ("Bonjour, dis-moi",
    "stp"), for the answer to say how the question was read."""
    return _unframed(question)[1]


def _unframed(question: str) -> tuple[str, tuple[str, ...]]:
    text, left_out = question, []
    # Until nothing more is left out, so that reading the question again
    # (`Retriever.search` after `retrieve`) reads it the same: "Dis-moi, et
    # à Montpellier ?" loses "Dis-moi", then "et".
    while (m := _REQUEST.match(text)) and text[: m.end()].strip() and text[m.end() :].strip(" ?.!"):
        left_out.append(text[: m.end()].strip(" ,:;"))
        text = text[m.end() :]
    t = _THANKS.search(text)
    if t and text[: t.start()].strip(" ?.!"):
        left_out.append(t.group().strip(" ,;"))
        text = text[: t.start()] + text[t.end() :]
    return text, tuple(left_out)


_LETTERS = re.compile(r"[^\W\d_]+")
# The first word of a text, a line or a sentence (after an opening quote).
_FIRST_WORD = re.compile(r"(?:^|[.!?…]\s+|\n\s*)[«“\"(\s—–-]*([^\W\d_]+)")


def is_shouting(text: str) -> bool:
    """Whether `text` is typed in capitals ("QUI EST LE MAIRE DE BÈGLES ?"):
    at least 8 letters, 80% of them upper case."""
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 8 and sum(ch.isupper() for ch in letters) >= 0.8 * len(letters)


@dataclass(frozen=True)
class WordForms:
    """How the collection writes each word: for a word lowercased and
    without accents, its written forms, most frequent first.

    A question typed in capitals or without accents ("ou se trouve l'ecole
    IA de Begles ?") reads, through it, as the articles would write it. The
    embedding model cares: before this reading, dev questions in capitals
    (`qa eval --split dev --typed capitals`) were answered first 0.376 of
    the time against 0.714 as written, with 0.423 of the answerable ones
    abstained on against 0.021, and without accents 0.679 and 0.044. Read
    so, they answer about as written (README, Robustness, for test). BM25
    already folds accents, and case matters to it only for names."""

    forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, texts: Iterable[str]) -> WordForms:
        """Counted from `texts`. A word that starts a sentence or a line is
        capitalised by its place, not by what it is: its forms come after
        every form seen elsewhere, and lower case when it is seen nowhere
        else ("Le" read as "le")."""
        inside: Counter[str] = Counter()
        first: Counter[str] = Counter()
        for text in texts:
            inside.update(_LETTERS.findall(text))
            first.update(_FIRST_WORD.findall(text))
        inside.subtract(first)
        forms: dict[str, list[str]] = {}
        for counts in (inside, first):
            for word, n in counts.most_common():
                listed = forms.setdefault(fold(word), [])
                if counts is first and not listed:
                    word = word.lower()
                if n > 0 and word not in listed:
                    listed.append(word)
        return cls({k: tuple(v) for k, v in forms.items() if v})

    def restore(self, question: str) -> str:
        """`question` with its words as the articles write them: every word
        of a question in capitals (a word they never use, lower case; one
        whose accents, when the question has any, match a form of theirs,
        that form); in a
        question typed without a single accent, each word they write only
        with accents ("ecole", "Begles"), and in an English one only names
        ("Begles", not "region", which they write "région")."""
        shouting = is_shouting(question)
        bare = not _has_accents(question)
        english = bare and is_english(question)

        def respell(found: re.Match[str]) -> str:
            word = found.group()
            known = self.forms.get(fold(word), ())
            if shouting:
                if not known:
                    return word.lower()
                # Accents typed in capitals are meant: "QUI A LANCÉ" has "a",
                # not the articles' commoner "à".
                same = [] if bare else [w for w in known if w.lower() == word.lower()]
                return (same or known)[0]
            if not bare or not known or word.lower() in {w.lower() for w in known}:
                return word
            if english and not all(w[:1].isupper() for w in known):
                return word
            if word[:1].isupper():
                return known[0][:1].upper() + known[0][1:]
            # "ecole" reads "école" even where a sentence starts "École".
            return next((w for w in known if w.islower()), known[0])

        restored = _LETTERS.sub(respell, question)
        return restored[:1].upper() + restored[1:] if shouting else restored


def _has_accents(text: str) -> bool:
    return any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", text))


# Words no French question uses: with the first list alone, a question that
# names "La Cité" and asks "How many people attended…" tied one to one.
_ENGLISH = re.compile(
    r"\b(?:the|what|which|who|whom|whose|where|when|how|does|did|do|is|are|was|were|of|in|"
    r"and|with|at|by|its|their|will|would|many|much|to|for|from|has|have|had|can|this|that|"
    r"there)\b",
    re.IGNORECASE,
)
_FRENCH = re.compile(
    r"\b(?:le|la|les|des|du|de|quel|quelle|quels|quelles|qui|où|est|sont|et|avec|dans|"
    r"combien|comment|pourquoi|quand|un|une)\b",
    re.IGNORECASE,
)


def is_english(question: str) -> bool:
    """Whether a question is in English rather than French (by its function
    words): English questions match the French articles' words less. On the
    849 questions of `evals/questions.jsonl` it was chosen on, against their
    `lang` field, it errs on none (on 3 with the shorter list of English
    words it had before), nor on the 65 `v5` ones written since; two
    language-identification libraries erred on more (README, Tried and
    dropped): these questions are short and full of French names."""
    return len(_ENGLISH.findall(question)) > len(_FRENCH.findall(question))
