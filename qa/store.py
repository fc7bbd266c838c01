"""Save, load and verify the index folder. Plain files only, never pickle.

    index/
      manifest.json      format version, build settings, the live documents
                         (each with the segment holding it), the segments in
                         row order with the sha256 of every file, the saved
                         search graph, counts and times
      seg-<hex>/         one segment: the documents of one update
        passages.jsonl   one passage per line: doc_id, number, start, end, text
        vectors.npy      one normalised embedding per passage (allow_pickle=False)
        lexical-terms.json, lexical.npz
                         the passages' term counts and lengths (`qa.lexical`)
        notes.jsonl      per document: its sentences and their named entities (spaCy)
        sentences.npy    one normalised embedding per sentence of `notes.jsonl`
      ann-<hex>.faiss    for an `ivf` or `hnsw` index: the FAISS index of the
                         first `rows` passages (none for `flat`)

The index grows by appending. An update writes one new segment holding the
new and changed documents, and a new manifest; no file of an older segment
is read, rewritten or re-hashed. A removed or changed document's passages
stay in their segment, dead: the manifest no longer names the document with
that segment, so loading marks its rows deleted and searches skip them
(Lucene's deleted documents, BM25 statistics included). When dead rows pass
a share of the collection, `qa.indexing` compacts: every live row into one
segment, reusing its vectors. The FAISS graph of an `ivf` or `hnsw` index is
saved beside the segments and covers the rows it was built with; loading maps
it from its file and puts the later segments' vectors in an in-memory tail
(`qa.vectors`), and a save writes it again only once those are many
(`ANN_TAIL_ROWS`, `ANN_TAIL_SHARE`).

Memory: what is large is mapped from the segment files, never copied into
the process: the graph and its vectors, the passages (`qa.rows`), the BM25
posting lists (`qa.lexical.map_npz`) and the sentence vectors. The kernel
pages in what a search reads and may drop it again; what stays in the
process is per-row bookkeeping of a few bytes and the tail.

Crash safety: a save writes its segment (each file fsynced), then replaces
`manifest.json` in one `os.replace`, then deletes what no manifest names.
Until that replace the old manifest and every file it names are untouched,
so a save killed half-way leaves the previous index loading as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import faiss
import numpy as np

try:  # POSIX; elsewhere saves are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from qa.annotate import DocumentNotes
from qa.chunking import Passage
from qa.errors import IndexCorruptedError
from qa.lexical import ARRAYS, TERMS, Lexical, Postings
from qa.rows import PassageTable
from qa.vectors import VectorIndex

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.npy"
NOTES = "notes.jsonl"
SENTENCES = "sentences.npy"
SEGMENT_FILES = (PASSAGES, VECTORS, TERMS, ARRAYS, NOTES, SENTENCES)
SEGMENT_PREFIX = "seg-"
ANN_PREFIX = "ann-"
LOCK = ".writer.lock"
#: A saved graph is written again once the rows added after it number more
#: than both of these: loading adds those rows to it (an HNSW insert costs
#: about a millisecond a row on two cores), and rewriting a graph of a
#: million rows costs seconds, so neither is paid on every small update.
ANN_TAIL_ROWS = 20_000
ANN_TAIL_SHARE = 0.05
#: The process's umask, read once (reading it means setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    #: Settings that shape the index (model name, hash and dimension, chunking,
    #: analyzer, BM25 parameters). A different build means a stale index.
    build: dict[str, Any]
    #: id, sha256, title, path and segment of each live document, in index
    #: order. `segment` is "" for a document not saved yet.
    documents: list[dict[str, Any]]
    #: Live passages (the rows of live documents).
    passages: int
    #: In row order: name, passages (rows, dead ones included) and the sha256
    #: of every file, by name. A segment not saved yet has name "".
    segments: list[dict[str, Any]]
    #: The saved FAISS graph: file, rows it covers, sha256; {} for none.
    ann: dict[str, Any] = field(default_factory=dict)
    #: When each document's current text was indexed (UTC, ISO 8601), by id.
    indexed: dict[str, str] = field(default_factory=dict)
    #: When the index was last saved (UTC, ISO 8601).
    updated: str = ""


@dataclass
class StoredIndex:
    """The index in memory. Rows (passages, vectors, lexical) are every
    segment's, dead ones included, in segment order; `live` says which
    count. Notes and sentence vectors are the live documents' only."""

    manifest: Manifest
    passages: PassageTable
    vectors: VectorIndex
    lexical: Lexical
    live: np.ndarray
    #: Per live document (manifest order): sentences and entities.
    notes: list[DocumentNotes] = field(default_factory=list)
    #: Each live document's sentence vectors, one row per sentence of its
    #: notes: views of the segments' memory-mapped `sentences.npy` once
    #: loaded, so only the documents a question reaches are read.
    sentence_vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def live_passages(self) -> list[Passage]:
        """Every live row's passage, parsed: for a document's rows or a small
        index; counting needs only `live_counts`."""
        return [self.passages[i] for i in np.flatnonzero(self.live)]

    def live_counts(self) -> dict[str, int]:
        """Live passages per document id."""
        counts = np.bincount(self.passages.codes[self.live], minlength=len(self.passages.doc_ids))
        return {d: int(c) for d, c in zip(self.passages.doc_ids, counts, strict=True) if c}

    def segment_starts(self) -> list[int]:
        """First row of each segment, and the row count after the last."""
        starts = [0]
        for segment in self.manifest.segments:
            starts.append(starts[-1] + segment["passages"])
        return starts


