"""Save, load and verify the index folder. Plain files only, never pickle.

    index/
      manifest.json      format version, build settings, model hash, documents,
                         passage count, the data subfolder and the sha256 of
                         every file in it
      data-<time>/
        passages.jsonl   one passage per line: doc_id, number, start, end, text
        vectors.faiss    FAISS inner-product index of normalised embeddings
        bm25/            bm25s arrays (.npy, allow_pickle=False) and JSON vocab
        notes.jsonl      per document: its sentences and their named entities (spaCy)
        sentences.npy    one normalised embedding per sentence of `notes.jsonl`,
                         in document order (allow_pickle=False)

The data files live in a subfolder of their own, `data-<time>/`, named by
the manifest. A save writes a new subfolder (each file fsynced), then
replaces `manifest.json` in one `os.replace`, then deletes the subfolders no
manifest names. Until that replace the old manifest and its files are
untouched, so a save that crashes half-way (an upload whose indexing is
killed) leaves the previous index loading as it was, and the next load
finishes the update from it instead of re-embedding everything.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np

try:  # POSIX; elsewhere saves are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from qa.annotate import DocumentNotes
from qa.chunking import Passage
from qa.errors import IndexCorruptedError

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.faiss"
BM25_DIR = "bm25"
NOTES = "notes.jsonl"
SENTENCES = "sentences.npy"
DATA_PREFIX = "data-"
LOCK = ".writer.lock"
#: The process's umask, read once (reading it means setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    #: Settings that shape the index (model name, hash and dimension, chunking,
    #: analyzer, BM25 parameters). A different build means a stale index.
    build: dict[str, Any]
    #: id, sha256, title and path of each document, in index order.
    documents: list[dict[str, Any]]
    passages: int
    #: sha256 of every data file, by path relative to the data subfolder.
    files: dict[str, str]
    #: The subfolder holding the data files ("" for an index saved before
    #: subfolders, with its files beside the manifest).
    data: str = ""
    #: When each document's current text was indexed (UTC, ISO 8601), by id.
    indexed: dict[str, str] = field(default_factory=dict)
    #: When the index was last saved (UTC, ISO 8601).
    updated: str = ""


@dataclass
class StoredIndex:
    manifest: Manifest
    passages: list[Passage]
    vectors: faiss.Index
    bm25: bm25s.BM25
    #: Per document (index order): sentences and entities.
    notes: list[DocumentNotes] = field(default_factory=list)
    #: One row per sentence of `notes`, documents in order.
    sentence_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def sentence_rows(self) -> dict[str, int]:
        """Row of each document's first sentence in `sentence_vectors`."""
        rows, at = {}, 0
        for note in self.notes:
            rows[note.doc_id] = at
            at += len(note.sentences)
        return rows


#: HNSW build breadth: twice FAISS's default of 40, a better graph for about
#: twice the insert time (a common choice; not tuned on this collection).
HNSW_EF_CONSTRUCTION = 80
#: IVF k-means trains on this many vectors per list (FAISS warns below 39).
IVF_TRAIN_PER_LIST = 64


def ivf_lists(count: int) -> int:
    """Number of IVF lists: about the square root of the collection size, so
    lists are about as long as they are many and a search of `nprobe` lists
    reads about nprobe x sqrt(n) vectors, growing with the square root of the
    collection instead of linearly (2 ms at 100k, 6 ms at 1M for nprobe 32)."""
    return max(1, round(math.sqrt(count)))


