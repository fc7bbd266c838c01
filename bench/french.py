"""Real French text for section 4: about 100k passages from Debian's French
documentation, embedded once with the engine's model and cached.

Random vectors (section 4's other rows) are the worst case for an
approximate index; issue 13 asks for the curve on real embeddings of real
French text too. No machine here reaches the internet, so the text comes
from Debian packages any fresh machine can install:

    apt-get install manpages-fr manpages-fr-dev debian-handbook \\
        libreoffice-help-fr debian-reference-fr developers-reference-fr \\
        maint-guide-fr gimp-help-fr lilypond-doc-html-fr kicad-doc-fr \\
        debian-edu-doc-fr aptitude-doc-fr

Each paragraph (HTML block or man page paragraph) of at least 30
characters is a passage, paragraphs over 700 characters are cut at sentence
ends, and exact duplicates (the same page in several HTML layouts) count
once. That gives short passages, 180 characters on average against about
600 in the engine's chunks: what matters for the index is the vectors'
geometry, and short texts embed four times faster on a CPU.

The queries are held-out passages embedded as questions (the model's query
prompt), so recall is of what a search of this collection would return;
they are never in the index.

    python -m bench.french --build     # extract and embed (hours on 2 cores; resumable)
    python -m bench.french             # what is cached
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import ROOT

CACHE = ROOT / "bench" / ".french"

#: (package, the files of it that are French HTML). Man pages come apart.
HTML_SOURCES = (
    ("debian-handbook", r"/fr-FR/.*\.html$"),
    ("libreoffice-help-fr", r"\.html$"),
    ("debian-reference-fr", r"\.fr\.html$"),
    ("developers-reference-fr", r"\.html$"),
    ("maint-guide-fr", r"\.html$"),
    ("gimp-help-fr", r"\.html$"),
    ("lilypond-doc-html-fr", r"\.fr\.html$"),
    ("kicad-doc-fr", r"\.html$"),
    ("debian-edu-doc-fr", r"\.html$"),
    ("aptitude-doc-fr", r"\.html$"),
)
MAN_PACKAGES = ("manpages-fr", "manpages-fr-dev")
_BLOCKS = "//p|//li[not(.//p)]|//dd[not(.//p)]|//td[not(.//p)]|//div[@class='para']"
MIN_CHARS, MAX_CHARS = 30, 700
QUERIES = 1000
CHUNK = 4096  # passages embedded between two saves of the cache


@dataclass(frozen=True)
class Corpus:
    """The cached collection: passage texts, their vectors (as many rows as
    are embedded so far) and the held-out query vectors."""

    passages: list[str]
    queries: list[str]
    vectors: np.ndarray
    query_vectors: np.ndarray
    meta: dict


def _package_files(package: str, pattern: str) -> list[str]:
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if listed.returncode != 0:
        return []
    return sorted(f for f in listed.stdout.split() if re.search(pattern, f) and os.path.isfile(f))


def _html_paragraphs(path: str) -> list[str]:
    import lxml.html

    try:
        tree = lxml.html.parse(path)
    except (OSError, ValueError):
        return []
    return [" ".join(el.text_content().split()) for el in tree.xpath(_BLOCKS)]


def _man_paragraphs(path: str) -> list[str]:
    env = {**os.environ, "MANWIDTH": "2000", "LANG": "C.UTF-8"}
    shown = subprocess.run(["man", "-l", "-Tutf8", path], capture_output=True, env=env)
    plain = subprocess.run(["col", "-b"], input=shown.stdout, capture_output=True).stdout
    text = plain.decode("utf-8", errors="replace")
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]


def _cut(paragraph: str) -> list[str]:
    """A long paragraph in pieces of at most MAX_CHARS, cut after a sentence."""
    if len(paragraph) <= MAX_CHARS:
        return [paragraph]
    pieces, current = [], ""
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        if current and len(current) + 1 + len(sentence) > MAX_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    return pieces + ([current] if current else [])


def extract() -> tuple[list[str], dict[str, int]]:
    """Every distinct paragraph of the installed sources, in a fixed order,
    and how many each source gave."""
    seen: dict[str, None] = {}
    counts = {}
    for package, pattern in HTML_SOURCES:
        before = len(seen)
        for path in _package_files(package, pattern):
            for paragraph in _html_paragraphs(path):
                for piece in _cut(paragraph):
                    if len(piece) >= MIN_CHARS:
                        seen.setdefault(piece)
        counts[package] = len(seen) - before
    before = len(seen)
    for package in MAN_PACKAGES:
        for path in _package_files(package, r"/man/fr/man\d/"):
            for paragraph in _man_paragraphs(path):
                for piece in _cut(paragraph):
                    if len(piece) >= MIN_CHARS:
                        seen.setdefault(piece)
    counts["manpages"] = len(seen) - before
    return list(seen), counts


def _split(texts: list[str]) -> tuple[list[str], list[str]]:
    """Every passage whose hash falls in the first QUERIES slots of a fixed
    permutation is a query; the rest are the collection."""
    order = sorted(range(len(texts)), key=lambda i: hashlib.sha256(texts[i].encode()).digest())
    held = set(order[:QUERIES])
    return [t for i, t in enumerate(texts) if i not in held], [texts[i] for i in sorted(held)]


def build(model: str | None = None, limit: int | None = None, progress: bool = True) -> Corpus:
    """Extract (once) and embed what is not embedded yet; every CHUNK
    passages the vectors are saved, so an interrupted build goes on where
    it stopped."""
    from qa.embedding import Embedder
    from qa.settings import Settings

    CACHE.mkdir(parents=True, exist_ok=True)
    texts_path = CACHE / "passages.jsonl"
    if not texts_path.exists():
        texts, counts = extract()
        if not texts:
            raise SystemExit("no French documentation installed: see python -m bench.french -h")
        passages, queries = _split(texts)
        _write_lines(texts_path, passages)
        _write_lines(CACHE / "queries.jsonl", queries)
        (CACHE / "sources.json").write_text(json.dumps(counts, indent=2) + "\n")
    settings = Settings() if model is None else Settings(model=model)
    embedder = Embedder.from_settings(settings)
    corpus = load(require_vectors=False)
    passages = corpus.passages[:limit] if limit else corpus.passages
    meta = {"model": embedder.info.name, "weights": embedder.info.sha256, "device": settings.device}
    same = corpus.meta.get("weights") == meta["weights"]
    vectors = corpus.vectors if same and len(corpus.vectors) else None
    if vectors is None:
        vectors = np.zeros((0, embedder.dimension), dtype=np.float32)
    if not same or corpus.query_vectors.shape[0] != len(corpus.queries):
        started = time.perf_counter()
        np.save(CACHE / "query_vectors.npy", embedder.encode_query(corpus.queries))
        meta["query_seconds"] = round(time.perf_counter() - started, 1)
    else:
        meta["query_seconds"] = corpus.meta.get("query_seconds")
    seconds = float(corpus.meta.get("seconds", 0.0)) if len(vectors) else 0.0
    while len(vectors) < len(passages):
        batch = passages[len(vectors) : len(vectors) + CHUNK]
        started = time.perf_counter()
        vectors = np.vstack([vectors, embedder.encode_passages(batch)])
        seconds += time.perf_counter() - started
        np.save(CACHE / "vectors.tmp.npy", vectors)
        os.replace(CACHE / "vectors.tmp.npy", CACHE / "vectors.npy")
        meta.update(rows=len(vectors), seconds=round(seconds, 1))
        (CACHE / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if progress:
            rate = len(vectors) / seconds if seconds else 0.0
            print(f"{len(vectors)}/{len(passages)} embedded, {rate:.1f} passages/s", flush=True)
    return load()


def load(require_vectors: bool = True) -> Corpus:
    """The cache as it stands; `require_vectors` refuses one not embedded."""
    texts_path = CACHE / "passages.jsonl"
    if not texts_path.exists():
        if require_vectors:
            raise FileNotFoundError(f"{texts_path} missing: run python -m bench.french --build")
        return Corpus([], [], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), {})
    passages = _read_lines(texts_path)
    queries = _read_lines(CACHE / "queries.jsonl")
    meta_path, vectors_path = CACHE / "meta.json", CACHE / "vectors.npy"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    vectors = np.load(vectors_path) if vectors_path.exists() else np.zeros((0, 0), np.float32)
    queries_path = CACHE / "query_vectors.npy"
    query_vectors = np.load(queries_path) if queries_path.exists() else np.zeros((0, 0))
    if require_vectors and len(vectors) == 0:
        raise FileNotFoundError(f"{vectors_path} missing: run python -m bench.french --build")
    return Corpus(passages, queries, vectors, query_vectors.astype(np.float32), meta)


def _write_lines(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for text in texts:
            out.write(json.dumps(text, ensure_ascii=False) + "\n")


def _read_lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.french", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--build", action="store_true", help="extract and embed what is missing")
    parser.add_argument("--model", help="model to embed with (default: the engine's)")
    parser.add_argument("--limit", type=int, help="embed only the first N passages")
    args = parser.parse_args(argv)
    corpus = build(args.model, args.limit) if args.build else load(require_vectors=False)
    chars = sum(map(len, corpus.passages)) / max(1, len(corpus.passages))
    print(
        f"{len(corpus.passages)} passages ({chars:.0f} characters on average), "
        f"{len(corpus.queries)} held-out queries, {len(corpus.vectors)} embedded: "
        f"{json.dumps(corpus.meta)}"
    )


if __name__ == "__main__":
    sys.exit(main())
