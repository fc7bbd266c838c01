"""The growing BM25 scores exactly as bm25s's Lucene variant did, however
its passages are split into blocks, merged or filtered."""

from pathlib import Path

import bm25s
import numpy as np
import pytest

from qa.chunking import chunk_documents
from qa.errors import IndexCorruptedError
from qa.evaluation import load_questions
from qa.lexical import ARRAYS, TERMS, Lexical, Postings
from qa.text import analyze

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def analysed(documents):
    passages = chunk_documents(documents, 800, 1000, 1)
    return [analyze(p.text) for p in passages]


@pytest.fixture(scope="module")
def queries():
    return [analyze(q.question, query=True) for q in load_questions(ROOT / "evals/questions.jsonl")]


def _bm25s(tokens, k1=1.2, b=0.75):
    model = bm25s.BM25(k1=k1, b=b, method="lucene")
    model.index(tokens, show_progress=False)
    return model


def test_scores_match_bm25s_lucene_split_into_blocks(analysed, queries):
    reference = _bm25s(analysed)
    third = len(analysed) // 3
    blocks = [analysed[:third], analysed[third : 2 * third], analysed[2 * third :]]
    lexical = Lexical([Postings.build(b) for b in blocks], k1=1.2, b=0.75)
    assert lexical.count == len(analysed)
    matched = 0
    for terms in queries:
        ids = reference.get_tokens_ids(terms)
        expected = reference.get_scores(ids) if ids else np.zeros(len(analysed))
        got = lexical.scores(terms)
        assert got == pytest.approx(expected, abs=1e-5)
        matched += bool(ids)
    assert matched > 0.9 * len(queries)
    vocab = reference.vocab_dict
    for term in ("toulous", "microsoft", "zzz-absent"):
        df = 0 if term not in vocab else int(np.diff(reference.scores["indptr"])[vocab[term]])
        assert lexical.df(term) == df and (term in lexical) == (df > 0)


def test_appending_a_block_is_the_same_as_indexing_all(analysed, queries):
    grown = Lexical([Postings.build(analysed[:10])], k1=1.2, b=0.75)
    grown.append(Postings.build(analysed[10:]))
    whole = Lexical([Postings.build(analysed)], k1=1.2, b=0.75)
    for terms in queries[:50]:
        assert grown.scores(terms) == pytest.approx(whole.scores(terms), abs=1e-6)


def test_merging_blocks_with_rows_left_out_equals_building_the_rest(analysed):
    blocks = [Postings.build(analysed[:7]), Postings.build(analysed[7:])]
    keep = np.arange(len(analysed)) % 3 != 1
    merged = Postings.merge(blocks, keep)
    built = Postings.build([t for t, k in zip(analysed, keep, strict=True) if k])
    assert merged.terms == built.terms
    for name in ("indptr", "rows", "counts", "lengths"):
        assert np.array_equal(getattr(merged, name), getattr(built, name)), name
    assert Postings.merge(blocks).terms == Postings.build(analysed).terms


def test_an_empty_collection_scores_nothing():
    lexical = Lexical([Postings.build([])], k1=1.2, b=0.75)
    assert lexical.scores(["toulous"]).shape == (0,)
    assert lexical.idf("toulous") == pytest.approx(np.log(2))


def test_round_trip_through_plain_files_and_damage_is_named(analysed):
    block = Postings.build(analysed)
    files = block.files()
    assert set(files) == {TERMS, ARRAYS}
    again = Postings.from_files(files[TERMS], files[ARRAYS], "here")
    assert again.terms == block.terms and np.array_equal(again.rows, block.rows)
    with pytest.raises(IndexCorruptedError, match=r"here.*unreadable lexical index"):
        Postings.from_files(b"[not json", files[ARRAYS], "here")
    with pytest.raises(IndexCorruptedError, match="disagree in size"):
        Postings.from_files(b'["only one term"]', files[ARRAYS], "here")


def test_term_counts_read_from_a_file_are_mapped_and_score_the_same(analysed, tmp_path):
    block = Postings.build(analysed)
    files = block.files()
    path = tmp_path / ARRAYS
    path.write_bytes(files[ARRAYS])
    mapped = Postings.from_files(files[TERMS], path, "here")
    for name in ("indptr", "rows", "counts", "lengths"):
        array = getattr(mapped, name)
        assert not array.flags.owndata and not array.flags.writeable, name  # a read-only map
        assert np.array_equal(array, getattr(block, name)), name
    terms = analyze("Qui dirige la French Tech Toulouse ?")
    read = Lexical([block], k1=1.2, b=0.75).scores(terms)
    assert np.array_equal(Lexical([mapped], k1=1.2, b=0.75).scores(terms), read)
    assert read.max() > 0

    # Another writer's compressed .npz cannot be mapped: it is read whole.
    with np.load(path) as npz:
        np.savez_compressed(tmp_path / "z.npz", **{k: npz[k] for k in npz.files})
    zipped = Postings.from_files(files[TERMS], tmp_path / "z.npz", "here")
    assert np.array_equal(zipped.rows, block.rows) and zipped.rows.flags.writeable

    path.write_bytes(files[ARRAYS][: len(files[ARRAYS]) // 2])
    with pytest.raises(IndexCorruptedError, match=r"here.*unreadable lexical index"):
        Postings.from_files(files[TERMS], path, "here")