def stack_rows(parts: list[np.ndarray], dimension: int) -> np.ndarray:
    """`parts` (vectors of `dimension`) one after another as one float32
    array; (0, dimension) when there are none, as `np.concatenate` refuses."""
    if not parts:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def live_rows(passages: PassageTable, manifest: Manifest) -> np.ndarray:
    """Which rows are live: those of a document the manifest names with the
    segment the row is in (the same id in an older segment is a replaced text)."""
    number = {s["name"]: i for i, s in enumerate(manifest.segments)}
    holder = {d["id"]: number.get(d["segment"], -1) for d in manifest.documents}
    # The segment that holds each document code's live text (-1: none), and
    # the segment each row is in.
    held = np.array([holder.get(d, -1) for d in passages.doc_ids], dtype=np.int64)
    sizes = [s["passages"] for s in manifest.segments]
    if sum(sizes) != len(passages):
        raise IndexCorruptedError(
            MANIFEST, f"segments hold {sum(sizes)} rows, the passages {len(passages)}"
        )
    where = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    return held[passages.codes] == where if len(passages) else np.zeros(0, dtype=bool)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""

    def fill(temporary: str) -> None:
        with open(temporary, "wb") as fh:
            fh.write(data)

    atomic_fill(path, fill)


def atomic_fill(path: Path, fill: Callable[[str], None]) -> None:
    """Have `fill` write a temporary file beside `path` (by its name: FAISS
    writes a graph of a gigabyte straight to a file, with no copy in
    memory), then sync it and move it to `path` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # mkstemp makes the file owner-only; give it the mode open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        fill(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks (a graph may be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def save_index(folder: Path, stored: StoredIndex) -> Manifest:
    """Write what `stored` holds that is not on disk yet (its new segment,
    the FAISS graph when due) under `folder`, then its manifest (see the
    module docstring for the order); return the manifest, which names
    every file with its hash."""
    folder.mkdir(parents=True, exist_ok=True)
    with _writer_lock(folder):
        stored.manifest = _write(folder, stored)
    return stored.manifest


@contextmanager
def _writer_lock(folder: Path) -> Iterator[None]:
    """One save at a time per index folder, across processes (the page and
    `qa add` at once): a save deletes the files its manifest does not name,
    which would include those another process is still writing."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_name(prefix: str) -> str:
    return f"{prefix}{time.time_ns():x}{os.getpid():x}"


def _write(folder: Path, stored: StoredIndex) -> Manifest:
    """Write the unsaved segment, then the graph if due, then the manifest
    (one rename), then delete what the new manifest does not name."""
    manifest = stored.manifest
    segments = [dict(s) for s in manifest.segments]
    starts = stored.segment_starts()
    renamed: dict[str, str] = {}
    for number, segment in enumerate(segments):
        if segment["name"]:
            continue
        name = _new_name(SEGMENT_PREFIX)
        files = _segment_files(stored, number, starts[number], starts[number + 1])
        for file, content in files.items():
            atomic_write(folder / name / file, content)
        segment.update(
            name=name, files={f: hashlib.sha256(c).hexdigest() for f, c in files.items()}
        )
        renamed[""] = name
    documents = [
        {**d, "segment": renamed.get(d["segment"], d["segment"])} for d in manifest.documents
    ]
    ann = dict(manifest.ann)
    if _graph_due(stored.vectors, ann.get("rows", 0)):
        file = f"{_new_name(ANN_PREFIX)}.faiss"
        stored.vectors.save(folder / file, atomic_fill)
        ann = {
            "file": file,
            "rows": stored.vectors.covered,
            "sha256": file_sha256(folder / file),
        }
    elif stored.vectors.kind == "flat":
        ann = {}
    saved = Manifest(
        format_version=FORMAT_VERSION,
        build=manifest.build,
        documents=documents,
        passages=int(stored.live.sum()),
        segments=segments,
        ann=ann,
        indexed=manifest.indexed,
        updated=utc_now(),
    )
    atomic_write(folder / MANIFEST, json.dumps(asdict(saved), indent=2).encode())
    _drop_unnamed(folder, saved)
    return saved


