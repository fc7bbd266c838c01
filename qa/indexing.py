"""Build the index from documents, or bring a saved one up to date.

Embedding is the slow step, so a rebuild reuses the vector of every passage
whose embedded text is unchanged (same model): editing one article
re-embeds only that article's passages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import bm25s
import numpy as np

from qa.annotate import DocumentNotes, annotate, pipeline_info
from qa.chunking import Passage, chunk_documents
from qa.corpus import Document
from qa.embedding import Embedder
from qa.errors import IndexCorruptedError
from qa.settings import Settings
from qa.store import (
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    StoredIndex,
    load_index,
    new_vector_index,
    read_manifest,
    save_index,
    utc_now,
)
from qa.text import ANALYZER_VERSION, analyze

log = logging.getLogger(__name__)
# bm25s logs every index build at DEBUG on its own logger; keep our output readable.
logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class BuildReport:
    """What `ensure_index` did, for the CLI and the tests."""

    status: Literal["fresh", "built", "updated"]
    reason: str
    documents: int
    passages: int
    embedded: int
    reused: int


def build_settings(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """The settings that shape the saved index; any change makes it stale."""
    return {
        "model": {
            "name": embedder.info.name,
            "sha256": embedder.info.sha256,
            "dimension": embedder.dimension,
            # Backends agree to about 0.99 cosine, not exactly: vectors are not mixed.
            "backend": embedder.backend,
        },
        "chunking": {
            "passage_chars": settings.passage_chars,
            "passage_max_chars": settings.passage_max_chars,
            "passage_overlap": settings.passage_overlap,
        },
        "vectors": {
            "index": settings.vector_index,
            "flat_max_passages": settings.flat_max_passages,
            "hnsw_m": settings.hnsw_m,
        },
        "analyzer": ANALYZER_VERSION,
        "annotations": pipeline_info(),
        "bm25": {"k1": settings.bm25_k1, "b": settings.bm25_b, "method": "lucene"},
    }


def document_records(docs: tuple[Document, ...]) -> list[dict[str, Any]]:
    return [{"id": d.id, "sha256": d.sha256, "title": d.title, "path": d.path} for d in docs]


def embedding_input(passage: Passage, title: str) -> str:
    """The text embedded for a passage: its article's title gives the model the
    topic that later passages of the article no longer name."""
    if passage.number == 0:
        return passage.text
    return f"{title}\n{passage.text}"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sentence_key(text: str) -> str:
    """Sentence vectors share the reuse table with passage vectors, apart."""
    return _key("sentence\n" + text)


def ensure_index(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: bool = False,
) -> tuple[StoredIndex, BuildReport]:
    """Load the index under `settings.index` if it matches `docs` and
    `settings`; otherwise (re)build it, reusing unchanged vectors, and save it.

    A corrupted index raises `IndexCorruptedError` unless `rebuild` is set.
    A save by another process between reading the manifest and reading the
    files it names (which that save deletes) is not corruption: the index is
    read once more, from the manifest now on disk.
    """
    manifest_file = settings.index / MANIFEST
    before = manifest_file.read_bytes() if manifest_file.is_file() else None
    try:
        return _ensure_index(docs, settings, embedder, rebuild, progress)
    except IndexCorruptedError:
        now = manifest_file.read_bytes() if manifest_file.is_file() else None
        if now == before:
            raise
        log.info("the index was saved by another process while being read: reading it again")
        return _ensure_index(docs, settings, embedder, rebuild, progress)


def _ensure_index(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool,
    progress: bool,
) -> tuple[StoredIndex, BuildReport]:
    folder = settings.index
    build = build_settings(settings, embedder)
    records = document_records(docs)
    manifest = None if rebuild else read_manifest(folder)
    if manifest is not None and manifest.build == build and manifest.documents == records:
        stored = load_index(folder, manifest)
        report = BuildReport("fresh", "index is up to date", len(docs), len(stored.passages), 0, 0)
        return stored, report

    previous: dict[str, np.ndarray] = {}
    notes: dict[str, DocumentNotes] = {}
    if manifest is None:
        reason = "rebuild requested" if rebuild else f"no index in {folder}"
    else:
        reason = _why_stale(manifest, build, records)
        same_model = manifest.build.get("model") == build["model"]
        same_pipeline = manifest.build.get("annotations") == build["annotations"]
        if same_model or same_pipeline:
            old = load_index(folder, manifest)
            if same_model:
                previous = _previous_vectors(old)
            if same_pipeline:
                notes = {n.sha256: n for n in old.notes}
    stored, embedded = _build(docs, settings, embedder, build, records, previous, notes, progress)
    stored.manifest.indexed.update(_indexed_times(docs, manifest))
    save_index(folder, stored)
    status = "built" if manifest is None else "updated"
    report = BuildReport(
        status, reason, len(docs), len(stored.passages), embedded, len(stored.passages) - embedded
    )
    log.info("index %s (%s): %d passages, %d embedded", status, reason, report.passages, embedded)
    return stored, report


def _indexed_times(docs: tuple[Document, ...], manifest: Manifest | None) -> dict[str, str]:
    """When each document was indexed: kept from `manifest` for a document
    whose text did not change, now for the others."""
    now = utc_now()
    before = {} if manifest is None else {d["id"]: d["sha256"] for d in manifest.documents}
    times = {} if manifest is None else manifest.indexed
    return {
        d.id: times[d.id] if before.get(d.id) == d.sha256 and d.id in times else now for d in docs
    }


def _previous_vectors(old: StoredIndex) -> dict[str, np.ndarray]:
    """Every vector of `old`, keyed by the text it embeds: passages by their
    embedding input, sentences by their own text, read from the old index
    (its passages hold the old text; a sentence's offsets point into it)."""
    previous: dict[str, np.ndarray] = {}
    titles = {d["id"]: d["title"] for d in old.manifest.documents}
    vectors = old.vectors.reconstruct_n(0, old.vectors.ntotal)
    by_doc: dict[str, list[Passage]] = {}
    for passage, vector in zip(old.passages, vectors, strict=True):
        previous[_key(embedding_input(passage, titles[passage.doc_id]))] = vector
        by_doc.setdefault(passage.doc_id, []).append(passage)
    row = 0
    for note in old.notes:
        for s in note.sentences:
            # A sentence longer than a passage is in none: it is re-embedded.
            inside = next(
                (p for p in by_doc.get(note.doc_id, ()) if p.start <= s.start and s.end <= p.end),
                None,
            )
            if inside is not None:
                text = inside.text[s.start - inside.start : s.end - inside.start]
                previous[_sentence_key(text)] = old.sentence_vectors[row]
            row += 1
    return previous


def _why_stale(manifest: Manifest, build: dict[str, Any], records: list[dict[str, Any]]) -> str:
    changed = [key for key in build if manifest.build.get(key) != build[key]]
    if changed:
        return "settings changed: " + ", ".join(changed)
    old = {d["id"]: d["sha256"] for d in manifest.documents}
    new = {d["id"]: d["sha256"] for d in records}
    parts = []
    if added := sorted(new.keys() - old.keys()):
        parts.append("added " + ", ".join(added))
    if removed := sorted(old.keys() - new.keys()):
        parts.append("removed " + ", ".join(removed))
    if edited := sorted(i for i in new.keys() & old.keys() if new[i] != old[i]):
        parts.append("changed " + ", ".join(edited))
    return "; ".join(parts) or "document titles or paths changed"


def _build(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    build: dict[str, Any],
    records: list[dict[str, Any]],
    previous: dict[str, np.ndarray],
    notes_by_hash: dict[str, DocumentNotes],
    progress: bool,
) -> tuple[StoredIndex, int]:
    passages = chunk_documents(
        docs, settings.passage_chars, settings.passage_max_chars, settings.passage_overlap
    )
    titles = {d.id: d.title for d in docs}
    inputs = [embedding_input(p, titles[p.doc_id]) for p in passages]
    vectors, embedded = _embed_or_reuse(
        inputs, [_key(t) for t in inputs], embedder, previous, progress
    )

    fresh_notes = annotate(d for d in docs if d.sha256 not in notes_by_hash)
    notes_by_hash.update({n.sha256: n for n in fresh_notes})
    # A document renamed but unchanged keeps its notes under its new id.
    notes = [dataclasses.replace(notes_by_hash[d.sha256], doc_id=d.id) for d in docs]
    # One embedding per sentence, so the answering sentence is chosen by
    # meaning too; a sentence whose text did not change keeps its vector.
    texts = [d.text[s.start : s.end] for d, n in zip(docs, notes, strict=True) for s in n.sentences]
    sentence_vectors, _ = _embed_or_reuse(
        texts, [_sentence_key(t) for t in texts], embedder, previous, False
    )

    bm25 = bm25s.BM25(k1=settings.bm25_k1, b=settings.bm25_b, method="lucene")
    bm25.index([analyze(p.text) for p in passages], show_progress=False)
    manifest = Manifest(FORMAT_VERSION, build, records, len(passages), {})
    kind = settings.vector_index_for(len(passages))
    index = new_vector_index(vectors, kind, settings.hnsw_m)
    stored = StoredIndex(manifest, passages, index, bm25, notes, sentence_vectors)
    return stored, embedded


def _embed_or_reuse(
    texts: list[str],
    keys: list[str],
    embedder: Embedder,
    previous: dict[str, np.ndarray],
    progress: bool,
) -> tuple[np.ndarray, int]:
    """A vector per text: `previous[key]` when there is one, else embedded.
    Returns the vectors and how many were embedded."""
    todo = [i for i, key in enumerate(keys) if key not in previous]
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    fresh = embedder.encode_passages([texts[i] for i in todo], progress=progress)
    for row, i in enumerate(todo):
        vectors[i] = fresh[row]
    for i, key in enumerate(keys):
        if key in previous:
            vectors[i] = previous[key]
    return vectors, len(todo)
