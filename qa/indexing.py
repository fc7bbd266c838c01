"""Build the index from documents, or bring a saved one up to date.

An update touches only what changed: the new and changed articles are
chunked, embedded, analysed and annotated into one new segment, appended
(`qa.store`); a removed or replaced article's rows are left dead in their
segment. Embedding is the slow step, so the rows an update replaces lend
their vectors to passages whose embedded text is unchanged: editing one
article re-embeds only its changed passages.

Compaction (`COMPACT_DEAD_SHARE`, `MAX_SEGMENTS`) rewrites the segments, as
a search engine merges its segments: the dead rows go, and the vectors are
reused, never re-embedded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from qa.annotate import DocumentNotes, annotate, pipeline_info
from qa.chunking import Passage, chunk_documents
from qa.corpus import Document
from qa.embedding import Embedder
from qa.errors import IndexCorruptedError
from qa.lexical import Lexical, Postings
from qa.rows import PassageTable
from qa.settings import Settings
from qa.store import (
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    StoredIndex,
    live_rows,
    load_index,
    read_manifest,
    save_index,
    utc_now,
)
from qa.text import ANALYZER_VERSION, analyze
from qa.vectors import VectorIndex, new_vector_index

log = logging.getLogger(__name__)

#: A text `_embed_or_reuse` makes a vector of: a passage's embedding input, or
#: a sentence with the one before it.
T = TypeVar("T")

#: Compact once dead rows are more than this share of all rows: they cost
#: memory and disk, and a filtered HNSW or IVF search slows as they grow
#: (Lucene's merge policy allows about a third; a quarter here).
COMPACT_DEAD_SHARE = 0.25
#: More segments than this and the newest ones, if none has dead rows, are
#: merged into one (their rows keep their place, so the vector index is not
#: touched); with dead rows among them, the whole index is compacted.
MAX_SEGMENTS = 24


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
        # What a sentence's vector is (`embed_sentences`).
        "sentences": "mean of alone and after the sentence before",
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


def _sentence_key(before: str, text: str) -> str:
    """A sentence's vector depends on its text and the sentence before it
    (`embed_sentences`). Sentence vectors share the reuse table with
    passage vectors, apart."""
    return _key(f"sentence\n{before}\x00{text}")


def embed_sentences(
    texts: list[tuple[str, str]],
    embedder: Embedder,
    previous: Mapping[str, np.ndarray],
) -> np.ndarray:
    """One vector per sentence, given as (the sentence before it, its text):
    the mean of its embedding read alone and read after the sentence before
    it. Its dot product with a question's vector is so the mean of the two
    cosines. The second reading holds what the sentence leaves to its
    context ("Elle vise à…", "Ce programme…"): on dev, choosing the
    answering sentence by this mean instead of the cosine of the sentence
    alone put the answer in the first candidate for 0.665 of the answerable
    questions against 0.642 (cross-validated), and raised the AUC of
    answerable against unanswerable from 0.811 to 0.818; both also rose
    with each question origin held out. On test, answer@1 rose from 0.674
    to 0.690 (README, Evaluation). A vector already in `previous` (same
    text, same sentence before) is reused."""
    keys = [_sentence_key(before, text) for before, text in texts]
    vectors, _ = _embed_or_reuse(
        texts, keys, lambda todo: _read_in_context(todo, embedder), embedder.dimension, previous
    )
    return vectors


def _read_in_context(texts: list[tuple[str, str]], embedder: Embedder) -> np.ndarray:
    """`embed_sentences`' mean of the two readings, embedded in one call. A
    sentence with none before it (an article's first) has one reading only,
    embedded once."""
    after = [i for i, (before, _) in enumerate(texts) if before]
    fresh = embedder.encode_passages(
        [text for _, text in texts] + [f"{texts[i][0]} {texts[i][1]}" for i in after]
    )
    vectors = fresh[: len(texts)].copy()
    vectors[after] = (vectors[after] + fresh[len(texts) :]) / 2
    return vectors


def ensure_index(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: bool = False,
    held: StoredIndex | None = None,
) -> tuple[StoredIndex, BuildReport]:
    """Load the index under `settings.index` if it matches `docs` and
    `settings`; otherwise (re)build it, reusing unchanged vectors, and save it.

    `held` is the index a running assistant holds. When the manifest on disk
    is still the one `held` was loaded or saved with, `held` stands for the
    files (nothing is read again: at 1M passages a load takes most of a
    minute) and is updated in place. Its readers must wait meanwhile, and if
    this raises, `held` may have taken rows the disk does not have: the
    caller drops it (`consistent` tells).

    A corrupted index raises `IndexCorruptedError` unless `rebuild` is set.
    A save by another process between reading the manifest and reading the
    files it names (which that save deletes) is not corruption: the index is
    read once more, from the manifest now on disk.
    """
    manifest_file = settings.index / MANIFEST
    before = manifest_file.read_bytes() if manifest_file.is_file() else None
    try:
        with embedder.workers():  # one worker pool for every step, when there are workers
            return _ensure_index(docs, settings, embedder, rebuild, progress, held)
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
    held: StoredIndex | None = None,
) -> tuple[StoredIndex, BuildReport]:
    folder = settings.index
    build = build_settings(settings, embedder)
    records = document_records(docs)
    manifest = None if rebuild else read_manifest(folder)
    same = held is not None and manifest is not None and held.manifest == manifest
    if manifest is not None and manifest.build == build and unplaced(manifest) == records:
        stored = held if same else load_index(folder, manifest)
        report = BuildReport("fresh", "index is up to date", len(docs), manifest.passages, 0, 0)
        return stored, report

    previous: dict[str, np.ndarray] = {}
    notes: dict[str, DocumentNotes] = {}
    if manifest is None or manifest.build != build:
        if manifest is None:
            reason = "rebuild requested" if rebuild else f"no index in {folder}"
        else:
            reason = why_stale(manifest, build, records)
            same_model = manifest.build.get("model") == build["model"]
            same_pipeline = manifest.build.get("annotations") == build["annotations"]
            if same_model or same_pipeline:
                old = load_index(folder, manifest)
                if same_model:
                    # Sentence vectors made another way are embedded again.
                    same_sentences = manifest.build.get("sentences") == build["sentences"]
                    previous = _previous_vectors(old, old.live, same_sentences)
                if same_pipeline:
                    notes = {n.sha256: n for n in old.notes}
        targets = build_steps(docs, {}, settings.build_step)
        stored, embedded = _build(targets[0], settings, embedder, build, previous, notes, progress)
    else:
        reason = why_stale(manifest, build, records)
        stored = held if same else load_index(folder, manifest)
        targets = build_steps(docs, versions(manifest), settings.build_step)
        stored, embedded = _update(stored, targets[0], settings, embedder, progress)
        stored = _maintain(stored, settings)
    for target in targets[1:]:
        # A long build or update is saved every `build_step` documents: an
        # interrupted one resumes from there (the next run updates it).
        stored.manifest = dataclasses.replace(
            stored.manifest, indexed=indexed_times(_placed(stored, docs), manifest)
        )
        save_index(folder, stored)
        stored, more = _update(stored, target, settings, embedder, progress, previous, notes)
        stored = _maintain(stored, settings)
        embedded += more
    times = indexed_times(docs, manifest)
    stored.manifest = dataclasses.replace(stored.manifest, indexed=times)
    save_index(folder, stored)
    status = "built" if manifest is None else "updated"
    count = stored.manifest.passages
    report = BuildReport(status, reason, len(docs), count, embedded, count - embedded)
    log.info("index %s (%s): %d passages, %d embedded", status, reason, count, embedded)
    return stored, report


def build_steps(
    docs: tuple[Document, ...], before: dict[str, tuple[str, str]], size: int
) -> list[tuple[Document, ...]]:
    """The collections a build or update goes through, each with up to
    `size` more new or changed documents than the one before (changed ones
    first, so that no indexed article is missing for long); the last is
    `docs`. `before`: the indexed documents' sha256 and title, by id."""
    fresh = [d for d in docs if before.get(d.id) != (d.sha256, d.title)]
    if len(fresh) <= size:
        return [docs]
    fresh.sort(key=lambda d: d.id not in before)
    steps = []
    for end in range(size, len(fresh), size):
        taken = {d.id for d in fresh[:end]}
        steps.append(
            tuple(d for d in docs if d.id in taken or before.get(d.id) == (d.sha256, d.title))
        )
    return [*steps, docs]


def versions(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """Each indexed document's sha256 and title, by id: a document of the
    corpus with other ones is new or changed."""
    return {d["id"]: (d["sha256"], d["title"]) for d in manifest.documents}


def changes(
    docs: tuple[Document, ...], manifest: Manifest
) -> tuple[set[str], list[Document], set[str]]:
    """What an update of the index of `manifest` to `docs` does: the ids of
    the documents it keeps as they are, the documents it adds (new or
    changed), and the ids of those whose indexed text goes (removed or
    changed)."""
    before = versions(manifest)
    kept = {d.id for d in docs if before.get(d.id) == (d.sha256, d.title)}
    return kept, [d for d in docs if d.id not in kept], {i for i in before if i not in kept}


def _placed(stored: StoredIndex, docs: tuple[Document, ...]) -> tuple[Document, ...]:
    """The documents of `docs` that `stored` holds."""
    held = {d["id"] for d in stored.manifest.documents}
    return tuple(d for d in docs if d.id in held)


def consistent(stored: StoredIndex) -> bool:
    """Whether `stored`'s parts hold the same rows: false for a held index
    that an update interrupted after it took new rows."""
    rows = len(stored.passages)
    segments = sum(s["passages"] for s in stored.manifest.segments)
    return stored.vectors.ntotal == rows == segments == stored.lexical.count


def unplaced(manifest: Manifest) -> list[dict[str, Any]]:
    """The manifest's documents as `document_records` gives them (without
    the segment that holds each)."""
    return [{k: v for k, v in d.items() if k != "segment"} for d in manifest.documents]


def indexed_times(docs: tuple[Document, ...], manifest: Manifest | None) -> dict[str, str]:
    """When each document was indexed: kept from `manifest` for a document
    whose text did not change, now for the others."""
    now = utc_now()
    before = {} if manifest is None else {d["id"]: d["sha256"] for d in manifest.documents}
    times = {} if manifest is None else manifest.indexed
    return {
        d.id: times[d.id] if before.get(d.id) == d.sha256 and d.id in times else now for d in docs
    }


def _previous_vectors(
    old: StoredIndex, rows: np.ndarray, sentences: bool = True
) -> dict[str, np.ndarray]:
    """The vectors of `old`'s `rows` (flags, live rows only) and (if
    `sentences`) of their documents' sentences, keyed by the text they embed
    (`reusable_vectors`)."""
    titles = {d["id"]: d["title"] for d in old.manifest.documents}
    chosen = np.flatnonzero(rows)
    vectors = old.vectors.reconstruct_batch(chosen.astype(np.int64)) if len(chosen) else []
    passages = [old.passages[row] for row in chosen]
    reached = {p.doc_id for p in passages}
    notes = [n for n in old.notes if n.doc_id in reached] if sentences else []
    return reusable_vectors(passages, vectors, titles, notes, old.sentence_vectors)


def reusable_vectors(
    passages: list[Passage],
    vectors: Sequence[np.ndarray],
    titles: dict[str, str],
    notes: list[DocumentNotes],
    sentence_vectors: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Vectors an update may reuse, keyed by the text they embed: the
    `passages`' (one of `vectors` each) by their embedding input, their
    documents' sentences (`notes`, `sentence_vectors`) by their own text
    and the one before, read from the old passages (a sentence's offsets
    point into its document's old text)."""
    previous: dict[str, np.ndarray] = {}
    by_doc: dict[str, list[Passage]] = {}
    for passage, vector in zip(passages, vectors, strict=True):
        previous[_key(embedding_input(passage, titles[passage.doc_id]))] = vector
        by_doc.setdefault(passage.doc_id, []).append(passage)
    for note in notes:
        if note.doc_id not in by_doc:
            continue
        texts: list[str | None] = []
        for s in note.sentences:
            # A sentence longer than a passage is in none: it is re-embedded,
            # and so is the one after it.
            inside = next(
                (p for p in by_doc[note.doc_id] if p.start <= s.start and s.end <= p.end), None
            )
            at = inside.start if inside is not None else 0
            texts.append(None if inside is None else inside.text[s.start - at : s.end - at])
        for i, (text, vector) in enumerate(zip(texts, sentence_vectors[note.doc_id], strict=True)):
            before = texts[i - 1] if i else ""
            if text is not None and before is not None:
                previous[_sentence_key(before, text)] = np.array(vector)
    return previous


def why_stale(manifest: Manifest, build: dict[str, Any], records: list[dict[str, Any]]) -> str:
    # A setting only one side has changed too (an index written by a newer
    # version has settings this one does not know).
    changed = [k for k in {**manifest.build, **build} if manifest.build.get(k) != build.get(k)]
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


@dataclass(frozen=True)
class Segment:
    """What a new segment holds, in memory, before it is appended."""

    passages: list[Passage]
    vectors: np.ndarray
    block: Postings
    notes: dict[str, DocumentNotes]
    sentence_vectors: dict[str, np.ndarray]
    embedded: int


def new_segment(
    docs: list[Document],
    settings: Settings,
    embedder: Embedder,
    previous: dict[str, np.ndarray],
    notes_by_hash: dict[str, DocumentNotes],
    progress: bool,
) -> Segment:
    """Chunk, embed (or reuse), analyse and annotate `docs`."""
    passages = chunk_documents(
        tuple(docs), settings.passage_chars, settings.passage_max_chars, settings.passage_overlap
    )
    titles = {d.id: d.title for d in docs}
    inputs = [embedding_input(p, titles[p.doc_id]) for p in passages]
    vectors, embedded = _embed_or_reuse(
        inputs,
        [_key(t) for t in inputs],
        lambda todo: embedder.encode_passages(todo, progress=progress),
        embedder.dimension,
        previous,
    )
    fresh_notes = annotate(d for d in docs if d.sha256 not in notes_by_hash)
    known = {**notes_by_hash, **{n.sha256: n for n in fresh_notes}}
    # A document renamed but unchanged keeps its notes under its new id.
    notes = [dataclasses.replace(known[d.sha256], doc_id=d.id) for d in docs]
    # One vector per sentence, so the answering sentence is chosen by
    # meaning too; a sentence whose text (and the one before) did not change
    # keeps its vector.
    texts = []
    for d, n in zip(docs, notes, strict=True):
        own = [d.text[s.start : s.end] for s in n.sentences]
        texts += zip(["", *own[:-1]], own, strict=True)
    vectors_of_sentences = embed_sentences(texts, embedder, previous)
    by_doc, at = {}, 0
    for note in notes:
        by_doc[note.doc_id] = vectors_of_sentences[at : at + len(note.sentences)]
        at += len(note.sentences)
    block = Postings.build(analyze(p.text) for p in passages)
    return Segment(passages, vectors, block, {n.doc_id: n for n in notes}, by_doc, embedded)


def _build(
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    build: dict[str, Any],
    previous: dict[str, np.ndarray],
    notes_by_hash: dict[str, DocumentNotes],
    progress: bool,
) -> tuple[StoredIndex, int]:
    """A new index of `docs` in one unsaved segment."""
    new = new_segment(list(docs), settings, embedder, previous, notes_by_hash, progress)
    documents = [{**r, "segment": ""} for r in document_records(docs)]
    segments = [{"name": "", "passages": len(new.passages), "files": {}}]
    manifest = Manifest(FORMAT_VERSION, build, documents, len(new.passages), segments)
    kind = settings.vector_index_for(len(new.passages))
    stored = StoredIndex(
        manifest,
        PassageTable.of(new.passages),
        VectorIndex(new_vector_index(new.vectors, kind, settings.hnsw_m)),
        Lexical([new.block], settings.bm25_k1, settings.bm25_b),
        np.ones(len(new.passages), dtype=bool),
        [new.notes[d.id] for d in docs],
        {d.id: new.sentence_vectors[d.id] for d in docs},
    )
    return stored, new.embedded


def _update(
    old: StoredIndex,
    docs: tuple[Document, ...],
    settings: Settings,
    embedder: Embedder,
    progress: bool,
    reuse: dict[str, np.ndarray] | None = None,
    reuse_notes: dict[str, DocumentNotes] | None = None,
) -> tuple[StoredIndex, int]:
    """`old` with the new and changed documents of `docs` appended as one
    unsaved segment and the removed and replaced ones' rows dead. Only the
    replaced rows' vectors are read for reuse, not the whole index
    (`reuse` and `reuse_notes` add vectors and notes of an index being
    rebuilt)."""
    before = {d["id"]: d for d in old.manifest.documents}
    records = document_records(docs)
    kept, fresh, gone = changes(docs, old.manifest)
    dying = old.live & old.passages.rows_of(gone)
    previous = {**(reuse or {}), **_previous_vectors(old, dying)}
    old_notes = {n.doc_id: n for n in old.notes}
    notes_by_hash = {**(reuse_notes or {}), **{old_notes[i].sha256: old_notes[i] for i in gone}}
    new = new_segment(fresh, settings, embedder, previous, notes_by_hash, progress)

    documents = [
        {**r, "segment": before[r["id"]]["segment"] if r["id"] in kept else ""} for r in records
    ]
    segments = list(old.manifest.segments)
    passages = old.passages
    if fresh:
        segments.append({"name": "", "passages": len(new.passages), "files": {}})
        passages = passages + PassageTable.of(new.passages)
        old.vectors.add(np.ascontiguousarray(new.vectors))
        old.lexical.append(new.block)
    manifest = dataclasses.replace(old.manifest, documents=documents, segments=segments)
    sentences = {**old.sentence_vectors, **new.sentence_vectors}
    notes = {**old_notes, **new.notes}
    live = live_rows(passages, manifest)
    manifest = dataclasses.replace(manifest, passages=int(live.sum()))
    stored = StoredIndex(
        manifest,
        passages,
        old.vectors,
        old.lexical,
        live,
        [notes[d.id] for d in docs],
        {d.id: sentences[d.id] for d in docs},
    )
    return stored, new.embedded


def _maintain(stored: StoredIndex, settings: Settings) -> StoredIndex:
    """Compact `stored` when it is due (see `COMPACT_DEAD_SHARE`,
    `MAX_SEGMENTS`), or when the collection has grown or shrunk into
    another vector index type; else merge its newest segments when there
    are too many; else return it as it is."""
    rows = len(stored.passages)
    dead = rows - int(stored.live.sum())
    kind = settings.vector_index_for(int(stored.live.sum()))
    if dead > COMPACT_DEAD_SHARE * rows or kind != stored.vectors.kind:
        return compact(stored, settings)
    if len(stored.manifest.segments) <= MAX_SEGMENTS:
        return stored
    # The newest segments, back to one at least as large as all of them
    # (two at least): small segments merge among themselves, so a large
    # one is not rewritten for every few small ones (Lucene's tiered merges).
    starts = stored.segment_starts()
    sizes = [s["passages"] for s in stored.manifest.segments]
    first, tail = len(sizes), 0
    while first > 0 and stored.live[starts[first - 1] :].all():
        if first < len(sizes) - 1 and sizes[first - 1] > tail:
            break
        first -= 1
        tail += sizes[first]
    if len(sizes) - first < 2:
        return compact(stored, settings)
    return _merge_tail(stored, first)


def live_parts(stored: StoredIndex) -> tuple[np.ndarray, np.ndarray, Postings]:
    """The live rows of `stored`, in order, with their vectors (read back
    from the vector index) and their term counts merged into one block:
    what a compaction or an export to another store rewrites."""
    rows = np.flatnonzero(stored.live).astype(np.int64)
    vectors = (
        stored.vectors.reconstruct_batch(rows)
        if len(rows)
        else np.zeros((0, stored.vectors.d), dtype=np.float32)
    )
    return rows, vectors, Postings.merge(stored.lexical.blocks, stored.live)


def compact(stored: StoredIndex, settings: Settings) -> StoredIndex:
    """Every live row in one unsaved segment, in the same order; the vector
    index rebuilt from the stored vectors (nothing is re-embedded) with the
    type the live count calls for, the term counts merged, not re-analysed."""
    rows, vectors, block = live_parts(stored)
    passages = stored.passages.take(rows)
    documents = [{**d, "segment": ""} for d in stored.manifest.documents]
    segments = [{"name": "", "passages": len(passages), "files": {}}]
    manifest = dataclasses.replace(
        stored.manifest, documents=documents, segments=segments, ann={}, passages=len(passages)
    )
    kind = settings.vector_index_for(len(passages))
    log.info(
        "index compacted: %d rows, %d of them dead",
        len(stored.passages),
        len(stored.passages) - len(passages),
    )
    return StoredIndex(
        manifest,
        passages,
        VectorIndex(new_vector_index(vectors, kind, settings.hnsw_m)),
        Lexical([block], stored.lexical.k1, stored.lexical.b),
        np.ones(len(passages), dtype=bool),
        stored.notes,
        stored.sentence_vectors,
    )


def _merge_tail(stored: StoredIndex, first: int) -> StoredIndex:
    """Segments `first` onwards (all their rows live) as one unsaved
    segment: their rows stay where they are, so the vector index is kept."""
    tail = stored.manifest.segments[first:]
    names = {s["name"] for s in tail}
    merged = {"name": "", "passages": sum(s["passages"] for s in tail), "files": {}}
    documents = [
        {**d, "segment": "" if d["segment"] in names else d["segment"]}
        for d in stored.manifest.documents
    ]
    manifest = dataclasses.replace(
        stored.manifest,
        documents=documents,
        segments=[*stored.manifest.segments[:first], merged],
    )
    blocks = stored.lexical.blocks
    lexical = Lexical(
        [*blocks[:first], Postings.merge(blocks[first:])], stored.lexical.k1, stored.lexical.b
    )
    return dataclasses.replace(stored, manifest=manifest, lexical=lexical)


def _embed_or_reuse(
    texts: Sequence[T],
    keys: list[str],
    encode: Callable[[list[T]], np.ndarray],
    dimension: int,
    previous: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, int]:
    """A vector per text: `previous[key]` when there is one, else made by
    `encode` (passages: one embedding; sentences: `_read_in_context`).
    Returns the vectors and how many were embedded."""
    todo = [i for i, key in enumerate(keys) if key not in previous]
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    fresh = encode([texts[i] for i in todo])
    for row, i in enumerate(todo):
        vectors[i] = fresh[row]
    for i, key in enumerate(keys):
        if key in previous:
            vectors[i] = previous[key]
    return vectors, len(todo)
