"""Time from an upload to the first answer from it: one article, then fifty.

    python -m bench.upload [--repeat N]

A copy of the seed articles is indexed by `qa index` in another process,
then loaded here as the page loads it at start: the embedding model is
loaded, spaCy's French pipeline is not (it is only needed to index new
text, so the first upload after a start pays its load, about 10 s). Then
`Assistant.add` takes one new article, and a question only it answers is
asked; then fifty at once, and a question only the first of them answers.
The articles are made of seed sentences (the seeds' French, new
combinations) plus one sentence naming a company of their own, so each
question has one right article. Each figure is the median of `--repeat`
runs, each on a fresh copy.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import SEEDS, seed_sentences  # noqa: E402


def articles(first: int, count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    pool = seed_sentences()
    made = []
    for i in range(first, first + count):
        body = " ".join(rng.sample(pool, 8))
        text = f"Zorbix{i} s'installe à Albi\n\nZorbix{i} emploie {10 + i} salariés. {body}\n"
        made.append((f"zorbix_{i:03d}.txt", text.encode()))
    return made


def one_run(scratch: Path) -> dict[str, float]:
    from qa import Assistant, Settings
    from qa.library import Upload

    shutil.copytree(SEEDS, scratch / "articles")
    for path in (scratch / "articles").iterdir():
        path.chmod(0o644)
    folders = ["--corpus", str(scratch / "articles"), "--index", str(scratch / "index")]
    subprocess.run([sys.executable, "-m", "qa.cli", "index", *folders], check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    assistant = Assistant.load(Settings(corpus=scratch / "articles", index=scratch / "index"))
    figures = {}
    steps = (("1 article, first upload since start", 0, 1), ("50 articles", 1, 50))
    for label, first, count in steps:
        uploads = [Upload(name, data) for name, data in articles(first, count)]
        start = time.perf_counter()
        assistant.add(uploads)
        answer = assistant.ask(f"Combien de salariés emploie Zorbix{first} ?")
        figures[label] = time.perf_counter() - start
        cited = answer.excerpts[0].citation.doc_id if answer.excerpts else None
        if cited != f"zorbix_{first:03d}.txt":
            raise SystemExit(f"{label}: the first answer cites {cited}, not the new article")
        figures[f"{label}: passages embedded"] = assistant.report.embedded
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs (median reported)")
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as scratch:
            runs.append(one_run(Path(scratch)))
    for key in runs[0]:
        value = statistics.median(run[key] for run in runs)
        unit = "" if "embedded" in key else " s from add() to the first answer"
        print(f"{key}: {value:.1f}{unit}" if unit else f"{key}: {value:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