def _graph_due(vectors: VectorIndex, covered: int) -> bool:
    """Whether an `ivf` or `hnsw` index's graph should be saved again: never
    saved, or more rows added since than `ANN_TAIL_ROWS` and `ANN_TAIL_SHARE`."""
    if vectors.kind == "flat":
        return False
    tail = vectors.ntotal - covered
    return covered == 0 or tail < 0 or tail > max(ANN_TAIL_ROWS, ANN_TAIL_SHARE * vectors.ntotal)


def _segment_files(stored: StoredIndex, number: int, start: int, stop: int) -> dict[str, bytes]:
    """The files of segment `number`, rows `start` to `stop`: its passages,
    vectors and term counts, and the notes and sentence vectors of its
    documents (all live: a segment is saved by the update that made it)."""
    block = stored.lexical.blocks[number]
    name = stored.manifest.segments[number]["name"]
    ids = {d["id"] for d in stored.manifest.documents if d["segment"] == name}
    notes = [n for n in stored.notes if n.doc_id in ids]
    sentences = [stored.sentence_vectors[n.doc_id] for n in notes]
    dimension = stored.vectors.d
    return {
        PASSAGES: stored.passages.lines(start, stop),
        VECTORS: _npy_bytes(
            stored.vectors.reconstruct_n(start, stop - start)
            if stop > start
            else np.zeros((0, dimension), dtype=np.float32)
        ),
        **block.files(),
        NOTES: "".join(json.dumps(n.to_json(), ensure_ascii=False) + "\n" for n in notes).encode(),
        SENTENCES: _npy_bytes(stack_rows(sentences, dimension)),
    }


def utc_now() -> str:
    """The time now, UTC, to the second, as the manifest records times."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _drop_unnamed(folder: Path, manifest: Manifest) -> None:
    """Delete what the manifest does not name: older segments and graphs,
    what a killed save left (a half-written segment, a temporary file), and
    the files of an index of an earlier format. Called under the writer
    lock, so no other save's files are among them."""
    named = {s["name"] for s in manifest.segments} | {manifest.ann.get("file")}
    for path in folder.iterdir():
        if path.name in named or path.name in (MANIFEST, LOCK):
            continue
        if path.is_dir() and path.name.startswith((SEGMENT_PREFIX, "data-", ".bm25-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(ANN_PREFIX) or (
            path.name.startswith(".") and path.name.endswith(".tmp")
        ):
            path.unlink(missing_ok=True)
    for name in ("passages.jsonl", "vectors.faiss", NOTES, SENTENCES):  # format 1
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "bm25", ignore_errors=True)


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest, or None when there is no index (or one of another format)."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise IndexCorruptedError(str(path), f"unreadable manifest: {err}") from None
    if not isinstance(data, dict):
        raise IndexCorruptedError(str(path), f"expected a JSON object, got {type(data).__name__}")
    if data.get("format_version") != FORMAT_VERSION:
        return None
    problem = _manifest_problem(data)
    if problem:
        raise IndexCorruptedError(str(path), problem)
    return Manifest(**data)


def _is_map(value: Any, of: type) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, of) for k, v in value.items()
    )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _named(value: Any, prefix: str, suffix: str = "") -> bool:
    """A file or folder name this module makes, so a forged manifest names
    nothing outside the index folder."""
    return isinstance(value, str) and bool(
        re.fullmatch(rf"{re.escape(prefix)}[0-9a-f]+{re.escape(suffix)}", value)
    )


def _is_segment(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"name", "passages", "files"}
        and _named(value["name"], SEGMENT_PREFIX)
        and _is_count(value["passages"])
        and _is_map(value["files"], str)
        and set(value["files"]) == set(SEGMENT_FILES)
    )


def _is_ann(value: Any) -> bool:
    return value == {} or (
        isinstance(value, dict)
        and set(value) == {"file", "rows", "sha256"}
        and _named(value["file"], ANN_PREFIX, ".faiss")
        and _is_count(value["rows"])
        and isinstance(value["sha256"], str)
    )


#: What each manifest field must be, and the check.
_MANIFEST_SHAPE: dict[str, tuple[str, Any]] = {
    "format_version": ("an integer", lambda v: isinstance(v, int)),
    "build": (
        "an object whose 'model', if given, is an object",
        lambda v: isinstance(v, dict) and isinstance(v.get("model", {}), dict),
    ),
    "documents": (
        "a list of objects with string 'id', 'sha256', 'title', 'path' and 'segment'",
        lambda v: (
            isinstance(v, list)
            and all(
                isinstance(d, dict) and all(isinstance(d.get(k), str) for k in _DOCUMENT_KEYS)
                for d in v
            )
        ),
    ),
    "passages": ("a count (an integer, 0 or more)", _is_count),
    "segments": (
        f"a list of segments ({SEGMENT_PREFIX}<hex> name, passages count, a sha256 per file)",
        lambda v: isinstance(v, list) and all(_is_segment(s) for s in v),
    ),
    "ann": (f"{{}} or a graph ({ANN_PREFIX}<hex>.faiss file, rows count, sha256)", _is_ann),
    "indexed": ("an object of document id to time string", lambda v: _is_map(v, str)),
    "updated": ("a string", lambda v: isinstance(v, str)),
}
_DOCUMENT_KEYS = ("id", "sha256", "title", "path", "segment")
_REQUIRED = ("format_version", "build", "documents", "passages", "segments")


