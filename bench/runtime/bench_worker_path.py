"""CPU per key of the runtime's worker path, in process (prints figures).

No API server: a :class:`~kubeloop.runtime.Runner` over N keys already
queued, reading objects from a dict, with the rate-limiting queue, metrics
and klog set up as the manager sets them up. It isolates what a worker
costs per reconcile from the informer and the network, which is how the
lock convoys of issue 19 were found (two workers costing five times one).

- ``--reconcile noop``: a reconcile that returns at once (the runtime alone);
  ``network``: the Network controller's reconcile over typed Networks and
  the noop backend, with its "Successfully synced" line.
- ``--log``: where klog writes, ``pipe`` (a ``cat`` reading it, as a
  harness or log shipper would), ``null`` (/dev/null) or ``off`` (the
  application's logger at WARNING).
- ``--workers``: threads taking keys at once (1 is the main thread).

Usage: python -m bench.runtime.bench_worker_path [--keys 30000] [--workers 1,2]
[--reconcile noop,network] [--log off,pipe] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from kubeloop.runtime import Context, ReconcileMetrics, Result, Runner, setup_logging
from kubeloop.workqueue import RateLimitingQueue
from network_controller.controller import NetworkReconciler
from network_controller.models import Network
from network_controller.noop_backend import NoopBackend


def networks(n: int) -> dict[str, Network]:
    """N typed Networks as the cache would hold them, by key."""
    decode = msgspec.json.Decoder(Network).decode
    out = {}
    for i in range(n):
        ip = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        doc = {
            "apiVersion": "samplecrd.k8s.io/v1",
            "kind": "Network",
            "metadata": {"name": f"net-{i:06d}", "namespace": "bench", "uid": f"uid-{i}"},
            "spec": {"cidr": f"{ip}/32", "gateway": ip},
        }
        out[f"bench/net-{i:06d}"] = decode(msgspec.json.encode(doc))
    return out


def log_stream(where: str) -> tuple[io.TextIOWrapper, Callable[[], None]]:
    """The stream klog writes to, and how to close it."""
    if where == "pipe":
        cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert cat.stdin is not None
        stream = open(cat.stdin.fileno(), "w", buffering=1, closefd=False)  # noqa: SIM115

        def close() -> None:
            stream.close()
            assert cat.stdin is not None
            cat.stdin.close()
            cat.wait()

        return stream, close
    stream = open(os.devnull, "w", buffering=1)  # noqa: SIM115 - closed by close()
    return stream, stream.close


def run_once(objects: dict[str, Network], reconcile_kind: str, log: str, workers: int) -> float:
    """CPU microseconds per key for one pass over every key."""
    stream, close = log_stream(log)
    setup_logging(0, "text", stream)
    logging.getLogger("network_controller").setLevel(logging.WARNING if log == "off" else 0)
    reconcile: Callable[[Context[Any], Any], Result | None]
    if reconcile_kind == "network":
        reconcile = NetworkReconciler(None, NoopBackend()).reconcile
    else:
        reconcile = lambda ctx, obj: None  # noqa: E731
    queue: RateLimitingQueue[str] = RateLimitingQueue(name="networks")
    runner = Runner("networks", reconcile, objects.get, queue=queue, metrics=ReconcileMetrics("b"))
    for key in objects:
        queue.add(key)
    queue.shut_down()  # queued keys are still handed out; then get() says shut down

    def work() -> None:
        while runner.process_next_work_item():
            pass

    started = time.process_time()
    if workers == 1:
        work()
    else:
        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    cpu = time.process_time() - started
    close()
    return cpu / len(objects) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--keys", type=int, default=30000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--reconcile", default="noop,network")
    ap.add_argument("--log", default="off,pipe")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    objects = networks(args.keys)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    print(f"{args.keys} keys; CPU us per key, median [min, max] of {args.repeat}")
    for kind in args.reconcile.split(","):
        for log in args.log.split(","):
            if kind == "noop" and log != args.log.split(",")[0]:
                continue  # a no-op reconcile logs nothing
            for workers in (int(w) for w in args.workers.split(",")):
                figures = sorted(run_once(objects, kind, log, workers) for _ in range(args.repeat))
                root.handlers[:], root.level = handlers, level
                median = figures[len(figures) // 2]
                print(
                    f"  reconcile={kind:8s} log={log:5s} workers={workers}: "
                    f"{median:6.1f} [{figures[0]:.1f}, {figures[-1]:.1f}]",
                    flush=True,
                )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
