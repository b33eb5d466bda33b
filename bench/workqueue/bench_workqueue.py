"""Throughput of kubeloop.workqueue next to client-go's workqueue (prints figures).

Run with ``make bench-workqueue``. Both stacks run the same workloads in the
same invocation (the Go side is ``bench/workqueue/go``); one "item" is one
``add``, one ``get`` and one ``done``:

- ``single``: one thread; per item add, get, done over 100 cycling keys
  (client-go's ``BenchmarkQueue``).
- ``4p4c``: 4 producer threads add distinct keys, 4 consumer threads get and
  done until the queue is drained and shut down.

Each figure is the best of ``--reps`` runs, each long enough (``--min-time``)
to swamp timer noise. "metrics on" is a named queue exporting Prometheus
metrics (kubeloop: ``PrometheusMetricsProvider`` on a private registry;
client-go: component-base's provider); "off" is an unnamed queue.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from kubeloop.workqueue import PrometheusMetricsProvider, Queue

GO_DIR = Path(__file__).resolve().parent / "go"
WORKLOADS = ("single", "4p4c")

Run = Callable[[int, bool], float]


def new_queue(metrics: bool) -> Queue[str]:
    if metrics:
        return Queue("bench", metrics_provider=PrometheusMetricsProvider(CollectorRegistry()))
    return Queue()


def single(n: int, metrics: bool) -> float:
    keys = [f"key-{i}" for i in range(100)]
    q = new_queue(metrics)
    add, get, done = q.add, q.get, q.done
    start = time.perf_counter()
    for i in range(n):
        add(keys[i % 100])
        key, _ = get()
        done(key)  # type: ignore[arg-type]
    return time.perf_counter() - start


def producers_consumers(n: int, metrics: bool) -> float:
    producers = consumers = 4
    keys = [[f"ns-{p}/key-{i}" for i in range(n // producers)] for p in range(producers)]
    q = new_queue(metrics)

    def consume() -> None:
        get, done = q.get, q.done
        while True:
            key, shutdown = get()
            if shutdown:
                return
            done(key)  # type: ignore[arg-type]

    def produce(own: list[str]) -> None:
        add = q.add
        for key in own:
            add(key)

    consumer_threads = [threading.Thread(target=consume) for _ in range(consumers)]
    producer_threads = [threading.Thread(target=produce, args=(k,)) for k in keys]
    start = time.perf_counter()
    for thread in consumer_threads + producer_threads:
        thread.start()
    for thread in producer_threads:
        thread.join()
    q.shut_down_with_drain()
    for thread in consumer_threads:
        thread.join()
    return time.perf_counter() - start


def measure(run: Run, metrics: bool, min_time: float, reps: int) -> tuple[int, float]:
    """Grow n until one run takes ``min_time``, then the best rate of ``reps`` runs."""
    n = 10_000
    while True:
        elapsed = run(n, metrics)
        if elapsed >= min_time:
            break
        n = int(n * min(10.0, min_time / max(elapsed, 1e-9) * 1.2))
    n -= n % 4
    return n, max(n / run(n, metrics) for _ in range(reps))


@dataclass(frozen=True)
class Result:
    workload: str
    metrics: bool
    items: int
    items_per_sec: float


def python_results(min_time: float, reps: int) -> list[Result]:
    runs: dict[str, Run] = {"single": single, "4p4c": producers_consumers}
    results = []
    for workload in WORKLOADS:
        for metrics in (False, True):
            n, rate = measure(runs[workload], metrics, min_time, reps)
            results.append(Result(workload, metrics, n, rate))
    return results


def go_results(min_time: float, reps: int) -> tuple[list[Result], str]:
    """Build and run the Go side; ([], reason) if it cannot run here."""
    go = shutil.which("go")
    if go is None:
        return [], "not run: go not found on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "bench-workqueue")
        build = subprocess.run(
            [go, "build", "-o", binary, "."], cwd=GO_DIR, capture_output=True, text=True
        )
        if build.returncode != 0:
            return [], f"not run: go build failed:\n{build.stderr}"
        out = subprocess.run(
            [binary, f"-min-time={int(min_time * 1000)}ms", f"-reps={reps}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    results = [Result(d["workload"], d["metrics"], d["items"], d["items_per_sec"]) for d in lines]
    note = f"{lines[0]['go_version']}, GOMAXPROCS={lines[0]['gomaxprocs']}" if lines else "?"
    return results, note


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measured run")
    parser.add_argument("--reps", type=int, default=3, help="runs per figure (best is kept)")
    args = parser.parse_args()

    print(
        f"kubeloop.workqueue: Python {platform.python_version()} "
        f"({sys.implementation.name}), {os.cpu_count()} CPUs"
    )
    py = python_results(args.min_time, args.reps)
    go, go_note = go_results(args.min_time, args.reps)
    print(f"client-go v0.37.2 util/workqueue: {go_note}")
    print(f"items/s, best of {args.reps}; one item = add + get + done (x3 for operations/s)")
    print()
    go_by_key = {(r.workload, r.metrics): r for r in go}
    row = "{:<10}{:<9}{:>14}{:>14}{:>11}"
    header = row.format("workload", "metrics", "kubeloop", "client-go", "go/python")
    print(header)
    print("-" * len(header))
    for r in py:
        other = go_by_key.get((r.workload, r.metrics))
        go_rate = f"{other.items_per_sec:,.0f}" if other else "n/a"
        ratio = f"{other.items_per_sec / r.items_per_sec:.1f}x" if other else "n/a"
        metrics = "on" if r.metrics else "off"
        print(row.format(r.workload, metrics, f"{r.items_per_sec:,.0f}", go_rate, ratio))


if __name__ == "__main__":
    main()
