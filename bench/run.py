"""Run the benchmark sections, print one table, write the figures as JSON.

    python -m bench                      # all sections
    python -m bench --sections 1,3,5     # some of them
    python -m bench --quick              # smaller sizes, to check it runs

Sections: 1 query latency, 2 index build, 3 cold start, 4 scale, 5 memory
(5 is measured with 3, in the same new processes), 6 growth (adding one
article to a large index), 7 stores (files against Qdrant on the same
data). Every time is a median
over repeated runs in one process (cold start: over new processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench`
    sys.path.insert(0, str(ROOT))

from bench.common import Row  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results.json"
BENCH_INDEX = ROOT / "bench" / ".index"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="1,2,3,4,5,6,7", help="comma-separated, from 1 to 7")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the question set")
    parser.add_argument("--build-repeat", type=int, default=3, help="full builds per collection")
    parser.add_argument("--cold-repeat", type=int, default=5, help="new processes for 3 and 5")
    parser.add_argument("--synthetic-passages", type=int, default=2000)
    parser.add_argument("--sizes", default="100000,1000000", help="FAISS sizes for section 4")
    parser.add_argument("--nprobe", default="8,32,128", help="IVF nprobe values")
    parser.add_argument("--ef", default="64,128,256", help="HNSW efSearch values")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest HNSW size built")
    parser.add_argument("--bm25-passages", type=int, default=100_000)
    parser.add_argument(
        "--french-passages", type=int, default=0, help="cached French passages used (0: all)"
    )
    parser.add_argument("--grow-sizes", default="100000,1000000", help="index sizes for section 6")
    parser.add_argument("--store-sizes", default="20000", help="collection sizes for section 7")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument(
        "--index", type=Path, default=BENCH_INDEX, help="index of the seeds for 1, 3 and 5"
    )
    args = parser.parse_args(argv)
    args.sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    if not args.sections or not args.sections <= set("1234567"):
        parser.error(
            f"--sections takes numbers from 1 to 7, got {','.join(sorted(args.sections))!r}"
        )
    if args.quick:
        args.repeat = args.build_repeat = args.cold_repeat = 1
        args.synthetic_passages, args.sizes, args.bm25_passages = 120, "20000", 5000
        args.hnsw_max, args.grow_sizes, args.french_passages = 20000, "30000", 5000
        args.store_sizes = "2000"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sections = args.sections
    rows: list[Row] = []
    started = time.perf_counter()
    from qa import Assistant, Settings

    assistant = None
    if sections & {"1", "2", "3", "5"}:
        # The cold-start children load this index, so it is built with their settings.
        assistant = Assistant.load(Settings(index=args.index))
    if "1" in sections:
        from bench import latency

        rows += _report(latency.run(assistant, args.repeat))
    if "2" in sections:
        from bench import build

        rows += _report(build.run(assistant.embedder, args.build_repeat, args.synthetic_passages))
    if sections & {"3", "5"}:
        from bench import coldstart

        found = coldstart.run(args.index, args.cold_repeat)
        rows += _report([r for r in found if r.section[0] in sections])
    if "4" in sections:
        from bench import scale

        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        nprobes = [int(e) for e in args.nprobe.split(",") if e.strip()]
        efs = [int(e) for e in args.ef.split(",") if e.strip()]
        found = scale.faiss_rows(sizes, nprobes, efs, args.hnsw_max, Settings().hnsw_m)
        rows += _report(found)
        hnsw_m = Settings().hnsw_m
        rows += _report(scale.french_rows(nprobes, efs, hnsw_m, args.french_passages))
        rows += _report(scale.lexical_rows(args.bm25_passages, args.repeat))
    if "6" in sections:
        from bench import grow

        for size in (int(s) for s in args.grow_sizes.split(",") if s.strip()):
            rows += _report(grow.run([size], args.hnsw_max))
    if "7" in sections:
        from bench import stores

        sizes = [int(s) for s in args.store_sizes.split(",") if s.strip()]
        rows += _report(stores.run(sizes, args.repeat))
    print()
    print(format_table(rows))
    payload = {
        "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": [asdict(r) for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.json} in {payload['seconds']} s")


def _report(rows: list[Row]) -> list[Row]:
    """Print each section's rows as they come: a long run shows progress."""
    for row in rows:
        print(f"  {row.section:13} {row.name:42} {_fmt(row.value):>10} {row.unit}", flush=True)
    return rows


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def format_table(rows: list[Row]) -> str:
    lines = ["| section | figure | value | unit | detail |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.section} | {row.name} | {_fmt(row.value)} | {row.unit} | {row.detail} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, object]:
    import faiss
    import sentence_transformers
    import torch

    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": sentence_transformers.__version__,
        "faiss": faiss.__version__,
    }


if __name__ == "__main__":
    main()
