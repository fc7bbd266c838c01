import os

import numpy as np
import pytest

from qa.embedding import DEFAULT_MODEL_SHA256, Embedder, resolve_model, weights_sha256
from qa.errors import InputError, ModelError
from qa.settings import Settings


def test_default_model_is_packaged_and_verified():
    info = resolve_model("all-MiniLM-L6-v2")
    assert info.sha256 == DEFAULT_MODEL_SHA256
    assert info.path.endswith("model")


def test_embeddings_are_normalised(embedder: Embedder):
    vectors = embedder.encode_passages(["La Cité numérique à Bègles", "Un plan IA"])
    assert vectors.shape == (2, embedder.dimension)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.encode_query("Où est la Cité numérique ?")
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match="safetensors"):
        weights_sha256(tmp_path)
    with pytest.raises(ModelError, match="safetensors"):
        resolve_model(str(tmp_path))


def test_default_model_with_wrong_hash_is_refused(monkeypatch):
    monkeypatch.setattr("qa.embedding.DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="expected 0000"):
        resolve_model("all-MiniLM-L6-v2")


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelError, match="neither a local folder nor in the Hugging Face cache"):
        resolve_model("no-such-org/no-such-model")


def test_other_model_by_local_path(tmp_path):
    """Any sentence-transformers folder works through the setting."""
    import shutil

    shutil.copytree(resolve_model("all-MiniLM-L6-v2").path, tmp_path / "copy")
    info = resolve_model(str(tmp_path / "copy"))
    assert info.sha256 == DEFAULT_MODEL_SHA256
    assert Embedder(info).dimension == 384


def test_openvino_backend_without_an_export_is_a_clear_error():
    # Without the extra installed: the install hint; with it: the export hint.
    # The packaged model folder never holds an OpenVINO export.
    info = resolve_model("all-MiniLM-L6-v2")
    with pytest.raises(ModelError, match=r"OpenVINO|bench\.backends --export"):
        Embedder(info, backend="openvino-int8")


def test_unknown_backend_is_refused():
    with pytest.raises(InputError, match="unknown backend"):
        Settings(backend="onnx")


def test_auto_device_is_a_gpu_only_when_torch_sees_one(monkeypatch):
    import torch

    from qa.embedding import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("auto", backend="openvino") == "cpu"  # OpenVINO runs on the CPU
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"


def test_on_the_cpu_the_model_keeps_float32_and_the_cpu_batch(embedder: Embedder):
    """This machine has no GPU: `auto` (the default) encodes on the CPU, in
    float32, 32 texts a batch; the float16 path needs a GPU to run at all."""
    assert Settings().device == "auto"
    if embedder.device != "cpu":
        pytest.skip("a GPU is present: the CPU defaults are not the ones in use")
    assert embedder.batch_size == Settings().batch_size == 32
    assert str(next(embedder.model.parameters()).dtype) == "torch.float32"


def test_batch_sizes_must_be_positive():
    with pytest.raises(InputError, match="gpu_batch_size must be at least 1"):
        Settings(gpu_batch_size=0)
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        Settings.from_env({"QA_BATCH_SIZE": "0"})


def test_builds_can_embed_on_several_worker_processes(embedder: Embedder, monkeypatch):
    """`encode_devices` embeds a build's texts on one worker process per
    device (two CPU processes here, as two GPUs would be): the same vectors
    in the same order as in-process, and the model back on its own device
    for questions afterwards."""
    monkeypatch.setattr("qa.embedding.POOL_MIN_TEXTS", 8)
    texts = [
        f"La Cité numérique de Bègles accueille {n} entreprises" + " et des start-up" * (n % 4)
        for n in range(24)
    ]
    pooled = Embedder(embedder.info, "cpu", devices=("cpu", "cpu"))
    started = []
    real_start = pooled._start_pool
    monkeypatch.setattr(pooled, "_start_pool", lambda gpu: started.append(gpu) or real_start(gpu))
    with pooled.workers():  # as a build holds it over its steps
        got = pooled.encode_passages(texts)
        workers = [w.pid for w in pooled._pool["processes"]]
        again = pooled.encode_passages(texts[::-1])
    assert started == [False]  # one pool for both calls, float32 for CPU workers
    assert pooled._pool is None and len(workers) == 2
    for pid in workers:  # stopped and reaped at the end of the block
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    want = embedder.encode_passages(texts)
    assert got.shape == want.shape and got.dtype == np.float32
    assert float(np.min(np.sum(got * want, axis=1))) > 0.9999
    assert np.allclose(again[::-1], got, atol=1e-5)
    assert str(next(pooled.model.parameters()).device) == "cpu"
    assert np.allclose(pooled.encode_query("Où ?"), embedder.encode_query("Où ?"), atol=1e-5)
    # A few texts (an upload) are embedded in-process: no workers to start.
    monkeypatch.setattr(pooled, "_encode_in_pool", None)
    assert pooled.encode_passages(texts[:3]).shape == (3, embedder.dimension)


def test_encode_devices_are_checked_when_read():
    assert Settings.from_env({"QA_ENCODE_DEVICES": "cuda:0, cuda:1"}).encode_device_list == (
        "cuda:0",
        "cuda:1",
    )
    assert Settings().encode_device_list == ()
    with pytest.raises(InputError, match="'gpu 1' is not a torch device"):
        Settings(encode_devices="cpu,gpu 1")
