"""Cited-excerpt question answering over French news articles.

from qa import Assistant
answer = Assistant.load().ask("Quel est le budget du plan IA de l'Occitanie ?")
"""

from qa.answer import Answer, Citation, Excerpt, Scores
from qa.assistant import Assistant
from qa.corpus import Document
from qa.errors import (
    CorpusError,
    IndexCorruptedError,
    IndexUpdateError,
    InputError,
    ModelError,
    QAError,
)
from qa.settings import Settings
from qa.text import Span

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "CorpusError",
    "Document",
    "Excerpt",
    "IndexCorruptedError",
    "IndexUpdateError",
    "InputError",
    "ModelError",
    "QAError",
    "Scores",
    "Settings",
    "Span",
]
