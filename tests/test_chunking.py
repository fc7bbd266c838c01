from itertools import pairwise

from qa.chunking import chunk_document, chunk_documents, sentence_segments
from qa.corpus import Document
from qa.settings import Settings


def test_every_seed_passage_is_a_slice_of_its_document(documents):
    s = Settings()
    passages = chunk_documents(documents, s.passage_chars, s.passage_max_chars, s.passage_overlap)
    by_id = {d.id: d for d in documents}
    assert len(passages) > len(documents)
    for p in passages:
        assert by_id[p.doc_id].text[p.start : p.end] == p.text
        assert p.text == p.text.strip()


def test_passages_cover_the_document_with_overlap(documents):
    doc = documents[1]
    passages = chunk_document(doc, 400, 1000, 1)
    assert [p.number for p in passages] == list(range(len(passages)))
    assert passages[0].start == 0
    assert passages[-1].end == len(doc.text)
    gaps = [doc.text[b.end : a.start] for b, a in pairwise(passages)]
    # No text falls between passages; windows of several sentences share one.
    assert all(not gap.strip() for gap in gaps if gap)
    overlapping = [a.start < b.end for b, a in pairwise(passages)]
    assert sum(overlapping) >= len(overlapping) // 2
    assert all(a.start > b.start for b, a in pairwise(passages))


def test_passages_are_sentence_aligned_and_sized(documents):
    for doc in documents:
        starts = {s.start for s in sentence_segments(doc.text, 1000)}
        for p in chunk_document(doc, 500, 1000, 1):
            assert p.start in starts
            assert len(p.text) <= 1000


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces():
    text = " ".join(["mot"] * 200) + "."
    doc = Document("x", "x", text, "x", "0")
    passages = chunk_document(doc, 100, 120, 0)
    assert len(passages) > 1
    for p in passages:
        assert len(p.text) <= 120
        assert text[p.start : p.end] == p.text
        assert not p.text.startswith(" ")
