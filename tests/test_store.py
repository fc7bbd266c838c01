import json
import shutil

import numpy as np
import pytest

from qa.errors import IndexCorruptedError
from qa.indexing import compact
from qa.lexical import ARRAYS
from qa.settings import Settings
from qa.store import (
    LOCK,
    MANIFEST,
    NOTES,
    PASSAGES,
    SENTENCES,
    VECTORS,
    load_index,
    read_manifest,
    save_index,
)


@pytest.fixture
def index_copy(index_dir, tmp_path):
    folder = tmp_path / "index"
    shutil.copytree(index_dir, folder)
    return folder


def _segment(folder):
    """The folder of the (first) segment of the index in `folder`."""
    return folder / read_manifest(folder).segments[0]["name"]


def test_save_load_round_trip(index_copy, tmp_path):
    stored = load_index(index_copy, read_manifest(index_copy))
    again = tmp_path / "again"
    save_index(again, compact(stored, Settings()))  # every row in a new, unsaved segment
    reloaded = load_index(again, read_manifest(again))
    assert reloaded.passages == stored.passages
    assert reloaded.manifest.build == stored.manifest.build
    assert [d["id"] for d in reloaded.manifest.documents] == [
        d["id"] for d in stored.manifest.documents
    ]
    n = stored.vectors.ntotal
    assert np.array_equal(reloaded.vectors.reconstruct_n(0, n), stored.vectors.reconstruct_n(0, n))
    assert reloaded.notes == stored.notes
    assert reloaded.sentence_vectors.keys() == stored.sentence_vectors.keys()
    for note in stored.notes:
        vectors = reloaded.sentence_vectors[note.doc_id]
        assert isinstance(vectors, np.memmap), "mapped from the segment, not read into memory"
        assert np.array_equal(vectors, stored.sentence_vectors[note.doc_id])
        assert len(vectors) == len(note.sentences)
    query = ["toulous", "microsoft", "numer", "toulous"]
    assert np.array_equal(reloaded.lexical.scores(query), stored.lexical.scores(query))
    assert reloaded.lexical.scores(query).max() > 0
    assert reloaded.live.all() and reloaded.manifest.passages == len(stored.passages)
    left = [p.name for p in again.glob(".*")]
    assert left == [LOCK], "no temporary files left behind, only the writers' lock"


def test_no_pickle_in_saved_arrays(index_copy):
    for path in _segment(index_copy).glob("*.np[yz]"):
        np.load(path, allow_pickle=False)


def test_truncated_vectors_file_is_detected(index_copy):
    path = _segment(index_copy) / VECTORS
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexCorruptedError, match=r"vectors\.npy") as err:
        load_index(index_copy, read_manifest(index_copy))
    assert "qa index --rebuild" in str(err.value)


def test_truncated_vectors_file_with_matching_hash_is_detected(index_copy):
    """Even if the manifest was rewritten to match, the file is refused."""
    path = _segment(index_copy) / VECTORS
    path.write_bytes(path.read_bytes()[:100])
    _rehash(index_copy, VECTORS)
    with pytest.raises(IndexCorruptedError, match=r"vectors\.npy.*not a \.npy array"):
        load_index(index_copy, read_manifest(index_copy))


def test_damaged_graph_with_matching_hash_is_detected(index_copy, tmp_path):
    import hashlib

    stored = load_index(index_copy, read_manifest(index_copy))
    folder = tmp_path / "hnsw"
    manifest = save_index(folder, compact(stored, Settings(vector_index="hnsw")))
    assert manifest.ann["rows"] == len(stored.passages)
    assert load_index(folder, manifest).vectors.ntotal == len(stored.passages)
    path = folder / manifest.ann["file"]
    data = path.read_bytes()[:100]
    path.write_bytes(data)
    raw = json.loads((folder / MANIFEST).read_text())
    raw["ann"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(IndexCorruptedError, match="FAISS cannot read it"):
        load_index(folder, read_manifest(folder))


def test_damaged_term_counts_with_matching_hash_are_detected(index_copy):
    (_segment(index_copy) / ARRAYS).write_bytes(b"PK not really")
    _rehash(index_copy, ARRAYS)
    with pytest.raises(IndexCorruptedError, match="unreadable lexical index"):
        load_index(index_copy, read_manifest(index_copy))


def test_a_document_in_no_segment_is_detected(index_copy):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    manifest["documents"][0]["segment"] = "seg-0"
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match="counts disagree"):
        load_index(index_copy, read_manifest(index_copy))


def test_manifest_count_mismatch_is_detected(index_copy):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    manifest["passages"] += 1
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match="counts disagree"):
        load_index(index_copy, read_manifest(index_copy))


