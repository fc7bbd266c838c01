"""6. Growth: adding one article to an index of n passages already on disk.

Issue 13's goal is the index's own work for one added article (its
embedding aside) at 1M passages: 5 s. The starting collection is synthetic
(articles of 6 passages of 8 seed sentences, random unit vectors: what an
update costs does not depend on what the vectors mean), saved by the store
as one segment. The new article's embedding and spaCy analysis are
stand-ins that cost nothing, so the rows time only the index:

- `load`: reading and verifying the index from disk (`load_index`);
- `add one article, on disk`: `ensure_index` with the new article, as
  `qa index` or a new process would run it (load, update, save);
- `add one article, in memory`: the update and save alone, on the index a
  running page already holds;
- `files written by the add`: bytes the add wrote (the new segment and the
  manifest);
- `read the corpus folder`, `read it after one upload`: the articles as
  files, read whole (a start) and after one more is saved (a running page,
  which reads only new and changed files);
- `load, peak RSS` and `loaded, resident`: the memory of a new process that
  loads the index (`load_index`, in a child process, so nothing of the
  benchmark's own counts): its peak, and what stays resident once loaded
  (anonymous memory, plus the mapped file pages it has touched);
- `assistant, resident` and `assistant, peak RSS`: the same process once it
  also holds what a running assistant holds (the default model, the French
  word vectors) and has searched the index with 100 dev questions (the
  retrieval step: candidates, fusion, passages read). The anonymous part is
  the process's own; the rest is pages of mapped index files, which the
  kernel drops again when memory is short.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import QUESTIONS, Row, memory_mib, run_child, seed_sentences
from bench.scale import DIMENSION, _label, unit_vectors

PASSAGES_PER_ARTICLE = 6


class _StubEmbedder:
    """Random unit vectors: the benchmark times the index, not the model."""

    dimension = DIMENSION
    backend = "torch"

    def __init__(self) -> None:
        from qa.embedding import ModelInfo

        self.info = ModelInfo("bench-random", "", "0" * 64)
        self._rng = np.random.default_rng(7)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return unit_vectors(len(texts), self._rng)

    @contextlib.contextmanager
    def workers(self):
        yield


def _notes(docs):
    """One sentence per article, no entities: spaCy's time is not the index's."""
    from qa.annotate import DocumentNotes, SentenceNote

    return [DocumentNotes(d.id, d.sha256, (SentenceNote(0, len(d.text), ()),)) for d in docs]


def _collection(passages: int):
    """Synthetic articles and their passages (one per paragraph)."""
    from qa.chunking import Passage
    from qa.corpus import Document

    rng = random.Random(0)
    pool = seed_sentences()
    docs, rows = [], []
    for n in range(passages // PASSAGES_PER_ARTICLE):
        paragraphs = [
            " ".join(pool[rng.randrange(len(pool))] for _ in range(8))
            for _ in range(PASSAGES_PER_ARTICLE)
        ]
        text, at = "\n\n".join(paragraphs), 0
        doc_id = f"a{n:07d}.txt"
        for number, paragraph in enumerate(paragraphs):
            rows.append(Passage(doc_id, number, at, at + len(paragraph), paragraph))
            at += len(paragraph) + 2
        sha = hashlib.sha256(text.encode()).hexdigest()
        docs.append(Document(doc_id, f"Article {n}", text, f"/bench/{doc_id}", sha))
    return tuple(docs), rows


def _save_start(folder: Path, passages: int, settings, embedder) -> tuple:
    """The starting index of `passages` rows, written by the store."""
    from qa.indexing import build_settings, document_records
    from qa.lexical import Lexical, Postings
    from qa.rows import PassageTable
    from qa.store import FORMAT_VERSION, Manifest, StoredIndex, save_index
    from qa.text import analyze
    from qa.vectors import VectorIndex, new_vector_index

    docs, rows = _collection(passages)
    vectors = unit_vectors(len(rows), np.random.default_rng(1))
    block = Postings.build(analyze(p.text) for p in rows)
    manifest = Manifest(
        FORMAT_VERSION,
        build_settings(settings, embedder),
        [{**r, "segment": ""} for r in document_records(docs)],
        len(rows),
        [{"name": "", "passages": len(rows), "files": {}}],
    )
    kind = settings.vector_index_for(len(rows))
    sentences = unit_vectors(len(docs), np.random.default_rng(2))  # one sentence an article
    stored = StoredIndex(
        manifest,
        PassageTable.of(rows),
        VectorIndex(new_vector_index(vectors, kind, settings.hnsw_m)),
        Lexical([block], settings.bm25_k1, settings.bm25_b),
        np.ones(len(rows), dtype=bool),
        _notes(docs),
        {d.id: v[None, :] for d, v in zip(docs, sentences, strict=True)},
    )
    save_index(folder, stored)
    return docs, kind


def _new_article():
    from qa.corpus import Document

    text = (
        "Le laboratoire Robotarn ouvrira ses portes à Albi en mars, avec 35 chercheurs.\n\n"
        "Il sera dirigé par Jeanne Falco, venue de l'école des Mines."
    )
    sha = hashlib.sha256(text.encode()).hexdigest()
    return Document("zz-robotarn.txt", "Un laboratoire à Albi", text, "/bench/zz.txt", sha)


def _bytes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def run(sizes: list[int], hnsw_max: int) -> list[Row]:
    """Rows for each size: `hnsw` (the default above 20k) up to `hnsw_max`
    passages, whose build is slow; `ivf` above it."""
    import qa.indexing
    from qa.settings import Settings
    from qa.store import load_index, read_manifest, save_index

    rows: list[Row] = []
    embedder = _StubEmbedder()
    real_annotate = qa.indexing.annotate
    qa.indexing.annotate = _notes
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix="qa-grow-") as scratch:
                folder = Path(scratch) / "index"
                settings = Settings(index=folder, vector_index="hnsw" if n <= hnsw_max else "ivf")
                start = time.perf_counter()
                docs, kind = _save_start(folder, n, settings, embedder)
                label, detail = _label(n), f"{kind}, {len(docs)} articles"
                rows.append(
                    Row("6 growth", f"{label} start index build", _since(start), "s", detail)
                )
                start = time.perf_counter()
                loaded = load_index(folder, read_manifest(folder))
                rows.append(Row("6 growth", f"{label} load", _since(start), "s", detail))
                memory = _load_memory(folder)
                before = f"fresh process, {memory['before']:.0f} MiB before loading"
                searched = (
                    f"with {memory['model']} and the word vectors, after "
                    f"{memory['questions']} dev questions searched"
                )
                rows += [
                    Row("6 growth", f"{label} load, peak RSS", memory["peak"], "MiB", before),
                    Row(
                        "6 growth",
                        f"{label} loaded, resident",
                        memory["rss"],
                        "MiB",
                        f"{memory['anon']:.0f} MiB of it anonymous",
                    ),
                    Row(
                        "6 growth",
                        f"{label} assistant, resident",
                        memory["assistant_rss"],
                        "MiB",
                        f"{memory['assistant_anon']:.0f} MiB of it anonymous; {searched}",
                    ),
                    Row(
                        "6 growth",
                        f"{label} assistant, peak RSS",
                        memory["assistant_peak"],
                        "MiB",
                        searched,
                    ),
                    Row(
                        "6 growth",
                        f"{label} search a question, first time, p50",
                        memory["search_ms"],
                        "ms",
                        "retrieval step (candidates, fusion, passages read), question encoded",
                    ),
                ]
                grown = (*docs, _new_article())
                shutil.copytree(folder, Path(scratch) / "copy")
                before = _bytes(folder)
                start = time.perf_counter()
                qa.indexing.ensure_index(grown, settings, embedder)
                rows.append(
                    Row("6 growth", f"{label} add one article, on disk", _since(start), "s", detail)
                )
                after = _bytes(folder)
                written = sum(size for path, size in after.items() if before.get(path) != size)
                rows.append(
                    Row(
                        "6 growth",
                        f"{label} files written by the add",
                        written / 2**10,
                        "KiB",
                        f"of {sum(after.values()) / 2**20:.0f} MiB",
                    )
                )
                copy = Path(scratch) / "copy"
                start = time.perf_counter()
                updated, _ = qa.indexing._update(loaded, grown, settings, embedder, False)
                save_index(copy, qa.indexing._maintain(updated, settings))
                rows.append(
                    Row(
                        "6 growth",
                        f"{label} add one article, in memory",
                        _since(start),
                        "s",
                        detail + "; update and save only",
                    )
                )
                del loaded, updated
                rows += _corpus_rows(Path(scratch) / "corpus", docs, label)
    finally:
        qa.indexing.annotate = real_annotate
    return rows


def _corpus_rows(folder: Path, docs, label: str) -> list[Row]:
    """The articles as files: reading the folder whole, as a start does,
    then again after one upload, as a running page does (`previous`: only
    new or changed files are read)."""
    from qa.corpus import load_corpus

    folder.mkdir()
    for doc in docs:
        (folder / doc.id).write_text(f"{doc.title}\n\n{doc.text}\n", encoding="utf-8")
    start = time.perf_counter()
    whole = load_corpus(folder)
    first = _since(start)
    new = _new_article()
    (folder / new.id).write_text(f"{new.title}\n\n{new.text}\n", encoding="utf-8")
    start = time.perf_counter()
    again = load_corpus(folder, previous=whole)
    detail = f"{len(again.documents)} article files"
    return [
        Row("6 growth", f"{label} read the corpus folder", first, "s", detail),
        Row("6 growth", f"{label} read it after one upload", _since(start), "s", detail),
    ]


def _since(start: float) -> float:
    return time.perf_counter() - start


def _load_memory(folder: Path) -> dict[str, float]:
    """Peak and resident memory of a new process loading the index in `folder`."""
    return run_child("bench.grow", "--load", str(folder))


def _load_child(folder: Path) -> None:
    """Load the index, then what else a running assistant holds (the
    default model, the French word vectors) and search it with the dev
    questions: memory after each."""
    import faiss  # noqa: F401

    import qa.store

    before = memory_mib()["rss"]
    loaded = qa.store.load_index(folder, qa.store.read_manifest(folder))
    found = {**memory_mib(), "before": before, "rows": len(loaded.passages)}

    from qa.embedding import Embedder
    from qa.evaluation import load_questions
    from qa.retrieval import Retriever
    from qa.settings import Settings
    from qa.stores.files import FileStore
    from qa.words import load_word_vectors

    settings = Settings(index=folder)
    embedder = Embedder.from_settings(settings)
    load_word_vectors()
    retriever = Retriever(FileStore(loaded, settings), embedder, settings)
    questions = [q.question for q in load_questions(QUESTIONS, split="dev")][:100]
    vectors = embedder.encode_query(questions)  # the model's time is not the index's
    took = []
    for question, vector in zip(questions, vectors, strict=True):
        start = time.perf_counter()
        retriever.search(question, "hybrid", settings.candidates, vector)
        took.append(_since(start) * 1000)
    used = memory_mib()
    found.update(
        assistant_rss=used["rss"],
        assistant_anon=used["anon"],
        assistant_peak=used["peak"],
        questions=len(questions),
        model=embedder.info.name,
        search_ms=float(np.median(took)),
    )
    print(json.dumps(found))


def _build(folder: Path, passages: int, kind: str) -> None:
    """The section's synthetic starting index, kept in `folder`, for
    measuring a load by hand (under a memory limit, say)."""
    from qa.settings import Settings

    settings = Settings(index=folder, vector_index=kind)
    _save_start(folder, passages, settings, _StubEmbedder())


USAGE = """python -m bench.grow --build PASSAGES KIND FOLDER   the synthetic index, kept
python -m bench.grow --load FOLDER                   load it (or any index), search 100
                                                     dev questions, print memory as JSON"""


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"] and len(sys.argv) == 3:
        _load_child(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--build"] and len(sys.argv) == 5:
        _build(Path(sys.argv[4]), int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(USAGE)
