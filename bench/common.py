"""Timing helpers, result rows and the synthetic collections the sections share."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "evals" / "questions.jsonl"


@dataclass(frozen=True)
class Row:
    """One figure of the report: `section` and `name` say what, `value` in `unit`."""

    section: str
    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass(frozen=True)
class Spread:
    """Median and 95th percentile of repeated timings, in milliseconds."""

    p50: float
    p95: float
    runs: int

    @classmethod
    def of(cls, times_ms: list[float]) -> Spread:
        ordered = sorted(times_ms)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(statistics.median(ordered), p95, len(ordered))


def run_child(module: str, *args: str) -> dict[str, Any]:
    """`python -m module args` in a new process, from the repository root:
    the JSON object its last line of output holds."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_mib() -> dict[str, float]:
    """This process's memory from /proc/self/status (Linux), in MiB: `peak`
    (VmHWM, which unlike ru_maxrss is not inherited across fork and exec),
    `rss` now, and `anon`, the part of it not backed by a file."""
    fields = {"VmHWM:": "peak", "VmRSS:": "rss", "RssAnon:": "anon"}
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, *value = line.split()
        if name in fields:
            found[fields[name]] = int(value[0]) / 1024  # kB
    return found


def time_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def time_each(fn: Callable[[Any], Any], items: Iterable[Any], repeat: int) -> Spread:
    """`fn` on every item, `repeat` times over; the spread of single-call times."""
    items = list(items)
    return Spread.of([time_ms(lambda i=item: fn(i)) for _ in range(repeat) for item in items])


#: How many evaluation questions a benchmark asks. Timing every one of the
#: 791 adds minutes to each run (and to CI's smoke test) for no steadier median.
SAMPLE = 120


def questions(count: int = SAMPLE) -> list[str]:
    """`count` evaluation questions, evenly spaced through the file, so the
    sample holds every origin and kind (French and English, short and long,
    answerable and not) and is the same on every run."""
    from qa.evaluation import load_questions

    every = [q.question for q in load_questions(QUESTIONS)]
    if count >= len(every):
        return every
    return [every[i * len(every) // count] for i in range(count)]


def seed_sentences() -> list[str]:
    """Every sentence of the seed articles (the vocabulary of the synthetic collections)."""
    from qa.corpus import load_corpus
    from qa.text import split_sentences

    sentences = []
    for doc in load_corpus(SEEDS).documents:
        sentences += [doc.text[s.start : s.end] for s in split_sentences(doc.text)]
    return [s for s in sentences if len(s) > 20]


def synthetic_articles(count: int, sentences_per_article: int, seed: int = 0) -> list[str]:
    """`count` articles of random seed sentences: the seeds' French vocabulary and
    sentence lengths, in combinations that make every passage's text new."""
    rng = random.Random(seed)
    pool = seed_sentences()
    articles = []
    for n in range(count):
        body = " ".join(rng.choice(pool) for _ in range(sentences_per_article))
        articles.append(f"Article synthétique {n}\n\n{body}\n")
    return articles


def write_corpus(folder: Path, articles: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, text in enumerate(articles):
        (folder / f"synthetic_{n:05d}.txt").write_text(text, encoding="utf-8")
    return folder
