"""The collection as its owner manages it: add articles, remove one, list them.

The corpus folder stays the one source of truth: adding an article writes a
file into it, removing one deletes its file, and the index then follows the
folder as it always does (`qa.indexing.ensure_index`: only new passages are
embedded, a removed article's passages are dropped, nothing else is
re-embedded).

No name from a client is trusted: a file is saved under a name made here
from the base name it came with, inside the corpus folder, and only after
the whole batch was read and checked (size, kind, UTF-8, text in it, not a
copy of an article already there), so a bad file in a batch writes nothing.
A file is written under a hidden temporary name, then renamed
(`qa.store.atomic_write`): a crash leaves no half-written article for the
next load.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from qa.corpus import SUFFIXES, Document, load_document
from qa.errors import CorpusError, InputError
from qa.store import atomic_write

#: The longest file name kept (the suffix included).
MAX_NAME_CHARS = 100
_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class Upload:
    """A file as it arrives: the name the client gave and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Article:
    """One article of the collection, as the list shows it."""

    id: str
    title: str
    date: str | None
    file: str
    passages: int
    sha256: str
    #: When its current text was indexed (UTC, ISO 8601).
    indexed: str | None = None


def safe_name(name: str) -> str:
    """The file name an upload is saved under: its base name, accents and
    anything but letters, digits, dots and dashes folded to "_". A name that
    carries a path ("../x.txt"), a NUL byte or an unknown suffix is refused."""
    if "\x00" in name:
        raise InputError(f"file name {name!r} holds a NUL byte")
    parts = re.split(r"[\\/]", name)
    if any(p == ".." for p in parts) or len([p for p in parts if p]) > 1:
        raise InputError(f"file name {name!r} holds a path; send the file's own name only")
    base = parts[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in SUFFIXES:
        raise InputError(f"{name!r}: only {', '.join(SUFFIXES)} files can be added")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean = _UNSAFE.sub("_", ascii_stem).strip("._-")[: MAX_NAME_CHARS - len(suffix) - 1]
    return f"{clean or 'article'}.{suffix.lower()}"


def read_uploads(paths: list[Path], max_bytes: int) -> list[Upload]:
    """Files on disk (`qa add`, the page's temporary copies of uploads) as
    `Upload`s under their base names; a missing file, or one over
    `max_bytes`, is refused before it is read."""
    out = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        if path.stat().st_size > max_bytes:
            raise InputError(
                f"{path.name!r} is over the limit of {max_bytes / 1e6:.1f} MB (QA_MAX_UPLOAD_BYTES)"
            )
        out.append(Upload(path.name, path.read_bytes()))
    return out


def add_articles(
    folder: Path,
    uploads: list[Upload],
    existing: tuple[Document, ...],
    max_bytes: int,
    replacing: str | None = None,
) -> list[str]:
    """Check every upload, then save them all into `folder`; the ids of the
    new articles. Raises `InputError` naming the first bad file (too big,
    not an article, not UTF-8, empty, a duplicate), and then writes nothing.

    `replacing`: the id of an article the (single) upload replaces. Its file
    goes only once the new one is written, so a failure keeps the old."""
    if not uploads:
        raise InputError("no file to add")
    if replacing is not None:
        old = _path_of(folder, replacing, existing)
        if len(uploads) != 1:
            raise InputError("an article is replaced by one file")
        existing = tuple(d for d in existing if d.id != replacing)
    seen = {_words(d.text): d.id for d in existing}
    taken = {p.name.lower() for p in folder.iterdir()} if folder.is_dir() else set()
    if replacing is not None:
        taken.discard(old.name.lower())
    ready: list[tuple[str, bytes]] = []
    for upload in uploads:
        name = safe_name(upload.name)
        if len(upload.data) > max_bytes:
            raise InputError(
                f"{upload.name!r} is {len(upload.data) / 1e6:.1f} MB, over the limit of "
                f"{max_bytes / 1e6:.1f} MB (QA_MAX_UPLOAD_BYTES)"
            )
        doc = _read(name, upload)
        words = _words(doc.text)
        if words in seen:
            raise InputError(f"{upload.name!r} is already in the collection as {seen[words]}")
        seen[words] = name
        name = _free(name, taken)
        taken.add(name.lower())
        ready.append((name, upload.data))
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ready:
        atomic_write(folder / name, data)
    if replacing is not None and ready[0][0] != old.name:
        old.unlink()
    return [name for name, _ in ready]


def remove_article(folder: Path, doc_id: str, existing: tuple[Document, ...]) -> None:
    """Delete the file of article `doc_id` from `folder`. The last article
    cannot be removed: a collection with none cannot answer anything."""
    path = _path_of(folder, doc_id, existing)
    if len(existing) == 1:
        raise InputError(f"{doc_id!r} is the only article; add another before removing it")
    path.unlink()


def _path_of(folder: Path, doc_id: str, existing: tuple[Document, ...]) -> Path:
    """The file of article `doc_id`, which must be in the collection and in `folder`."""
    if doc_id not in {d.id for d in existing}:
        raise InputError(f"no article {doc_id!r} in the collection")
    path = (folder / doc_id).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputError(f"{doc_id!r} is not inside the corpus folder")
    return path


def _read(name: str, upload: Upload) -> Document:
    """The upload read as the corpus reads a file, or an `InputError` that
    says why it is not an article."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        path.write_bytes(upload.data)
        try:
            return load_document(path, name)
        except CorpusError as err:
            raise InputError(f"{upload.name!r} cannot be added: {err}") from None


def _words(text: str) -> str:
    """What makes two articles the same: their words, whatever the format
    (the PDF of an article already there as text is a duplicate even though
    its paragraphs break elsewhere)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def _free(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`… when a file of that name exists."""
    stem, _, suffix = name.rpartition(".")
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}.{suffix}"
    return candidate
