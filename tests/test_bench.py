"""The benchmark harness runs and reports every figure it promises.

Smoke tests at tiny sizes: they check names, units and sanity of the
figures (a recall is a share, a count is a count), never a time.
"""

import json

import pytest

from bench.coldstart import MEMORY_ALL
from bench.common import questions
from bench.run import main


def _rows(path):
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["command"].startswith("python -m bench")
    assert payload["machine"]["cpus"] >= 1
    return {(r["section"], r["name"], r["detail"]): r for r in payload["rows"]}


def test_scale_section_compares_exact_ivf_and_hnsw(tmp_path, capsys):
    out = tmp_path / "scale.json"
    sizes = ["--sizes", "3000", "--bm25-passages", "2000", "--nprobe", "4,64", "--ef", "32"]
    main(["--sections", "4", *sizes, "--repeat", "1", "--json", str(out)])
    rows = _rows(out)
    names = {name for _, name, _ in rows}
    for kind in ("flat", "ivf", "hnsw"):
        assert f"faiss {kind} 3k random p50" in names
        assert f"faiss {kind} 3k random memory" in names
    recall = {
        d: r["value"] for (_, n, d), r in rows.items() if n == "faiss ivf 3k random recall@10"
    }
    assert set(recall) == {"nprobe=4", "nprobe=64"}
    assert 0 <= recall["nprobe=4"] <= recall["nprobe=64"] <= 1
    # 55 lists (about sqrt(3000)), all probed: the IVF scan is exhaustive.
    assert recall["nprobe=64"] == pytest.approx(1.0)
    assert "faiss ivf 3k structured recall@10" in names
    assert "bm25 2k query p50" in names
    assert "retrieval 2k hybrid, ivf p50" in names
    assert all(r["value"] >= 0 for r in rows.values())
    assert "| 4 scale | faiss flat 3k random p50 |" in capsys.readouterr().out


def test_cold_start_and_memory_run_in_new_processes(tmp_path):
    out = tmp_path / "cold.json"
    index = ["--index", str(tmp_path / "index")]
    main(["--sections", "3,5", "--cold-repeat", "1", *index, "--json", str(out)])
    rows = {name: r for (_, name, _), r in _rows(out).items()}
    phases = ["imports", "model load", "index load", "first query"]
    assert all(rows[p]["unit"] == "s" and rows[p]["value"] > 0 for p in phases)
    assert rows["new process to first answer"]["value"] >= sum(rows[p]["value"] for p in phases)
    first = rows["peak RSS after first answer"]["value"]
    assert 100 < first <= rows[MEMORY_ALL]["value"]


def test_latency_and_build_sections_report_ratios_and_reuse(tmp_path):
    out = tmp_path / "fast.json"
    args = ["--sections", "1,2", "--repeat", "1", "--build-repeat", "1"]
    args += ["--synthetic-passages", "60", "--index", str(tmp_path / "index")]
    main([*args, "--json", str(out)])
    rows = {name: r for (_, name, _), r in _rows(out).items()}
    encode = rows["encode question p50"]["value"]
    for mode in ("lexical", "dense", "hybrid"):
        ratio = rows[f"ask {mode} / encode (p50)"]["value"]
        assert ratio == pytest.approx(rows[f"ask {mode} p50"]["value"] / encode)
    assert rows["ask hybrid without encoding p50"]["value"] > 0
    assert rows["full build seeds"]["detail"].startswith("5 articles, 27 passages")
    rebuild = rows["rebuild after one article changed"]["detail"]
    assert rebuild.startswith("1 of "), "only the changed passage is re-embedded"
    assert rows["encode batch 32, sorted by length"]["unit"] == "texts/s"


def test_growth_section_adds_one_article_writing_only_its_segment(tmp_path):
    out = tmp_path / "grow.json"
    main(["--sections", "6", "--grow-sizes", "600", "--hnsw-max", "1000", "--json", str(out)])
    rows = {name: r for (_, name, _), r in _rows(out).items()}
    for name in ("start index build", "load", "add one article, on disk"):
        assert rows[f"600 {name}"]["unit"] == "s" and rows[f"600 {name}"]["value"] > 0
    assert rows["600 add one article, in memory"]["detail"].startswith("hnsw, 100 articles")
    written = rows["600 files written by the add"]
    total_kib = float(written["detail"].split()[1]) * 1024
    assert 0 < written["value"] < total_kib / 2, "the add wrote its segment, not the index"
    peak, resident = rows["600 load, peak RSS"], rows["600 loaded, resident"]
    assert peak["unit"] == resident["unit"] == "MiB"
    before = float(peak["detail"].split(", ")[1].split()[0])
    assert 0 < before < resident["value"] <= peak["value"]
    # The same process with the model loaded and 100 questions searched.
    assistant = rows["600 assistant, resident"]
    assert assistant["value"] > resident["value"]
    assert "after 100 dev questions searched" in assistant["detail"]
    assert rows["600 assistant, peak RSS"]["value"] >= assistant["value"]
    assert rows["600 search a question, first time, p50"]["value"] > 0
    assert rows["600 read it after one upload"]["detail"] == "101 article files"
    assert rows["600 read the corpus folder"]["value"] > 0


def test_stores_section_compares_files_and_qdrant_on_the_same_data(tmp_path):
    out = tmp_path / "bench.json"
    main(["--sections", "7", "--store-sizes", "300", "--repeat", "1", "--json", str(out)])
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    for store in ("files flat", "files hnsw", "qdrant edge", "qdrant local mode"):
        assert rows[f"{store} 300 bulk load"]["value"] > 0
        assert rows[f"{store} 300 candidates p50"]["value"] > 0
        # Flat and Qdrant's local mode search exhaustively; HNSW nearly so at 300.
        exhaustive = store in ("files flat", "qdrant local mode")
        assert rows[f"{store} 300 dense recall@10"]["value"] >= (1 if exhaustive else 0.95)
        assert rows[f"{store} 300 lexical top 10 agrees"]["value"] == 1.0
    assert 300 < rows["300 passage payload"]["value"] < 5000
    assert 10 < rows["300 passage sparse terms"]["value"] < 200


