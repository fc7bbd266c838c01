"""Kill the index writer (SIGKILL) at random points; the index must survive.

    python -m bench.crash [--kills N] [--articles N] [--seed S]
                          [--kinds rebuild incremental] [--every-operation]

A corpus of the seed articles plus `--articles` made ones (seed sentences,
one company each, as `bench.upload` makes them) is indexed once by `qa
index`. Then, `--kills` times for each of two runs, a copy of that index is
handed to a `qa index` process that is killed with SIGKILL:

- `rebuild`: `qa index --rebuild`, every passage embedded again;
- `incremental`: ten more articles dropped into the corpus, then `qa index`,
  which embeds only theirs.

Half the kills fall anywhere in the run (a time drawn uniformly over an
uncut run's length, most of which is loading and embedding). The other
half fall inside the save, which takes milliseconds and so is rarely hit by
time: the process kills itself before or after one of the save's file
operations in the index folder (each fsync, each rename, each deletion),
drawn uniformly from those an uncut run makes (`--every-operation`: once
at each of them, instead of the `--kills`). The `qa index` run is the
real one; only `os.fsync`, `os.replace` and `shutil.rmtree` are wrapped, to
count (`CHILD` below).

After each kill the index on disk is opened as it is (`read_manifest`,
`load_index`) and must be the old one or the new one, whole; it is asked a
question only its articles answer, and then opened by `ensure_index` as the
next start would, which must bring it up to the corpus. Printed: kills,
runs that ended before their kill, indexes found old, new, or lost (goal
0), right answers, and kills that left debris (cleaned by the next save).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import SEEDS  # noqa: E402
from bench.upload import articles  # noqa: E402
from qa.corpus import load_corpus  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.indexing import ensure_index  # noqa: E402
from qa.store import LOCK, MANIFEST, load_index, read_manifest  # noqa: E402

EXTRA = 10  # articles an incremental run adds
KINDS = ("rebuild", "incremental")


#: `qa index` as the command runs it, with the save's file operations counted:
#: the process kills itself at operation CRASH_AT (0: never) and writes the
#: count to CRASH_COUNT when it ends.
CHILD = """
import os, shutil, signal, sys
from qa.cli import main
kill_at, folder, done = int(os.environ["CRASH_AT"]), os.environ["CRASH_INDEX"], [0]
def step():
    done[0] += 1
    if done[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
def counted(real, inside):
    def call(*args, **kwargs):
        if inside(args):
            step()
        result = real(*args, **kwargs)
        if inside(args):
            step()
        return result
    return call
in_index = lambda args: os.path.realpath(args[0]).startswith(folder)
os.replace = counted(os.replace, in_index)
shutil.rmtree = counted(shutil.rmtree, in_index)
os.fsync = counted(os.fsync, lambda args: True)
code = main(sys.argv[1:])
with open(os.environ["CRASH_COUNT"], "w") as out:
    out.write(str(done[0]))
sys.exit(code)
"""


@dataclass(frozen=True)
class Timing:
    """An uncut run: its length (s) and the file operations of its save."""

    total: float
    steps: int


@dataclass(frozen=True)
class Trial:
    """One kill and what was found after it."""

    kind: str
    when: str  # "anywhere" (a time) or "saving" (a file operation)
    at: str  # the time or the operation the kill fell on
    state: str  # "old", "new", "finished" (ended first), or "lost: <why>"
    answered: bool
    recovered: bool
    debris: int


class Bench:
    """A scratch folder with the corpus, its extra articles and a first index."""

    def __init__(self, scratch: Path, made: int) -> None:
        from qa import Settings

        self.scratch = scratch
        self.corpus = scratch / "articles"
        self.base = scratch / "base-index"
        self.index = scratch / "index"
        shutil.copytree(SEEDS, self.corpus)
        for path in self.corpus.iterdir():
            path.chmod(0o644)
        for name, data in articles(0, made):
            (self.corpus / name).write_bytes(data)
        self.made = made
        self.extra = dict(articles(made, EXTRA))
        self.settings = Settings.from_env(corpus=self.corpus, index=self.base)
        if self._run(["index"], self.base).wait() != 0:
            raise SystemExit("the first `qa index` failed")
        self.base_manifest = read_manifest(self.base)
        self.embedder = None

    def _run(self, args: list[str], index: Path, kill_at: int = 0) -> subprocess.Popen:
        command = [sys.executable, "-c", CHILD, *args, "--corpus", str(self.corpus),
                   "--index", str(index)]  # fmt: skip
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "CRASH_AT": str(kill_at),
            "CRASH_INDEX": os.path.realpath(index),
            "CRASH_COUNT": str(self.scratch / "steps"),
        }
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    def _prepare(self, kind: str, kill_at: int = 0) -> subprocess.Popen:
        shutil.rmtree(self.index, ignore_errors=True)
        shutil.copytree(self.base, self.index)
        for name in self.extra:
            (self.corpus / name).unlink(missing_ok=True)
        if kind == "incremental":
            for name, data in self.extra.items():
                (self.corpus / name).write_bytes(data)
        args = ["index", "--rebuild"] if kind == "rebuild" else ["index"]
        return self._run(args, self.index, kill_at)

    def _debris(self) -> int:
        """Entries of the index folder its manifest does not name."""
        try:
            manifest = read_manifest(self.index)
            named = {s["name"] for s in manifest.segments} | {manifest.ann.get("file")}
        except (QAError, AttributeError):
            named = set()
        keep = {MANIFEST, LOCK, *named}
        return sum(p.name not in keep for p in self.index.iterdir())

    def timing(self, kind: str) -> Timing:
        """An uncut run of `kind`: its length and its save's file operations."""
        start = time.perf_counter()
        if self._prepare(kind).wait() != 0:
            raise SystemExit(f"an uncut `qa index` ({kind}) failed")
        total = time.perf_counter() - start
        return Timing(total, int((self.scratch / "steps").read_text()))

    def trial(
        self, kind: str, when: str, timing: Timing, rng: random.Random, step: int = 0
    ) -> Trial:
        if when == "saving":
            step = step or rng.randint(1, timing.steps)
            finished = self._prepare(kind, kill_at=step).wait() == 0
            return self._check(kind, when, f"operation {step}/{timing.steps}", finished)
        start = time.perf_counter()
        process = self._prepare(kind)
        deadline = start + rng.uniform(0, timing.total)
        while process.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        at = time.perf_counter() - start
        finished = process.wait() == 0
        return self._check(kind, when, f"{at:.2f} s", finished)

    def _check(self, kind: str, when: str, at: str, finished: bool) -> Trial:
        """Open the index as the kill left it, ask it, then let the next start finish."""
        debris = self._debris()
        try:
            manifest = read_manifest(self.index)
            if manifest is None:
                raise QAError("no manifest")
            stored = load_index(self.index, manifest)
        except QAError as err:
            return Trial(kind, when, at, f"lost: {err}", False, False, debris)
        ids = {d["id"] for d in manifest.documents}
        if kind == "rebuild":
            state = "old" if manifest.segments == self.base_manifest.segments else "new"
        else:
            state = "new" if set(self.extra) <= ids else "old"
            if state == "old" and ids != {d["id"] for d in self.base_manifest.documents}:
                state = "lost: documents of neither index"
        answered = self._answers(stored, state == "new" and kind == "incremental")
        if finished:
            state = "finished"
        # The next start: it must bring the index up to the corpus, and a
        # save (the incremental run's) clears the debris.
        documents = load_corpus(self.corpus).documents
        try:
            ensure_index(documents, self.settings.with_(index=self.index), self._embedder())
            manifest = read_manifest(self.index)
            recovered = [d["id"] for d in manifest.documents] == [d.id for d in documents]
        except QAError:
            recovered = False
        return Trial(kind, when, at, state, answered, recovered, debris)

    def _embedder(self):
        from qa.embedding import Embedder

        if self.embedder is None:
            self.embedder = Embedder.from_settings(self.settings)
        return self.embedder

    def _answers(self, stored, new: bool) -> bool:
        """Whether the index finds the one article that answers a question
        (one of the added ones when it is the incremental run's new index)."""
        from qa.retrieval import Retriever
        from qa.stores.files import FileStore

        number = self.made if new else self.made - 1
        if number < 0:
            question, expected = "Quel est le budget du plan IA de l'Occitanie ?", "001_"
        else:
            question = f"Combien de salariés emploie Zorbix{number} ?"
            expected = f"zorbix_{number:03d}"
        retriever = Retriever(FileStore(stored, self.settings), self._embedder(), self.settings)
        hits = retriever.retrieve(question, "hybrid", 5).hits
        return bool(hits) and hits[0].passage.doc_id.startswith(expected)


def run(
    scratch: Path, kills: int, made: int, seed: int, kinds: tuple[str, ...] = KINDS,
    every: bool = False,
) -> list[Trial]:  # fmt: skip
    """`kills` kills of each kind, half anywhere and half while saving; or,
    with `every`, one kill at each file operation of the save."""
    rng = random.Random(seed)
    bench = Bench(scratch, made)
    trials = []
    for kind in kinds:
        timing = bench.timing(kind)
        print(f"{kind}: uncut run {timing.total:.1f} s, {timing.steps} file operations in its "
              "save", flush=True)  # fmt: skip
        plan = range(1, timing.steps + 1) if every else range(kills)
        for n in plan:
            if every:
                trial = bench.trial(kind, "saving", timing, rng, step=n)
            else:
                trial = bench.trial(kind, "anywhere" if n % 2 else "saving", timing, rng)
            print(f"  kill at {trial.at} ({trial.when}): {trial.state}, "
                  f"answered {trial.answered}, recovered {trial.recovered}, "
                  f"debris {trial.debris}", flush=True)  # fmt: skip
            trials.append(trial)
    return trials


def summary(trials: list[Trial]) -> None:
    print("\n| run | kills | ended first | old | new | lost | right answers | next start "
          "finished | left debris |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for kind in dict.fromkeys(t.kind for t in trials):
        mine = [t for t in trials if t.kind == kind]
        states = Counter("lost" if t.state.startswith("lost") else t.state for t in mine)
        figures = [len(mine), *(states[s] for s in ("finished", "old", "new", "lost"))]
        figures += [sum(t.answered for t in mine), sum(t.recovered for t in mine)]
        figures.append(sum(t.debris > 0 for t in mine))
        print(f"| {kind} | " + " | ".join(map(str, figures)) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills of each kind")
    parser.add_argument("--articles", type=int, default=40, help="made articles beside the seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--every-operation", action="store_true", help="kill once at each operation of the save"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        trials = run(Path(scratch), args.kills, args.articles, args.seed, tuple(args.kinds),
                     args.every_operation)  # fmt: skip
    summary(trials)
    return 1 if any(t.state.startswith("lost") or not t.answered for t in trials) else 0


if __name__ == "__main__":
    raise SystemExit(main())
