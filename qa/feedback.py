"""Readers' verdicts on answers, kept as questions for the evaluation.

A thumbs up, a thumbs down or a correction on the page appends one line to
the feedback file (`Settings.feedback`, `evals/feedback.jsonl` by default)
in the question set's own format, so `qa eval --questions
evals/feedback.jsonl` runs on it and a maintainer can move good lines into
`evals/questions.jsonl`. What each verdict records:

- thumbs up on an answer: the cited article and the text that answered
  (the short answer when there is one, else the marked sentence);
- thumbs up on an abstention: an unanswerable question;
- a correction "la bonne réponse est X": X, with the articles whose text
  holds it;
- a correction "les articles ne répondent pas": an unanswerable question;
- a thumbs down with no correction, or with one no article holds: verdict
  "wrong", with what was shown and the correction, for a maintainer to
  read; `qa.evaluation.load_questions` skips such lines.

Nothing leaves the machine: the file is local, appended one whole line at a
time under a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qa.answer import Answer
from qa.corpus import Document
from qa.errors import InputError
from qa.evaluation import WRONG, match_key, parse_question

RIGHT = "right"
CORRECTED = "corrected"
#: The longest correction kept (a pasted article is not a correction).
MAX_CORRECTION_CHARS = 500
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Feedback:
    """One line of the feedback file: a question-set record plus the verdict,
    when it was given and what the reader was shown."""

    id: str
    question: str
    docs: list[str]
    answers: list[str]
    verdict: str
    time: str
    kind: str = "feedback"
    origin: str = "feedback"
    #: What the page showed: the cited article and answer, or the abstention.
    shown: dict[str, Any] = field(default_factory=dict)
    #: The reader's correction, as typed.
    correction: str | None = None


def feedback_for(
    answer: Answer,
    documents: Mapping[str, Document],
    *,
    liked: bool | None = None,
    correction: str | None = None,
    unanswerable: bool = False,
) -> Feedback:
    """The feedback record for `answer`: a thumbs up or down (`liked`), a
    correction (the right answer, found in `documents`), or the reader's
    word that the articles do not answer (`unanswerable`)."""
    correction = (correction or "").strip() or None
    if correction and len(correction) > MAX_CORRECTION_CHARS:
        raise InputError(f"the correction is over {MAX_CORRECTION_CHARS} characters")
    if liked is None and correction is None and not unanswerable:
        raise InputError("say whether the answer is right, or give the right one")
    shown = _shown(answer)
    docs: list[str] = []
    answers: list[str] = []
    if unanswerable:
        verdict = RIGHT if answer.abstained else CORRECTED
    elif correction is not None:
        key = match_key(correction)
        docs = [d.id for d in documents.values() if key and key in match_key(d.text)]
        verdict = CORRECTED if docs else WRONG
        answers = [correction] if docs else []
    elif liked and not answer.abstained:
        docs, answers, verdict = [shown["doc"]], [shown["answer"]], RIGHT
    else:
        verdict = RIGHT if liked else WRONG
    now = datetime.now(timezone.utc)
    digest = hashlib.sha256(answer.question.encode()).hexdigest()[:8]
    return Feedback(
        id=f"fb-{now:%Y%m%dT%H%M%S%f}-{digest}",
        question=answer.question,
        docs=docs,
        answers=answers,
        verdict=verdict,
        time=now.isoformat(timespec="seconds"),
        shown=shown,
        correction=correction,
    )


def save_feedback(path: Path, feedback: Feedback) -> None:
    """Append `feedback` as one line to `path` (created with its folder),
    checked first against the question format unless its verdict is
    "wrong", and flushed to disk before returning."""
    record = asdict(feedback)
    if feedback.verdict != WRONG:
        parse_question(record, "feedback")  # a line `qa eval` cannot read is a bug here
    line = json.dumps(record, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, path.open("a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())


def _shown(answer: Answer) -> dict[str, Any]:
    if answer.abstained:
        return {"abstained": True, "reason": answer.reason}
    lead = answer.excerpts[0]
    said = answer.short.text if answer.short else lead.said
    return {"abstained": False, "doc": lead.citation.doc_id, "answer": said}