def test_benchmarks_ask_a_fixed_sample_of_every_kind():
    sample = questions()
    assert len(sample) == 120 and sample == questions()
    # Spread through the file: v1's French questions and the later English ones.
    assert any(q.startswith(("What", "Who", "How", "When", "Which")) for q in sample)
    everything = questions(5000)
    assert len(everything) > len(sample) and set(sample) <= set(everything)


def test_unknown_section_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--sections", "1,9"])
    assert exit_info.value.code == 2
    assert "--sections takes numbers from 1 to 7" in capsys.readouterr().err


def _fake_french_cache(folder, passages=2000, queries=50):
    """A cache as `python -m bench.french --build` leaves it, with
    structured vectors in place of embeddings (embedding 100k passages is
    what the real cache is for)."""
    import numpy as np

    from bench.french import _write_lines
    from bench.scale import structured_vectors

    folder.mkdir()
    both = structured_vectors(passages + queries, np.random.default_rng(5))
    _write_lines(folder / "passages.jsonl", [f"Paragraphe {n} de la doc." for n in range(passages)])
    _write_lines(folder / "queries.jsonl", [f"Question {n} ?" for n in range(queries)])
    np.save(folder / "vectors.npy", both[:passages])
    np.save(folder / "query_vectors.npy", both[passages:])
    meta = {"model": "fake", "weights": "0" * 64, "device": "cpu", "rows": passages, "seconds": 4}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_scale_section_measures_the_french_corpus_when_it_is_cached(tmp_path, monkeypatch):
    import bench.french

    monkeypatch.setattr(bench.french, "CACHE", tmp_path / "french")
    _fake_french_cache(tmp_path / "french")
    out = tmp_path / "scale.json"
    sizes = ["--sizes", "1000", "--bm25-passages", "500", "--nprobe", "2,64", "--ef", "16,64"]
    main(["--sections", "4", *sizes, "--french-passages", "1500", "--json", str(out)])
    rows = _rows(out)
    recall = {(n, d): r["value"] for (_, n, d), r in rows.items() if n.endswith("recall@10")}
    for kind in ("ivf", "ivf-sq8"):
        found = recall[(f"faiss {kind} 1k French recall@10", "nprobe=64")]
        # 39 lists (about sqrt(1500)), all probed: only SQ8's rounding loses neighbours.
        assert found == pytest.approx(1.0) if kind == "ivf" else 0.9 <= found <= 1.0
        assert recall[(f"faiss {kind} 1k French recall@10", "nprobe=2")] <= found
    hnsw = [recall[("faiss hnsw 1k French recall@10", f"efSearch={e}")] for e in (16, 64)]
    assert 0 < hnsw[0] <= hnsw[1] <= 1
    assert ("4 scale", "faiss flat 1k French p50", "50 single queries, k=10") in rows


def test_scale_section_without_the_french_corpus_says_how_to_build_it(
    tmp_path, monkeypatch, capsys
):
    import bench.french

    monkeypatch.setattr(bench.french, "CACHE", tmp_path / "none")
    out = tmp_path / "scale.json"
    sizes = ["--sizes", "1000", "--bm25-passages", "300", "--nprobe", "4", "--ef", "16"]
    main(["--sections", "4", *sizes, "--json", str(out)])
    assert not any("French" in name for _, name, _ in _rows(out))
    assert "python -m bench.french --build" in capsys.readouterr().out


def test_french_corpus_build_embeds_only_what_is_missing(tmp_path, monkeypatch, embedder):
    """An interrupted build goes on where it stopped: the rows already
    embedded are kept, the rest are added, the queries are embedded once."""
    import numpy as np

    import bench.french
    from bench.french import _write_lines, build, load
    from qa.embedding import Embedder

    cache = tmp_path / "french"
    cache.mkdir()
    monkeypatch.setattr(bench.french, "CACHE", cache)
    monkeypatch.setattr(bench.french, "CHUNK", 8)
    monkeypatch.setattr(Embedder, "from_settings", classmethod(lambda cls, s: embedder))
    texts = [f"La commande numéro {n} copie un fichier vers un autre dossier." for n in range(20)]
    _write_lines(cache / "passages.jsonl", texts)
    _write_lines(cache / "queries.jsonl", ["Comment copier un fichier ?", "Qui maintient Debian ?"])
    first = build(limit=12, progress=False)
    assert first.vectors.shape == (12, embedder.dimension)  # a chunk of 8, then 4
    assert first.query_vectors.shape == (2, embedder.dimension)
    queries_written = (cache / "query_vectors.npy").stat().st_mtime_ns
    second = build(progress=False)
    assert second.vectors.shape == (20, embedder.dimension)
    assert np.array_equal(second.vectors[:12], first.vectors)
    assert (cache / "query_vectors.npy").stat().st_mtime_ns == queries_written
    assert np.allclose(second.vectors[19], embedder.encode_passages(texts[19:])[0], atol=1e-5)
    assert load().meta["rows"] == 20


def test_french_paragraphs_are_cut_after_a_sentence():
    from bench.french import MAX_CHARS, _cut

    sentence = "Cette phrase de documentation décrit une option de la commande. "
    paragraph = (sentence * 30).strip()
    pieces = _cut(paragraph)
    assert len(pieces) > 1 and all(len(p) <= MAX_CHARS for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == paragraph
    assert _cut("Court.") == ["Court."]
