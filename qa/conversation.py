"""Follow-up questions: "Et à Bordeaux ?" after a question about Toulouse.

A chat reader asks elliptical follow-ups that mean nothing alone. Before
retrieval, such a question is resolved against the previous (resolved)
question: a new place, name or date after a preposition replaces the one the
previous question had after the same preposition; anything else short is
added to the previous question. A question that stands on its own is left
as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text import analyze, unframe

#: A follow-up opener: "Et à Bordeaux ?", "And in 2025?", "What about Nantes?".
_OPENER = re.compile(r"^\s*(?:et|and|what about|how about|mais|but|ou|or)\b[\s,]*", re.IGNORECASE)
_PREPOSITION = r"à|au|aux|en|de|du|des|pour|chez|dans|sur|in|at|for|of|on"
# "à Bordeaux", "en 2025", "chez Google": a preposition and what follows.
_TARGET = re.compile(rf"^(?P<prep>{_PREPOSITION})\s+(?P<target>.+)$", re.IGNORECASE)
# A name group: capitalised words ("Digital Place", "FrenchSouth.digital").
_NAME_WORDS = r"[A-ZÀ-ÖØ-Þ][\w'’.-]*(?:\s+[A-ZÀ-ÖØ-Þ][\w'’.-]*)*"
_NAME = re.compile(rf"(?<!^)\b{_NAME_WORDS}")
#: At most this many content terms and no opener still reads as a follow-up.
SHORT_TERMS = 2


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the previous one: it opens with "Et",
    "And", "What about"…, or has at most `SHORT_TERMS` content terms."""
    return bool(_OPENER.match(question)) or len(set(analyze(question, query=True))) <= SHORT_TERMS


def resolve(question: str, previous: str | None) -> str:
    """The question to retrieve with, given the previous resolved question.
    A follow-up is read without the request or greeting around it
    (`qa.text.unframe`): "Dis-moi, et à Montpellier ?" replaces the place
    as "Et à Montpellier ?" does, rather than being added whole."""
    bare = unframe(question)
    if not previous or not (is_follow_up(question) or is_follow_up(bare)):
        return question
    body = _OPENER.sub("", bare).strip().rstrip(" ?!.").strip()
    if not body:
        return previous
    base = previous.strip().rstrip(" ?!.").strip()
    match = _TARGET.match(body)
    if match:
        prep, target = match.group("prep"), match.group("target")
        # The same preposition in the previous question, with the name, number
        # or noun group after it: "à Toulouse", "en 2024", "de l'Occitanie".
        slot = re.compile(
            rf"\b{re.escape(prep)}\s+(?:l['’]|la\s+|le\s+|les\s+)?"
            r"[A-ZÀ-ÖØ-Þ0-9][\w'’.-]*(?:\s+[A-ZÀ-ÖØ-Þ0-9][\w'’.-]*)*",
            re.IGNORECASE if prep.isdigit() else 0,
        )
        found = list(slot.finditer(base))
        if found:
            last = found[-1]
            return f"{base[: last.start()]}{prep} {target}{base[last.end() :]} ?"
    names = list(_NAME.finditer(base))
    if re.fullmatch(_NAME_WORDS, body) and names:
        # "Et FrenchSouth.digital ?" after "Qui dirige Digital Place ?".
        last = names[-1]
        return f"{base[: last.start()]}{body}{base[last.end() :]} ?"
    return f"{base}, {body} ?"


def resolve_history(questions: Sequence[str]) -> list[str]:
    """Each question of a conversation resolved against the one before."""
    resolved: list[str] = []
    for q in questions:
        resolved.append(resolve(q, resolved[-1] if resolved else None))
    return resolved