def new_vector_index(vectors: np.ndarray, kind: str = "flat", hnsw_m: int = 32) -> faiss.Index:
    """Inner-product search over normalised vectors, that is cosine.

    `flat` scans every vector: exact, no build cost, linear query time.
    `ivf` (IndexIVFFlat) clusters the vectors with k-means and scans only the
    lists nearest the question: approximate, and quick to rebuild (a sample
    trains it), which matters because every update rebuilds the index.
    `hnsw` (IndexHNSWFlat) is a graph: fast queries, but its build is slow
    (see the README's performance section).
    All three keep the full vectors, so `reconstruct` gives exact scores and a
    rebuild can reuse vectors instead of re-embedding.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif kind == "ivf":
        lists = ivf_lists(len(vectors))
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
        )
        sample = min(len(vectors), IVF_TRAIN_PER_LIST * lists)
        rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
        index.train(vectors[np.sort(rows)])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        raise ValueError(f"unknown vector index type {kind!r}")
    index.add(vectors)
    if kind == "ivf":
        index.make_direct_map()  # for reconstruct(); saved with the index
    return index


def vector_index_kind(index: faiss.Index) -> str:
    """`flat`, `ivf` or `hnsw`, read from a loaded FAISS index."""
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file owner-only; give it the mode open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_index(folder: Path, stored: StoredIndex) -> Manifest:
    """Write `stored` under `folder` (see the module docstring for why in a
    new subfolder); return the manifest with its file hashes."""
    folder.mkdir(parents=True, exist_ok=True)
    with _writer_lock(folder):
        stored.manifest = _write(folder, stored)
    return stored.manifest


@contextmanager
def _writer_lock(folder: Path) -> Iterator[None]:
    """One save at a time per index folder, across processes (the page and
    `qa add` at once): a save deletes the data subfolders its manifest does
    not name, which would include one another process is still writing."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(folder: Path, stored: StoredIndex) -> Manifest:
    """Write the data files into a new subfolder, then point the manifest
    at it (one rename), then delete what the new manifest does not name."""
    data = f"{DATA_PREFIX}{time.time_ns():x}"
    files: dict[str, bytes] = {
        PASSAGES: "".join(
            json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in stored.passages
        ).encode(),
        VECTORS: faiss.serialize_index(stored.vectors).tobytes(),
        NOTES: "".join(
            json.dumps(n.to_json(), ensure_ascii=False) + "\n" for n in stored.notes
        ).encode(),
        SENTENCES: _npy_bytes(stored.sentence_vectors),
    }
    with tempfile.TemporaryDirectory(dir=folder, prefix=".bm25-") as tmp:
        stored.bm25.save(tmp, allow_pickle=False, show_progress=False)
        for item in sorted(Path(tmp).iterdir()):
            files[f"{BM25_DIR}/{item.name}"] = item.read_bytes()
    for name, content in files.items():
        atomic_write(folder / data / name, content)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        build=stored.manifest.build,
        documents=stored.manifest.documents,
        passages=len(stored.passages),
        files={name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        data=data,
        indexed=stored.manifest.indexed,
        updated=utc_now(),
    )
    atomic_write(folder / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
    _drop_unnamed(folder, data)
    return manifest


def utc_now() -> str:
    """The time now, UTC, to the second, as the manifest records times."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _drop_unnamed(folder: Path, data: str) -> None:
    """Delete what the manifest no longer names: older data subfolders, what
    a killed save left (a half-written subfolder, a temporary manifest or
    BM25 folder), and the files of an index saved before subfolders. Called
    under the writer lock, so no other save's files are among them."""
    for path in folder.iterdir():
        stale_data = path.name.startswith(DATA_PREFIX) and path.name != data
        if path.is_dir() and (stale_data or path.name.startswith(".bm25-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{MANIFEST}.") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
    for name in (PASSAGES, VECTORS, NOTES, SENTENCES):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / BM25_DIR, ignore_errors=True)


def data_folder(folder: Path, manifest: Manifest | None = None) -> Path:
    """The folder holding the data files of the index in `folder`."""
    manifest = manifest or read_manifest(folder)
    return folder / manifest.data if manifest is not None and manifest.data else folder


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


def _inside(name: str) -> bool:
    """Whether a file name of the manifest stays inside the index folder (a
    relative path with no '..'), so a forged manifest reads nothing else."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in parts


#: What each manifest field must be, and the check.
_MANIFEST_SHAPE: dict[str, tuple[str, Any]] = {
    "format_version": ("an integer", lambda v: isinstance(v, int)),
    "build": (
        "an object whose 'model', if given, is an object",
        lambda v: isinstance(v, dict) and isinstance(v.get("model", {}), dict),
    ),
    "documents": (
        "a list of objects with string 'id', 'sha256', 'title' and 'path'",
        lambda v: (
            isinstance(v, list)
            and all(
                isinstance(d, dict) and all(isinstance(d.get(k), str) for k in _DOCUMENT_KEYS)
                for d in v
            )
        ),
    ),
    "passages": (
        "a count (an integer, 0 or more)",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    ),
    "files": (
        "an object of file name (inside the index) to sha256 string",
        lambda v: _is_map(v, str) and all(_inside(name) for name in v),
    ),
    "data": (
        f"a data folder name ({DATA_PREFIX}<hex>), or empty",
        lambda v: isinstance(v, str) and (not v or re.fullmatch(rf"{DATA_PREFIX}[0-9a-f]+", v)),
    ),
    "indexed": ("an object of document id to time string", lambda v: _is_map(v, str)),
    "updated": ("a string", lambda v: isinstance(v, str)),
}
_DOCUMENT_KEYS = ("id", "sha256", "title", "path")
_REQUIRED = ("format_version", "build", "documents", "passages", "files")


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
    """Load and verify the files `manifest` lists; raise `IndexCorruptedError`
    naming the first file that is missing, damaged or inconsistent."""
    folder = data_folder(folder, manifest)
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise IndexCorruptedError(str(path), "file missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise IndexCorruptedError(str(path), f"sha256 differs from {MANIFEST}")
    passages = _read_passages(folder / PASSAGES)
    vectors = _read_vectors(folder / VECTORS)
    notes = _read_notes(folder / NOTES)
    sentence_vectors = _read_npy(folder / SENTENCES)
    try:
        bm25 = bm25s.BM25.load(str(folder / BM25_DIR), allow_pickle=False, show_progress=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise IndexCorruptedError(str(folder / BM25_DIR), str(err)) from None
    counts = {
        f"{MANIFEST} passages": manifest.passages,
        PASSAGES: len(passages),
        VECTORS: vectors.ntotal,
        BM25_DIR: int(bm25.scores["num_docs"]),
    }
    if len(set(counts.values())) != 1:
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise IndexCorruptedError(str(folder), f"counts disagree: {detail}")
    dimension = manifest.build.get("model", {}).get("dimension")
    if vectors.d != dimension:
        raise IndexCorruptedError(
            str(folder / VECTORS), f"dimension {vectors.d}, manifest says {dimension}"
        )
    sentences = sum(len(n.sentences) for n in notes)
    if sentence_vectors.shape != (sentences, dimension):
        raise IndexCorruptedError(
            str(folder / SENTENCES),
            f"shape {sentence_vectors.shape}, expected ({sentences}, {dimension})",
        )
    if [n.doc_id for n in notes] != [d["id"] for d in manifest.documents]:
        raise IndexCorruptedError(str(folder / NOTES), "documents differ from the manifest's")
    return StoredIndex(manifest, passages, vectors, bm25, notes, sentence_vectors)


def _read_passages(path: Path) -> list[Passage]:
    passages = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                passages.append(Passage(**json.loads(line)))
            except (ValueError, TypeError) as err:
                raise IndexCorruptedError(f"{path}:{line_no}", str(err)) from None
    return passages


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


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise IndexCorruptedError(str(path), f"not a .npy array: {err}") from None
    if array.dtype != np.float32 or array.ndim != 2:
        raise IndexCorruptedError(str(path), f"expected a 2-d float32 array, got {array.dtype}")
    return array


def _read_vectors(path: Path) -> faiss.Index:
    try:
        return faiss.deserialize_index(np.frombuffer(path.read_bytes(), dtype=np.uint8))
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise IndexCorruptedError(str(path), f"FAISS cannot read it: {first_line}") from None
