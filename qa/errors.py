"""Errors a user can act on. Each message says what is wrong and what to do."""

from __future__ import annotations


class QAError(Exception):
    """Base class of the errors `qa` raises on purpose."""


class InputError(QAError, ValueError):
    """A bad question or argument (empty question, unknown mode, bad k)."""


class CorpusError(QAError):
    """The article folder or one article cannot be used."""


class ModelError(QAError):
    """The embedding model cannot be found, verified or loaded."""


class IndexCorruptedError(QAError):
    """A file under the index folder is damaged or does not match the manifest."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            f"index file {path} is corrupted ({problem}); rebuild it with `qa index --rebuild`"
        )


class IndexUpdateError(QAError):
    """Indexing a change to the collection failed (a full disk, a crash of a
    writer); the index on disk and the answers are those of before."""


class StoreError(QAError):
    """The store `QA_STORE` names cannot be used: its client is not
    installed, its server does not answer, or it holds something else."""