def _manifest_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a manifest read as JSON (the first
    field at fault, named), or None. Checked before anything reads it, so a
    manifest of the wrong shape is a clear error rather than a crash."""
    for key in data:
        if key not in _MANIFEST_SHAPE:
            return f"unknown field {key!r}"
    for key in _REQUIRED:
        if key not in data:
            return f"missing field {key!r}"
    for key, value in data.items():
        what, ok = _MANIFEST_SHAPE[key]
        if not ok(value):
            return f"field {key!r} must be {what}, got {json.dumps(value)[:60]}"
    return None


def load_index(folder: Path, manifest: Manifest) -> StoredIndex:
    """Load and verify the files `manifest` names; raise `IndexCorruptedError`
    naming the first file that is missing, damaged or inconsistent."""
    for segment in manifest.segments:
        for name, expected in segment["files"].items():
            _verify(folder / segment["name"] / name, expected)
    if manifest.ann:
        _verify(folder / manifest.ann["file"], manifest.ann["sha256"])
    dimension = manifest.build.get("model", {}).get("dimension")
    tables: list[PassageTable] = []
    blocks: list[Postings] = []
    notes: dict[tuple[str, str], DocumentNotes] = {}
    sentences: dict[tuple[str, str], np.ndarray] = {}
    for segment in manifest.segments:
        where = folder / segment["name"]
        rows = PassageTable.read(where / PASSAGES, segment["passages"])
        block = Postings.from_files(
            (where / TERMS).read_bytes(), where / ARRAYS, str(where / ARRAYS)
        )
        counts = {
            f"{MANIFEST} passages of {segment['name']}": segment["passages"],
            str(where / PASSAGES): len(rows),
            str(where / ARRAYS): block.size,
        }
        if len(set(counts.values())) != 1:
            detail = ", ".join(f"{k}={v}" for k, v in counts.items())
            raise IndexCorruptedError(str(where), f"counts disagree: {detail}")
        tables.append(rows)
        blocks.append(block)
        _read_segment_notes(where, segment["name"], dimension, notes, sentences)
    passages = PassageTable.concat(tables)
    vectors = _read_vectors(folder, manifest, dimension)
    lexical = Lexical(blocks, **_bm25_parameters(manifest))
    live = live_rows(passages, manifest)
    if vectors.ntotal != len(passages) or manifest.passages != int(live.sum()):
        detail = (
            f"{len(passages)} passages in segments, {vectors.ntotal} vectors, "
            f"{manifest.passages} live in {MANIFEST}, {int(live.sum())} found"
        )
        raise IndexCorruptedError(str(folder), f"counts disagree: {detail}")
    live_notes, live_sentences = [], {}
    for d in manifest.documents:
        key = (d["id"], d["segment"])
        if key not in notes:
            raise IndexCorruptedError(
                str(folder / d["segment"] / NOTES), f"no notes for document {d['id']!r}"
            )
        live_notes.append(notes[key])
        live_sentences[d["id"]] = sentences[key]
    return StoredIndex(manifest, passages, vectors, lexical, live, live_notes, live_sentences)


def _verify(path: Path, expected: str) -> None:
    if not path.is_file():
        raise IndexCorruptedError(str(path), "file missing")
    if file_sha256(path) != expected:
        raise IndexCorruptedError(str(path), f"sha256 differs from {MANIFEST}")


def _bm25_parameters(manifest: Manifest) -> dict[str, float]:
    bm25 = manifest.build.get("bm25", {})
    return {"k1": float(bm25.get("k1", 1.2)), "b": float(bm25.get("b", 0.75))}


def _read_segment_notes(
    where: Path,
    segment: str,
    dimension: int | None,
    notes: dict[tuple[str, str], DocumentNotes],
    sentences: dict[tuple[str, str], np.ndarray],
) -> None:
    """Each document's notes and sentence vectors of the segment at `where`,
    keyed by (document id, segment)."""
    found = _read_notes(where / NOTES)
    vectors = _read_npy(where / SENTENCES, mapped=True)
    expected = (sum(len(n.sentences) for n in found), dimension)
    if vectors.shape != expected:
        raise IndexCorruptedError(
            str(where / SENTENCES), f"shape {vectors.shape}, expected {expected}"
        )
    at = 0
    for note in found:
        notes[(note.doc_id, segment)] = note
        sentences[(note.doc_id, segment)] = vectors[at : at + len(note.sentences)]
        at += len(note.sentences)


def _read_vectors(folder: Path, manifest: Manifest, dimension: int | None) -> VectorIndex:
    """The vector index of every row: the saved graph, if any, mapped, with
    the vectors of the segments after it in its tail; else a flat index of
    them all."""
    covered = 0
    if not manifest.ann:
        index = VectorIndex(faiss.IndexFlatIP(dimension or 0))
    else:
        path = folder / manifest.ann["file"]
        index = _read_faiss(path)
        covered = manifest.ann["rows"]
        if index.ntotal != covered or index.d != dimension:
            raise IndexCorruptedError(
                str(path),
                f"{index.ntotal} vectors of dimension {index.d}, manifest says "
                f"{covered} of {dimension}",
            )
    at = 0
    for segment in manifest.segments:
        stop = at + segment["passages"]
        if stop > covered:
            path = folder / segment["name"] / VECTORS
            rows = _read_npy(path, mapped=True)  # FAISS copies them: no second copy
            if rows.shape != (segment["passages"], dimension):
                raise IndexCorruptedError(
                    str(path), f"shape {rows.shape}, expected ({segment['passages']}, {dimension})"
                )
            # The graph may end inside a segment that merged newer ones.
            index.add(np.ascontiguousarray(rows[max(0, covered - at) :]))
        at = stop
    if at < covered:
        raise IndexCorruptedError(str(folder / manifest.ann["file"]), "more rows than the segments")
    return index


def _read_notes(path: Path) -> list[DocumentNotes]:
    notes = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                notes.append(DocumentNotes.from_json(json.loads(line)))
            except (ValueError, TypeError, KeyError) as err:
                raise IndexCorruptedError(f"{path}:{line_no}", str(err)) from None
    return notes


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _read_npy(path: Path, mapped: bool = False) -> np.ndarray:
    """A saved float32 matrix; `mapped` maps it rather than reading it (the
    file is never written again, so the mapping stays valid)."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if mapped else None)
    except (OSError, ValueError) as err:
        raise IndexCorruptedError(str(path), f"not a .npy array: {err}") from None
    if array.dtype != np.float32 or array.ndim != 2:
        raise IndexCorruptedError(str(path), f"expected a 2-d float32 array, got {array.dtype}")
    return array


def _read_faiss(path: Path) -> VectorIndex:
    # Mapped by FAISS from the file: no copy of a graph of a gigabyte or more.
    try:
        return VectorIndex.mapped(path)
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise IndexCorruptedError(str(path), f"FAISS cannot read it: {first_line}") from None
