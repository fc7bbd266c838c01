"""The page under load: N gradio_client clients at once against `python app.py`.

    python -m bench.load [--clients 32 100] [--rounds 3] [--model NAME]

`python app.py` is started on a free loopback port, over a copy of the seed
articles and an index `qa index` builds first (so the start is a load, not
a build). For each N, N clients connect, wait at a barrier, and are let go
at once; each asks `--rounds` evaluation questions one after another
through `/ask`. Printed for each N: answers, errors by message, the answer
latency (p50, p95, max, from submit to result), and the wall time. The page
runs one answer at a time (`app.CONCURRENCY`) and queues `app.QUEUE_SIZE`
more: a client beyond the queue is told at once that the page is busy
(HTTP 503, gradio_client's `QueueError: Queue is full! Please try again.`),
and the figures say how fast it learnt it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import SEEDS, Spread, questions  # noqa: E402


@dataclass(frozen=True)
class Outcome:
    """One request: how long it took (ms) and what came back."""

    ms: float
    result: str  # "answer", or the error's class and message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_page(scratch: Path, model: str | None) -> tuple[subprocess.Popen, str]:
    """`python app.py` over a copy of the seeds, once its index is built; its URL."""
    env = {
        **os.environ,
        "QA_CORPUS": str(scratch / "articles"),
        "QA_INDEX": str(scratch / "index"),
        "QA_READ_ONLY": "1",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    if model:
        env["QA_MODEL"] = model
    shutil.copytree(SEEDS, scratch / "articles")
    subprocess.run([sys.executable, "-m", "qa.cli", "index"], check=True, env=env, cwd=ROOT,
                   capture_output=True)  # fmt: skip
    port = free_port()
    log = (scratch / "app.log").open("w")
    page = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if page.poll() is not None:
            raise SystemExit(f"app.py exited with {page.returncode}: see {scratch / 'app.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return page, url
        except OSError:
            time.sleep(0.5)
    page.kill()
    raise SystemExit("app.py did not start within 300 s")


def load(url: str, clients: int, rounds: int, asked: list[str]) -> tuple[list[Outcome], float]:
    """`clients` threads, each with its own gradio_client, released together."""
    from gradio_client import Client

    barrier = threading.Barrier(clients + 1)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        client = Client(url, verbose=False)
        barrier.wait()
        for r in range(rounds):
            question = asked[(n * rounds + r) % len(asked)]
            start = time.perf_counter()
            try:
                client.predict(question=question, k=5, mode="hybrid", api_name="/ask")
                result = "answer"
            except Exception as err:
                result = f"{type(err).__name__}: {str(err)[:80]}"
            with lock:
                outcomes.append(Outcome((time.perf_counter() - start) * 1000, result))

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        outcomes.extend(Outcome(600_000, "hung: no reply in 600 s") for _ in range(hung))
    return outcomes, time.perf_counter() - start


def report(clients: int, outcomes: list[Outcome], wall_s: float) -> None:
    answered = [o.ms for o in outcomes if o.result == "answer"]
    errors = Counter(o.result for o in outcomes if o.result != "answer")
    print(f"\n{clients} clients: {len(outcomes)} requests in {wall_s:.1f} s")
    if answered:
        spread = Spread.of(answered)
        print(f"  answered  {len(answered):4d}  p50 {spread.p50:7.0f} ms  "
              f"p95 {spread.p95:7.0f} ms  max {max(answered):7.0f} ms")  # fmt: skip
    for message, count in errors.most_common():
        took = Spread.of([o.ms for o in outcomes if o.result == message])
        print(f"  {count:4d} × {message}  (told in p50 {took.p50:.0f} ms, p95 {took.p95:.0f} ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 100])
    parser.add_argument("--rounds", type=int, default=3, help="questions each client asks")
    parser.add_argument("--model", help="QA_MODEL for the page (default: the settings' model)")
    args = parser.parse_args(argv)
    import app

    asked = questions()
    print(f"page: one answer at a time (CONCURRENCY={app.CONCURRENCY}), "
          f"queue of {app.QUEUE_SIZE}; {args.rounds} questions per client")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        page, url = start_page(Path(scratch), args.model)
        try:
            for clients in args.clients:
                outcomes, wall_s = load(url, clients, args.rounds, asked)
                report(clients, outcomes, wall_s)
        finally:
            page.kill()
            page.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
