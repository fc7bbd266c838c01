"""Kill the index writer (SIGKILL) at random points; the index must survive.

    python -m bench.crash [--kills N] [--articles N] [--seed S]

A corpus of the seed articles plus `--articles` made ones (seed sentences,
one company each, as `bench.upload` makes them) is indexed once by `qa
index`. Then, `--kills` times for each of two runs, a copy of that index is
handed to a `qa index` process that is killed with SIGKILL:

- `rebuild`: `qa index --rebuild`, every passage embedded again;
- `incremental`: ten more articles dropped into the corpus, then `qa index`,
  which embeds only theirs.

Half the kills fall anywhere in the run (uniform over an uncut run's
length), half while the index is being written: a random delay after the
new data folder appears, up to 1.5 times the uncut run's time from there to
the manifest's switch (so most land before the switch, some after).
After each kill the index on disk is opened as it is (`read_manifest`,
`load_index`) and must be the old one or the new one, whole; it is asked a
question only its articles answer, and then opened by `ensure_index` as the
next start would, which must finish the update. Printed: kills, runs that
ended before their kill, indexes found old, new, or lost (goal 0), right
answers, and kills that left debris (cleaned by the next save).
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
from qa.store import load_index, read_manifest  # noqa: E402

EXTRA = 10  # articles an incremental run adds
KINDS = ("rebuild", "incremental")


@dataclass(frozen=True)
class Timing:
    """An uncut run: its length, when its new data folder appeared and when
    the manifest switched to it (s from start)."""

    total: float
    writing: float
    switched: float


@dataclass(frozen=True)
class Trial:
    """One kill and what was found after it."""

    kind: str
    when: str  # "anywhere" or "writing"
    at: float  # seconds after start the kill was sent
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

    def _run(self, args: list[str], index: Path) -> subprocess.Popen:
        command = [sys.executable, "-m", "qa.cli", *args, "--corpus", str(self.corpus),
                   "--index", str(index)]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    def _prepare(self, kind: str) -> subprocess.Popen:
        shutil.rmtree(self.index, ignore_errors=True)
        shutil.copytree(self.base, self.index)
        for name in self.extra:
            (self.corpus / name).unlink(missing_ok=True)
        if kind == "incremental":
            for name, data in self.extra.items():
                (self.corpus / name).write_bytes(data)
        return self._run(["index", "--rebuild"] if kind == "rebuild" else ["index"], self.index)

    def _new_data(self) -> bool:
        """Whether the writer has begun writing its data folder."""
        named = self.base_manifest.data
        return any(p.name.startswith("data-") and p.name != named for p in self.index.iterdir())

    def _debris(self) -> int:
        """Entries of the index folder its manifest does not name."""
        try:
            named = read_manifest(self.index).data
        except QAError:
            named = None
        keep = {"manifest.json", ".writer.lock", named}
        return sum(p.name not in keep for p in self.index.iterdir())

    def _switched(self) -> bool:
        """Whether the manifest names another data folder than the base's."""
        try:
            return read_manifest(self.index).data != self.base_manifest.data
        except QAError:
            return False

    def timing(self, kind: str) -> Timing:
        """An uncut run of `kind`, timed."""
        start = time.perf_counter()
        process = self._prepare(kind)
        writing = switched = None
        while process.poll() is None:
            now = time.perf_counter() - start
            if writing is None and self._new_data():
                writing = now
            if switched is None and writing is not None and self._switched():
                switched = now
            time.sleep(0.001)
        if process.returncode != 0:
            raise SystemExit(f"an uncut `qa index` ({kind}) failed: {process.returncode}")
        total = time.perf_counter() - start
        writing = total if writing is None else writing
        return Timing(total, writing, total if switched is None else switched)

    def trial(self, kind: str, when: str, timing: Timing, rng: random.Random) -> Trial:
        start = time.perf_counter()
        process = self._prepare(kind)
        deadline = start + rng.uniform(0, timing.total) if when == "anywhere" else None
        while process.poll() is None:
            now = time.perf_counter()
            if deadline is None and self._new_data():
                # Most kills before the switch, some after it (deleting the old folder).
                deadline = now + rng.uniform(0, 1.5 * max(timing.switched - timing.writing, 0.02))
            if deadline is not None and now >= deadline:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        at = time.perf_counter() - start
        finished = process.wait() == 0
        return self._check(kind, when, at, finished)

    def _check(self, kind: str, when: str, at: float, finished: bool) -> Trial:
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
            state = "old" if manifest.data == self.base_manifest.data else "new"
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
            s = self.settings
            self.embedder = Embedder.load(s.model, s.device, s.batch_size, s.threads, s.backend)
        return self.embedder

    def _answers(self, stored, new: bool) -> bool:
        """Whether the index finds the one article that answers a question
        (one of the added ones when it is the incremental run's new index)."""
        from qa.retrieval import Retriever

        number = self.made if new else self.made - 1
        if number < 0:
            question, expected = "Quel est le budget du plan IA de l'Occitanie ?", "001_"
        else:
            question = f"Combien de salariés emploie Zorbix{number} ?"
            expected = f"zorbix_{number:03d}"
        retriever = Retriever(stored, self._embedder(), self.settings)
        hits = retriever.retrieve(question, "hybrid", 5).hits
        return bool(hits) and hits[0].passage.doc_id.startswith(expected)


def run(scratch: Path, kills: int, made: int, seed: int) -> list[Trial]:
    """`kills` kills of each kind, half anywhere and half while writing."""
    rng = random.Random(seed)
    bench = Bench(scratch, made)
    trials = []
    for kind in KINDS:
        timing = bench.timing(kind)
        print(f"{kind}: uncut run {timing.total:.1f} s, data written from {timing.writing:.2f} s,"
              f" manifest switched at {timing.switched:.2f} s", flush=True)  # fmt: skip
        for n in range(kills):
            trial = bench.trial(kind, "anywhere" if n % 2 else "writing", timing, rng)
            print(f"  kill at {trial.at:6.2f} s ({trial.when}): {trial.state}, "
                  f"answered {trial.answered}, recovered {trial.recovered}, "
                  f"debris {trial.debris}", flush=True)  # fmt: skip
            trials.append(trial)
    return trials


def summary(trials: list[Trial]) -> None:
    print("\n| run | kills | ended first | old | new | lost | right answers | next start "
          "finished | left debris |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for kind in KINDS:
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        trials = run(Path(scratch), args.kills, args.articles, args.seed)
    summary(trials)
    return 1 if any(t.state.startswith("lost") or not t.answered for t in trials) else 0


if __name__ == "__main__":
    raise SystemExit(main())