def test_unreadable_manifest_is_detected(index_copy):
    (index_copy / MANIFEST).write_text("{not json")
    with pytest.raises(IndexCorruptedError, match=r"manifest\.json"):
        read_manifest(index_copy)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"segments": ["seg-1"]}, "'segments'"),
        ({"segments": None}, "'segments'"),
        ({"segments": [{"name": "../../etc", "passages": 1, "files": {}}]}, "'segments'"),
        ({"ann": {"file": "/etc/passwd", "rows": 1, "sha256": "0"}}, "'ann'"),
        ({"ann": {"file": "ann-1.faiss", "rows": -1, "sha256": "0"}}, "'ann'"),
        ({"build": "multilingual-e5-small"}, "'build'"),
        ({"build": {"model": "e5"}}, "'build'"),
        ({"documents": [{"id": 1}]}, "'documents'"),
        ({"documents": {"a": 1}}, "'documents'"),
        ({"passages": -3}, "'passages'"),
        ({"passages": "27"}, "'passages'"),
        ({"documents": [{"id": "a", "sha256": "b", "title": "c", "path": "d"}]}, "'documents'"),
        ({"indexed": {"a.txt": 1}}, "'indexed'"),
        ({"surprise": 1}, "unknown field 'surprise'"),
    ],
)
def test_manifest_of_the_wrong_shape_names_the_field(index_copy, change, field):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    manifest.update(change)
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match=field) as err:
        read_manifest(index_copy)
    assert "manifest.json" in str(err.value) and "qa index --rebuild" in str(err.value)


@pytest.mark.parametrize("text", ["[]", "3", '"manifest"', "null"])
def test_a_manifest_that_is_not_an_object_is_refused(index_copy, text):
    (index_copy / MANIFEST).write_text(text)
    with pytest.raises(IndexCorruptedError, match="expected a JSON object"):
        read_manifest(index_copy)


def test_a_manifest_missing_a_field_is_refused(index_copy):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    del manifest["segments"]
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match="missing field 'segments'"):
        read_manifest(index_copy)


def test_missing_file_is_detected(index_copy):
    (_segment(index_copy) / PASSAGES).unlink()
    with pytest.raises(IndexCorruptedError, match=r"passages\.jsonl.*missing"):
        load_index(index_copy, read_manifest(index_copy))


def test_other_format_version_reads_as_no_index(index_copy):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    manifest["format_version"] = 999
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    assert read_manifest(index_copy) is None


def _rehash(folder, name):
    """Rewrite the manifest's hash of `name`, as a buggy writer could leave it."""
    import hashlib

    manifest = json.loads((folder / MANIFEST).read_text())
    data = (_segment(folder) / name).read_bytes()
    manifest["segments"][0]["files"][name] = hashlib.sha256(data).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_sentence_vectors_of_the_wrong_shape_are_detected(index_copy):
    vectors = np.load(_segment(index_copy) / SENTENCES)
    np.save(_segment(index_copy) / SENTENCES, vectors[:-1], allow_pickle=False)
    _rehash(index_copy, SENTENCES)
    with pytest.raises(IndexCorruptedError, match=r"sentences\.npy.*shape"):
        load_index(index_copy, read_manifest(index_copy))


def test_notes_that_are_not_json_are_detected(index_copy):
    (_segment(index_copy) / NOTES).write_text('{"doc_id": "a"\n')
    _rehash(index_copy, NOTES)
    with pytest.raises(IndexCorruptedError, match=r"notes\.jsonl:1"):
        load_index(index_copy, read_manifest(index_copy))


def test_a_save_killed_at_any_point_leaves_the_old_or_the_new_index(index_copy):
    """A process saving the index is killed (SIGKILL) at random points of
    its save: the folder always holds an index that loads whole, the old one
    or the new, and the next save clears what a killed one left (its lock
    included). `python -m bench.crash` kills whole `qa index` runs."""
    import multiprocessing
    import os
    import random
    import signal
    import time
    from collections import Counter

    # Compacted: every row in one new segment, so each save writes every file.
    stored = compact(load_index(index_copy, read_manifest(index_copy)), Settings())
    fork = multiprocessing.get_context("fork")

    def saving() -> multiprocessing.Process:
        child = fork.Process(target=save_index, args=(index_copy, stored))
        child.start()
        return child

    start = time.perf_counter()
    child = saving()
    child.join()
    span = time.perf_counter() - start  # an uncut save, the fork included
    assert child.exitcode == 0
    rng, found = random.Random(15), Counter()
    for _ in range(30):
        before = _segment(index_copy).name
        child = saving()
        time.sleep(rng.uniform(0, span))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        manifest = read_manifest(index_copy)
        loaded = load_index(index_copy, manifest)  # IndexCorruptedError if half
        assert len(loaded.passages) == len(stored.passages)
        found["new" if _segment(index_copy).name != before else "old"] += 1
        found["debris"] += len(list(index_copy.iterdir())) > 3
    assert found["old"] > 0, found  # some kills did land before the switch
    manifest = save_index(index_copy, stored)
    names = [LOCK, MANIFEST, manifest.segments[0]["name"]]
    assert sorted(p.name for p in index_copy.iterdir()) == sorted(names)


def test_files_are_written_with_the_mode_open_would_give(tmp_path):
    """Not mkstemp's owner-only 0600: a page run by another user than the
    one who indexed (or uploaded) must still read the files."""
    import os

    from qa.store import atomic_write

    atomic_write(tmp_path / "a.txt", b"x")
    (tmp_path / "b.txt").write_bytes(b"x")
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode
