"""The index's passages, kept as bytes and read one at a time.

A million `Passage` objects cost about 1.5 GB of Python heap (the text, a
dataclass, five boxed fields); a search reads fewer than a hundred of them.
So the table keeps, per row, only where its JSON line lies (a buffer and a
byte range) and a document code: 22 bytes a row. The buffers are the saved
segments' `passages.jsonl`, memory-mapped (the kernel pages in what is read
and may drop it again), and the serialised lines of passages not saved
yet. A row is parsed when it is asked for.

Segment files are never changed once written, and a mapping outlives the
deletion of its file on POSIX systems, so a table stays valid while later
saves replace the segments it reads.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qa.chunking import Passage
from qa.errors import IndexCorruptedError

#: A saved line starts with its document id: `Passage` fields in order.
_LINE = re.compile(rb'^\{"doc_id": ("(?:[^"\\\n]|\\.)*"), ', re.MULTILINE)
#: `read` scans a file this many bytes at a time.
_SCAN_BYTES = 1 << 23


def passage_line(passage: Passage) -> bytes:
    """The JSON line a passage is saved as (its fields in declaration order,
    `doc_id` first, which `PassageTable.read` relies on)."""
    return (json.dumps(asdict(passage), ensure_ascii=False) + "\n").encode()


class PassageTable(Sequence[Passage]):
    """Every row's passage, in row order, dead rows included; `codes` gives
    each row's document as an index into `doc_ids`, for vectorised masks."""

    def __init__(
        self,
        buffers: list[bytes | mmap.mmap],
        buffer_of: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        codes: np.ndarray,
        doc_ids: list[str],
    ) -> None:
        self._buffers = buffers
        self._buffer_of = buffer_of
        self._starts = starts
        self._ends = ends
        self.codes = codes
        self.doc_ids = doc_ids
        self._code_of = {d: i for i, d in enumerate(doc_ids)}

    @classmethod
    def empty(cls) -> PassageTable:
        none = np.zeros(0, dtype=np.int64)
        return cls([], none.astype(np.int16), none, none, none.astype(np.int32), [])

    @classmethod
    def of(cls, passages: list[Passage]) -> PassageTable:
        """A table of passages held in memory (a segment not saved yet)."""
        lines = [passage_line(p) for p in passages]
        ends = np.cumsum(np.array([len(line) for line in lines], dtype=np.int64))
        starts = ends - np.array([len(line) for line in lines], dtype=np.int64)
        return cls._from_spans(b"".join(lines), starts, ends, [p.doc_id for p in passages])

    @classmethod
    def read(cls, path: Path, rows: int) -> PassageTable:
        """The `rows` passages of a saved `passages.jsonl`, mapped, not
        parsed: only each line's start and document id are read now, in
        chunks (the file is scanned, not held)."""
        starts: list[int] = []
        ids: list[str] = []
        last_raw, last_id, offset, carry = b"", "", 0, b""
        with path.open("rb") as handle:
            while chunk := handle.read(_SCAN_BYTES):
                data = carry + chunk
                cut = data.rfind(b"\n") + 1
                for match in _LINE.finditer(data, 0, cut):
                    starts.append(offset + match.start())
                    raw = match.group(1)
                    if raw != last_raw:  # a document's rows are together: parse its id once
                        try:
                            last_id, last_raw = json.loads(raw), raw
                        except ValueError as err:
                            where = f"line {len(starts)}"
                            raise IndexCorruptedError(str(path), f"{where}: {err}") from None
                    ids.append(last_id)
                offset, carry = offset + cut, data[cut:]
            size = handle.tell()
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            if size and hasattr(mmap, "MADV_RANDOM"):
                # A search reads about a hundred scattered rows: ask the
                # kernel not to read ahead around each one from disk.
                data.madvise(mmap.MADV_RANDOM)
        if len(starts) != rows or carry:
            detail = f"{len(starts)} passage lines, expected {rows}"
            raise IndexCorruptedError(
                str(path), detail + (", the last unfinished" if carry else "")
            )
        bounds = np.array([*starts, size], dtype=np.int64)
        return cls._from_spans(data, bounds[:-1], bounds[1:], ids)

    @classmethod
    def _from_spans(
        cls, data: bytes | mmap.mmap, starts: np.ndarray, ends: np.ndarray, ids: list[str]
    ) -> PassageTable:
        names = list(dict.fromkeys(ids))
        code_of = {d: i for i, d in enumerate(names)}
        codes = np.fromiter((code_of[d] for d in ids), dtype=np.int32, count=len(ids))
        buffer_of = np.zeros(len(ids), dtype=np.int16)
        return cls([data], buffer_of, starts, ends, codes, names)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, row):  # type: ignore[override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        data = self._buffers[self._buffer_of[row]][self._starts[row] : self._ends[row]]
        return Passage(**json.loads(data))

    def __iter__(self) -> Iterator[Passage]:
        return (self[i] for i in range(len(self)))

    def doc_id(self, row: int) -> str:
        return self.doc_ids[self.codes[row]]

    def rows_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        """A mask: the rows whose document is one of `doc_ids`."""
        wanted = [self._code_of[d] for d in doc_ids if d in self._code_of]
        return np.isin(self.codes, np.array(wanted, dtype=np.int32))

    def lines(self, start: int, stop: int) -> bytes:
        """Rows `start` to `stop` as saved lines, copied byte for byte."""
        return b"".join(
            self._buffers[self._buffer_of[i]][self._starts[i] : self._ends[i]]
            for i in range(start, stop)
        )

    def take(self, rows: np.ndarray) -> PassageTable:
        """The table of `rows` (an index array), in that order."""
        return PassageTable(
            self._buffers,
            self._buffer_of[rows],
            self._starts[rows],
            self._ends[rows],
            self.codes[rows],
            self.doc_ids,
        )

    def __add__(self, other: PassageTable) -> PassageTable:  # type: ignore[override]
        """Both tables' rows, `self`'s first; the buffers are shared, not copied."""
        return PassageTable.concat([self, other])

    @staticmethod
    def concat(tables: list[PassageTable]) -> PassageTable:
        """The tables' rows one after another, joined once (a load joins
        every segment's table: pairwise joins would copy the arrays and
        rebuild the id map once per segment)."""
        if sum(len(t._buffers) for t in tables) > np.iinfo(np.int16).max:
            raise ValueError("too many passage buffers: compact the index")
        names = list(dict.fromkeys(d for t in tables for d in t.doc_ids))
        code_of = {d: i for i, d in enumerate(names)}
        buffers, buffer_of, codes = [], [], []
        for t in tables:
            buffer_of.append(t._buffer_of + len(buffers))
            buffers += t._buffers
            recode = np.array([code_of[d] for d in t.doc_ids], dtype=np.int32)
            codes.append(recode[t.codes] if len(recode) else t.codes)
        empty = PassageTable.empty()
        return PassageTable(
            buffers,
            np.concatenate([empty._buffer_of, *buffer_of]),
            np.concatenate([empty._starts, *(t._starts for t in tables)]),
            np.concatenate([empty._ends, *(t._ends for t in tables)]),
            np.concatenate([empty.codes, *codes]),
            names,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PassageTable):
            return len(self) == len(other) and self.lines(0, len(self)) == other.lines(
                0, len(other)
            )
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
