"""The passage table: rows kept as byte ranges of JSON lines, parsed on demand."""

import numpy as np
import pytest

from qa.chunking import Passage
from qa.errors import IndexCorruptedError
from qa.rows import PassageTable, passage_line

PASSAGES = [
    Passage("a.txt", 0, 0, 20, "La Cité numérique ouvre."),
    Passage("a.txt", 1, 15, 40, "Elle ouvre à Bègles, « enfin »."),
    Passage('b "guillemets" \\ é.txt', 0, 0, 12, "Une ligne\navec un saut."),
    Passage("c.txt", 0, 0, 5, "Fin\u2028."),
]


def _saved(tmp_path, passages):
    path = tmp_path / "passages.jsonl"
    path.write_bytes(b"".join(passage_line(p) for p in passages))
    return path


def test_a_saved_table_reads_back_every_passage_and_its_document(tmp_path):
    table = PassageTable.read(_saved(tmp_path, PASSAGES), len(PASSAGES))
    assert len(table) == 4
    assert list(table) == PASSAGES and table[-1] == PASSAGES[-1] and table[1:3] == PASSAGES[1:3]
    assert [table.doc_id(i) for i in range(4)] == [p.doc_id for p in PASSAGES]
    assert table.doc_ids == ["a.txt", 'b "guillemets" \\ é.txt', "c.txt"]
    assert table.rows_of({"a.txt", "c.txt", "absent.txt"}).tolist() == [True, True, False, True]
    assert table.rows_of(set()).tolist() == [False] * 4
    assert table == PassageTable.of(PASSAGES) == PASSAGES


def test_lines_are_copied_byte_for_byte(tmp_path):
    path = _saved(tmp_path, PASSAGES)
    table = PassageTable.read(path, len(PASSAGES))
    assert table.lines(0, 4) == path.read_bytes()
    assert table.lines(2, 3) == passage_line(PASSAGES[2])


def test_tables_join_and_take_rows_without_copying_text(tmp_path):
    saved = PassageTable.read(_saved(tmp_path, PASSAGES[:2]), 2)
    pending = PassageTable.of(PASSAGES[2:])
    both = saved + pending
    assert list(both) == PASSAGES
    assert both.doc_ids == ["a.txt", 'b "guillemets" \\ é.txt', "c.txt"]
    assert both.codes.tolist() == [0, 0, 1, 2]
    picked = both.take(np.array([3, 0]))
    assert list(picked) == [PASSAGES[3], PASSAGES[0]]
    assert picked.rows_of({"c.txt"}).tolist() == [True, False]
    assert list(PassageTable.empty() + both) == PASSAGES
    assert len(PassageTable.of([])) == 0 and len(both + PassageTable.empty()) == 4


def test_a_file_with_other_than_the_expected_rows_is_corrupted(tmp_path):
    path = _saved(tmp_path, PASSAGES)
    with pytest.raises(IndexCorruptedError, match="4 passage lines, expected 5"):
        PassageTable.read(path, 5)
    path.write_bytes(path.read_bytes()[:-1])  # the last line cut short
    with pytest.raises(IndexCorruptedError, match="3 passage lines, expected 4, the last unf"):
        PassageTable.read(path, 4)
    path.write_text("not json\n")
    with pytest.raises(IndexCorruptedError, match="0 passage lines, expected 1"):
        PassageTable.read(path, 1)


def test_an_empty_segment_file_is_an_empty_table(tmp_path):
    path = tmp_path / "passages.jsonl"
    path.write_bytes(b"")
    assert len(PassageTable.read(path, 0)) == 0


def test_a_file_scanned_in_small_chunks_reads_the_same(tmp_path, monkeypatch):
    """Lines cut across the scan's chunks are found whole."""
    many = [Passage(f"doc{n // 3}.txt", n % 3, 0, 9, f"Texte {n} é’") for n in range(50)]
    path = _saved(tmp_path, many)
    monkeypatch.setattr("qa.rows._SCAN_BYTES", 7)
    table = PassageTable.read(path, 50)
    assert list(table) == many and table.codes.tolist() == [n // 3 for n in range(50)]
