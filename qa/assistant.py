"""The facade every entry point uses: `Assistant.load()` then `ask()`."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from qa.answer import Answer, SentenceIndex, build_answer
from qa.corpus import Corpus, load_corpus
from qa.embedding import Embedder
from qa.errors import IndexUpdateError, InputError, QAError
from qa.indexing import BuildReport
from qa.library import Article, Upload, add_articles, remove_article
from qa.retrieval import Retrieval, Retriever
from qa.settings import MODES, Mode, Settings
from qa.store import Manifest
from qa.stores import Store, open_store
from qa.text import WordForms, framing, unframe
from qa.words import load_word_vectors


class Assistant:
    """Answers questions about one article collection with cited excerpts."""

    def __init__(
        self,
        settings: Settings,
        corpus: Corpus,
        embedder: Embedder,
        retriever: Retriever,
        report: BuildReport,
    ) -> None:
        self.settings = settings
        #: Held while answering and while taking over an updated collection.
        self._lock = threading.RLock()
        self.corpus = corpus
        self.embedder = embedder
        self.retriever = retriever
        self.report = report
        self.documents = {d.id: d for d in corpus.documents}
        self.sentences = Sentences(retriever.store)

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        corpus: Path | str | None = None,
        index: Path | str | None = None,
        rebuild: bool = False,
        progress: bool = False,
    ) -> Assistant:
        """Read the articles and open the index, building it when it is
        missing or stale (only changed passages are re-embedded).

        `settings` defaults to `Settings.from_env()`; `corpus` and `index`
        override its folders. Raises `CorpusError`, `ModelError` or
        `IndexCorruptedError` with a message that says what to do.
        """
        settings = (settings or Settings.from_env()).with_(
            corpus=Path(corpus) if corpus is not None else None,
            index=Path(index) if index is not None else None,
        )
        return cls._open(
            settings, Embedder.from_settings(settings), rebuild=rebuild, progress=progress
        )

    @classmethod
    def _open(
        cls, settings: Settings, embedder: Embedder, rebuild: bool = False, progress: bool = False
    ) -> Assistant:
        loaded = load_corpus(settings.corpus)
        # Read now (about 1 s) rather than on the first question.
        load_word_vectors()
        store, report = open_store(
            loaded.documents, settings, embedder, rebuild=rebuild, progress=progress
        )
        retriever = Retriever(store, embedder, settings, word_forms(loaded))
        return cls(settings, loaded, embedder, retriever, report)

    def articles(self) -> list[Article]:
        """Every article of the collection, in corpus order, with its passages."""
        counts = self.retriever.store.live_counts()
        indexed = self.retriever.store.manifest.indexed
        return [
            Article(d.id, d.title, d.date, d.path, counts.get(d.id, 0), d.sha256, indexed.get(d.id))
            for d in self.corpus.documents
        ]

    def add(self, uploads: list[Upload], progress: bool = False) -> list[str]:
        """Save `uploads` into the corpus folder and update the index (only
        their passages are embedded); the new articles' ids. Raises
        `InputError` for a bad file (nothing is written then) or when the
        collection is read-only."""
        self._writable()
        added = add_articles(
            self.settings.corpus, uploads, self.corpus.documents, self.settings.max_upload_bytes
        )
        self._reload_or_explain(progress, undo=added)
        return added

    def remove(self, doc_id: str, progress: bool = False) -> None:
        """Delete article `doc_id` from the corpus folder and drop its
        passages from the index (the others are not re-embedded)."""
        self._writable()
        remove_article(self.settings.corpus, doc_id, self.corpus.documents)
        self._reload_or_explain(progress)

    def replace(self, doc_id: str, upload: Upload, progress: bool = False) -> str:
        """Replace article `doc_id` by `upload` (checked as `add` checks it;
        the old file goes only once the new one is saved); the new id."""
        self._writable()
        (added,) = add_articles(
            self.settings.corpus,
            [upload],
            self.corpus.documents,
            self.settings.max_upload_bytes,
            replacing=doc_id,
        )
        self._reload_or_explain(progress)
        return added

    def _writable(self) -> None:
        if self.settings.read_only:
            raise InputError("this collection is read-only (QA_READ_ONLY=1)")

    def _reload_or_explain(self, progress: bool, undo: list[str] | None = None) -> None:
        """`_reload`, with a failure said plainly. The files `undo` names (an
        upload's) are deleted then, so nothing is half-added; otherwise the
        folder changed, the index did not, and the next start updates it."""
        try:
            self._reload(progress)
        except (OSError, QAError, RuntimeError) as err:
            for name in undo or ():
                (self.settings.corpus / name).unlink(missing_ok=True)
            outcome = (
                "nothing was added, the articles already there still answer"
                if undo
                else "answers still come from the collection as it was, "
                "and the next start updates the index"
            )
            raise IndexUpdateError(f"the index could not be updated ({err}); {outcome}") from err

    def _reload(self, progress: bool) -> None:
        """Reread the corpus (its changed files only), then update the store
        this assistant holds (the files store updates the index in memory,
        not read again from disk unless another process saved it since) and
        take the new state over in one step, so an answer sees the old
        collection or the new one, never a mix. Questions wait meanwhile:
        the update adds to the index they read."""
        loaded = load_corpus(self.settings.corpus, previous=self.corpus)
        with self._lock:
            held = self.retriever.store
            known = held.manifest
            try:
                store, report = held.update(
                    loaded.documents, self.settings, self.embedder, progress
                )
            except BaseException:
                if held.damaged():
                    self._restore(known)
                raise
            retriever = Retriever(store, self.embedder, self.settings, word_forms(loaded))
            fresh = Assistant(self.settings, loaded, self.embedder, retriever, report)
            self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})

    def _restore(self, known: Manifest) -> None:
        """After an update that failed once the held index had taken new
        rows: the index as saved. When the failed save left the manifest
        `known` in place, that index with the corpus as it was; else what
        is saved now, opened as a start would."""
        saved = self.retriever.store.saved(known)
        if saved is not None:
            self.retriever = Retriever(saved, self.embedder, self.settings, self.retriever.forms)
        else:
            fresh = self._open(self.settings, self.embedder)
            self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})

    def ask(
        self,
        question: str,
        k: int | None = None,
        mode: Mode | str | None = None,
        *,
        documents: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Answer:
        """Up to `k` cited excerpts that answer `question`, or an abstention.

        `documents` (ids), `since` and `until` (YYYY, YYYY-MM or YYYY-MM-DD,
        both included) keep the answer to those articles (`select`).
        Raises `InputError` for an empty question, an unknown mode, k < 1
        or a selection that names no article. A question longer than
        `max_question_chars` is cut, and `answer.warnings` says so.
        """
        k = self.settings.k if k is None else k
        mode = self.settings.mode if mode is None else mode
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        question, warnings = check_question(question, self.settings.max_question_chars)
        with self._lock:
            only = self.select(documents, since, until)
            found = self.retriever.retrieve(question, mode, self.settings.candidates, only)
            # The retriever reads the question without the request around
            # it, and as the articles write it.
            read, left_out = found.query.text, framing(question)
            if read != question:
                how = [
                    *([f"without « {' … '.join(left_out)} »"] if left_out else []),
                    *(["as the articles write it"] if read != unframe(question) else []),
                ]
                warnings = (*warnings, f"question read as « {read} », {' and '.join(how)}")
            return self.compose(found, k=k, mode=mode, warnings=warnings)

    def select(
        self,
        documents: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> frozenset[str] | None:
        """The ids of the articles a question is kept to: those of `documents`
        dated within [`since`, `until`]; None when nothing is asked (every
        article). A date range leaves out articles with no date; an article
        dated by month only is in a range that overlaps its month."""
        since, until = (_date(d, name) for d, name in ((since, "since"), (until, "until")))
        if documents is None and since is None and until is None:
            return None
        if isinstance(documents, str):
            documents = [documents]
        if documents is not None and (
            not isinstance(documents, (list, tuple, set, frozenset))
            or not all(isinstance(d, str) for d in documents)
        ):
            raise InputError(f"documents must be a list of article ids, got {documents!r:.60}")
        ids = list(self.documents) if not documents else list(documents)
        unknown = [d for d in ids if d not in self.documents]
        if unknown:
            raise InputError(f"no article {unknown[0]!r} in the collection")
        chosen = frozenset(
            d
            for d in ids
            if (since is None and until is None) or _in_range(self.documents[d].date, since, until)
        )
        if not chosen:
            span = f"{since or '…'} – {until or '…'}"
            raise InputError(f"no article of the selection is dated within {span}")
        return chosen

    def compose(
        self,
        found: Retrieval,
        *,
        k: int,
        mode: str,
        min_confidence: float | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Answer:
        """The `Answer` built from what was retrieved. Separate from `ask` so
        the evaluation can try many abstention thresholds on one retrieval."""
        if min_confidence is None and self.settings.min_confidence >= 0:
            min_confidence = self.settings.min_confidence
        return build_answer(
            found.query,
            found.hits,
            self.documents,
            self.sentences,
            k=k,
            mode=mode,
            min_confidence=min_confidence,
            excerpt_chars=self.settings.excerpt_chars,
            warnings=warnings,
            parts=found.parts,
        )


class Sentences(Mapping[str, SentenceIndex]):
    """Each live document's sentence notes and vectors, read from the store
    when the answer step first reaches the document, then kept: a question
    reads a few documents, and a large collection's notes need not all be
    held."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._read: dict[str, SentenceIndex] = {}

    def __getitem__(self, doc_id: str) -> SentenceIndex:
        found = self._read.get(doc_id)
        if found is None:
            if len(self._read) >= 4096:  # a bound for a large collection's long run
                self._read.clear()
            found = self._read[doc_id] = SentenceIndex(*self._store.sentences(doc_id))
        return found

    def __iter__(self) -> Iterator[str]:
        return (d["id"] for d in self._store.manifest.documents)

    def __len__(self) -> int:
        return len(self._store.manifest.documents)


_SURROGATE = re.compile("[\ud800-\udfff]")
_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")


def _date(value: str | None, name: str) -> str | None:
    """A date bound as given, or None for an empty one; `InputError` unless
    it reads YYYY, YYYY-MM or YYYY-MM-DD."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if not _DATE.fullmatch(value):
        raise InputError(f"{name} must read YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}")
    return value


def _in_range(date: str | None, since: str | None, until: str | None) -> bool:
    """Whether an article dated `date` (at any precision) can fall within
    [since, until]: bounds and date are compared at the coarser precision."""
    if date is None:
        return False
    after = since is None or date[: len(since)] >= since[: len(date)]
    before = until is None or date[: len(until)] <= until[: len(date)]
    return after and before


def word_forms(corpus: Corpus) -> WordForms:
    """How the collection's articles write their words (`qa.text.WordForms`),
    counted from the text already in memory at every start and update: 29 ms
    for the 83-article benchmark collection (`python -m bench --sections 2
    --synthetic-passages 500`), linear in the text. Not stored with the
    index: the text is read at every start anyway."""
    return WordForms.of(f"{d.title}\n{d.text}" for d in corpus.documents)


def check_question(question: object, limit: int) -> tuple[str, tuple[str, ...]]:
    """The question stripped (and cut at a space when longer than `limit`),
    with any warning; an `InputError` when it is not text or holds no word."""
    if not isinstance(question, str):
        raise InputError(f"the question must be text, got {type(question).__name__}")
    # Lone surrogates (U+D800-U+DFFF) are not characters: no encoder or
    # tokenizer takes them, so they go here, where every caller passes.
    question, dropped = _SURROGATE.subn(" ", question)
    warnings: tuple[str, ...] = ()
    if dropped:
        warnings = (f"{dropped} invalid character(s) (lone surrogates) removed from the question",)
    question = " ".join(question.split()) if dropped else question.strip()
    if not question:
        raise InputError("the question is empty")
    if not any(ch.isalnum() for ch in question):
        raise InputError("the question has no words in it")
    if len(question) <= limit:
        return question, warnings
    cut = question.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    warning = f"question cut from {len(question)} to {cut} characters"
    return question[:cut].rstrip(), (*warnings, warning)
