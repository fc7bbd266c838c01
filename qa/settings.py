"""The one settings object. Read once (defaults, then `QA_*` environment
variables, then explicit overrides) and passed down to every stage."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from qa.errors import InputError

ROOT = Path(__file__).resolve().parent.parent

Mode = Literal["dense", "lexical", "hybrid"]
Fusion = Literal["rrf", "weighted"]
MODES: tuple[str, ...] = get_args(Mode)
FUSIONS: tuple[str, ...] = get_args(Fusion)


@dataclass(frozen=True)
class Settings:
    """Every tunable of the engine. Each field `name` can be set from the
    environment as `QA_NAME` (for example `QA_MODEL=/path/to/model`)."""

    corpus: Path = field(default=ROOT / "seeds")
    index: Path = field(default=ROOT / "index")
    #: sentence-transformers model: the packaged default, a local folder or a hub id.
    model: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = 32
    #: Passage windows: whole sentences up to `passage_chars`, sharing
    #: `passage_overlap` sentences; a longer sentence is cut at `passage_max_chars`.
    passage_chars: int = 800
    passage_max_chars: int = 1000
    passage_overlap: int = 1
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
    #: Abstain when no excerpt reaches this relevance (see `qa.answer._relevance`).
    min_relevance: float = 0.29
    max_question_chars: int = 3000

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise InputError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        for name in ("k", "candidates", "excerpt_chars", "passage_chars", "passage_max_chars"):
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
        for name in ("corpus", "index"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (`None` values ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _convert(name: str, default: Any, raw: str) -> Any:
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
