"""French BM25 that grows: term counts stored, collection statistics applied per question.

bm25s, which this module replaces, stores each (term, passage) score with
the collection's idf and average passage length already multiplied in, so
one added passage changes every stored score and an update means indexing
every passage again. Lucene instead stores term frequencies and passage
lengths per segment and applies the statistics of all segments when a
question is scored; this module does the same, so an update analyses only
the new passages and appends a `Postings` block, and removed passages stay
counted (as Lucene counts deleted documents) until a compaction rewrites
the blocks.

The score is bm25s's "lucene" variant, exactly (`tests/test_lexical.py`
checks it against bm25s): for each question term t present in passage d,
idf(t) * tf / (tf + k1 * (1 - b + b * len(d) / average length)), with
idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5)).
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import IndexCorruptedError

#: Files of a block, inside a segment's folder.
TERMS = "lexical-terms.json"
ARRAYS = "lexical.npz"


@dataclass(frozen=True)
class Postings:
    """The term counts of a run of passages (rows numbered from 0): one
    posting list per term, CSR-style, `rows[indptr[i]:indptr[i+1]]` the
    passages holding `terms[i]` and `counts[...]` how often."""

    terms: tuple[str, ...]
    indptr: np.ndarray
    rows: np.ndarray
    counts: np.ndarray
    #: Tokens per passage (its BM25 length).
    lengths: np.ndarray

    @classmethod
    def build(cls, analysed: Iterable[Sequence[str]]) -> Postings:
        """From each passage's analysed terms, in row order. Counting is done
        by numpy over (term, row) keys: a dict of lists per term costs several
        times the memory at a million passages."""
        ids: dict[str, int] = {}
        flat: list[int] = []
        lengths: list[int] = []
        for tokens in analysed:
            lengths.append(len(tokens))
            flat.extend([ids.setdefault(t, len(ids)) for t in tokens])
        terms = sorted(ids)
        rank = np.empty(len(terms), dtype=np.int64)
        rank[[ids[t] for t in terms]] = np.arange(len(terms))
        size = max(len(lengths), 1)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keys, counts = np.unique(
            rank[np.asarray(flat, dtype=np.int64)] * size + rows, return_counts=True
        )
        term_of = keys // size
        sizes = np.bincount(term_of, minlength=len(terms))
        return cls(
            tuple(terms),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            (keys % size).astype(np.int32),
            counts.astype(np.float32),
            np.array(lengths, dtype=np.float32),
        )

    @classmethod
    def merge(cls, blocks: Sequence[Postings], keep: np.ndarray | None = None) -> Postings:
        """One block of `blocks`' passages in order, without re-analysing
        them; `keep` (one flag per passage of all blocks) leaves out the
        others, and the rows are numbered anew."""
        terms = tuple(sorted(set().union(*(b.terms for b in blocks))))
        ids = {t: i for i, t in enumerate(terms)}
        term_ids, rows, counts, lengths = [], [], [], []
        offset = 0
        for block in blocks:
            mapped = np.array([ids[t] for t in block.terms], dtype=np.int64)
            term_ids.append(np.repeat(mapped, np.diff(block.indptr)))
            rows.append(block.rows.astype(np.int64) + offset)
            counts.append(block.counts)
            lengths.append(block.lengths)
            offset += block.size
        term_of = np.concatenate(term_ids) if term_ids else np.zeros(0, dtype=np.int64)
        row_of = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        count_of = np.concatenate(counts) if counts else np.zeros(0, dtype=np.float32)
        length_of = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.float32)
        if keep is not None:
            kept = keep[row_of]
            new_row = np.cumsum(keep) - 1
            term_of, row_of, count_of = term_of[kept], new_row[row_of[kept]], count_of[kept]
            length_of = length_of[keep]
        order = np.lexsort((row_of, term_of))
        term_of, row_of, count_of = term_of[order], row_of[order], count_of[order]
        used = np.unique(term_of)
        sizes = np.bincount(np.searchsorted(used, term_of), minlength=len(used))
        return cls(
            tuple(terms[i] for i in used),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            row_of.astype(np.int32),
            count_of.astype(np.float32),
            length_of.astype(np.float32),
        )

    @property
    def size(self) -> int:
        return len(self.lengths)

    def files(self) -> dict[str, bytes]:
        """The block as plain files (JSON and a .npz of arrays, no pickle)."""
        buffer = io.BytesIO()
        np.savez(
            buffer, indptr=self.indptr, rows=self.rows, counts=self.counts, lengths=self.lengths
        )
        terms = json.dumps(list(self.terms), ensure_ascii=False).encode()
        return {TERMS: terms, ARRAYS: buffer.getvalue()}

    @classmethod
    def from_files(cls, terms: bytes, arrays: bytes | Path, where: str) -> Postings:
        """Read `files()`'s output back; `where` names it in errors. `arrays`
        given as a path is mapped, not read (`map_npz`): a search reads the
        posting lists of a question's terms only, so at a million passages
        the half gigabyte of lists stays on disk until asked for."""
        try:
            words = json.loads(terms)
            npz = map_npz(arrays) if isinstance(arrays, Path) else _read_npz(arrays)
            block = cls(tuple(words), npz["indptr"], npz["rows"], npz["counts"], npz["lengths"])
        except (ValueError, KeyError, OSError, TypeError, zipfile.BadZipFile) as err:
            raise IndexCorruptedError(where, f"unreadable lexical index: {err}") from None
        # Sizes only: checking every row number would read every list, and
        # the manifest's sha256 already vouches for the file's bytes.
        if not (
            isinstance(words, list)
            and all(isinstance(w, str) for w in words)
            and block.indptr.ndim == block.rows.ndim == block.counts.ndim == 1
            and len(block.indptr) == len(words) + 1
            and int(block.indptr[0]) == 0
            and int(block.indptr[-1]) == len(block.rows) == len(block.counts)
        ):
            raise IndexCorruptedError(where, "lexical index arrays disagree in size")
        return block


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def map_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a `.npz` written by `np.savez` (a zip of `.npy` files,
    stored, not compressed), each mapped read-only from where its data lies
    in the file; numpy's own `load` reads a `.npz` whole. A compressed
    member cannot be mapped, so such a file is read whole."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as handle:
        members = archive.infolist()
        if any(m.compress_type != zipfile.ZIP_STORED for m in members):
            return _read_npz(path.read_bytes())
        for member in members:
            handle.seek(member.header_offset)
            header = handle.read(30)  # the zip format's local file header
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise ValueError(f"no local header for {member.filename}")
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            handle.seek(member.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            if dtype.hasobject:
                raise ValueError(f"{member.filename} holds Python objects")
            name = member.filename.removesuffix(".npy")
            if math.prod(shape) == 0:
                arrays[name] = np.zeros(shape, dtype=dtype)
                continue
            mapped = np.memmap(
                path,
                dtype=dtype,
                mode="r",
                offset=handle.tell(),
                shape=shape,
                order="F" if fortran else "C",
            )
            arrays[name] = mapped.view(np.ndarray)  # plain arrays; the mapping stays their base
    return arrays


class Lexical:
    """BM25 over blocks of passages, rows numbered across the blocks in order."""

    def __init__(self, blocks: Sequence[Postings], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self.blocks: list[Postings] = []
        self._where: list[dict[str, int]] = []
        self._offsets: list[int] = []
        self._df: Counter[str] = Counter()
        self.count = 0
        self._length_sum = 0.0
        for block in blocks:
            self.append(block)

    def append(self, block: Postings) -> None:
        """Add a block's passages after the present ones; nothing is re-scored."""
        self.blocks.append(block)
        self._where.append({t: i for i, t in enumerate(block.terms)})
        self._offsets.append(self.count)
        sizes = np.diff(block.indptr)
        self._df.update(dict(zip(block.terms, sizes.tolist(), strict=True)))
        self.count += block.size
        self._length_sum += float(block.lengths.sum(dtype=np.float64))

    def df(self, term: str) -> int:
        """How many passages hold `term`."""
        return self._df.get(term, 0)

    def __contains__(self, term: str) -> bool:
        return term in self._df

    def idf(self, term: str) -> float:
        """Lucene's idf; a term absent from every passage gets the highest."""
        df = self.df(term)
        return math.log(1 + (self.count - df + 0.5) / (df + 0.5))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for `terms` (a repeated term counts
        each time, as it did with bm25s)."""
        scores = np.zeros(self.count, dtype=np.float32)
        if self.count == 0:
            return scores
        average = self._length_sum / self.count if self._length_sum else 1.0
        weights = Counter(t for t in terms if t in self._df)
        for term, times in weights.items():
            idf = np.float32(self.idf(term) * times)
            for block, where, offset in zip(self.blocks, self._where, self._offsets, strict=True):
                i = where.get(term)
                if i is None:
                    continue
                span = slice(block.indptr[i], block.indptr[i + 1])
                rows = block.rows[span]
                tf = block.counts[span]
                norm = self.k1 * ((1 - self.b) + self.b * block.lengths[rows] / average)
                scores[rows + offset] += idf * (tf / (norm + tf))
        return scores
