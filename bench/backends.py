"""The encoder backend trial: torch against sentence-transformers' OpenVINO
backend, in float32 and in int8, on speed and on answer quality.

    python -m bench.backends                 # the trial (needs the extra)
    python -m bench.backends --export DIR    # export for QA_MODEL=DIR QA_BACKEND=...

Needs `pip install 'sentence-transformers[openvino]'`, which this project
does not install by default (see the README's performance section for why).
Everything is exported locally from the installed model files: the float32
IR by sentence-transformers, the int8 model by NNCF post-training
quantisation calibrated on the seed articles' sentences.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.build import full_build  # noqa: E402
from bench.common import QUESTIONS, questions, seed_sentences, time_each  # noqa: E402

BACKENDS = ("torch", "openvino", "openvino-int8")


def export(folder: Path, model: str = "all-MiniLM-L6-v2") -> Path:
    """Copy `model`'s files to `folder` and add both OpenVINO exports to it."""
    import nncf
    import openvino as ov
    from sentence_transformers import SentenceTransformer

    from qa.embedding import BACKEND_FILES, resolve_model

    info = resolve_model(model)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(info.path, tmp)
    for path in tmp.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    exported = SentenceTransformer(str(tmp), backend="openvino", local_files_only=True)
    exported.save_pretrained(str(tmp))
    fp32 = ov.Core().read_model(str(tmp / BACKEND_FILES["openvino"]))
    names = [port.get_any_name() for port in fp32.inputs]
    tokenizer = exported.tokenizer

    def sample(text: str) -> dict[str, object]:
        encoded = tokenizer(text, return_tensors="np", truncation=True, max_length=256)
        return {name: encoded[name] for name in names}

    calibration = [sample(text) for text in seed_sentences()]
    int8 = nncf.quantize(
        fp32,
        nncf.Dataset(calibration),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration),
    )
    ov.save_model(int8, str(tmp / BACKEND_FILES["openvino-int8"]))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def trial(folder: Path, repeat: int) -> list[dict[str, object]]:
    """Speed and `qa eval` quality of each backend on the same exported folder."""
    from qa import Assistant, Settings
    from qa.evaluation import evaluate, load_questions

    qs = questions()
    gold = load_questions(QUESTIONS)
    results = []
    with tempfile.TemporaryDirectory(prefix="qa-backends-") as tmp:
        for backend in BACKENDS:
            settings = Settings(model=str(folder), backend=backend, index=Path(tmp) / backend)
            assistant = Assistant.load(settings)
            encode = time_each(assistant.embedder.encode_query, qs, repeat)
            ask = time_each(lambda q, a=assistant: a.ask(q), qs, repeat)
            build = full_build("seeds", settings, assistant.embedder, 3)[0]
            metrics = evaluate(assistant, gold, modes=["hybrid"]).modes[0].metrics
            row = {
                "backend": backend,
                "encode_p50_ms": encode.p50,
                "encode_p95_ms": encode.p95,
                "ask_hybrid_p50_ms": ask.p50,
                "build_passages_per_s": build.value,
            }
            row.update({k: v for k, v in metrics.items() if not k.startswith("p")})
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backends", description=__doc__)
    parser.add_argument("--export", type=Path, help="only export the model to this folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "backends.json")
    args = parser.parse_args(argv)
    if args.export:
        print(f"exported to {export(args.export.resolve())}")
        return
    with tempfile.TemporaryDirectory(prefix="qa-openvino-") as tmp:
        results = trial(export(Path(tmp) / "model"), args.repeat)
    columns = list(results[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in results:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
