"""Initial informer sync from the real API server (``make bench-informer``).

Seeds ConfigMaps of about 1 KB (10,000 in one namespace, 40,000 more in a
second) into a testenv, then syncs a SharedInformerFactory informer on
10,000 (one namespace) and 50,000 (all namespaces) of them, through
WatchList streaming and through LIST, with and without stripping
managedFields. Each run is a fresh subprocess, so its memory is its own.

Measured per run:

- time from ``factory.start`` to the handler's ``has_synced`` (every
  initial object cached and handed to the handler);
- RSS before the informer starts (baseline), its peak during the sync
  (a 5 ms sampling thread reading /proc/self/statm, and the kernel's
  VmHWM), and the steady RSS once synced (after a gc and a second's rest);
- RSS per object: (steady - baseline) / objects;
- with ``--trace`` runs: the Python heap (tracemalloc) at its peak during
  the sync against after it, which the allocator's habit of keeping freed
  memory cannot blur.

The target (the informer issue): peak at most 1.5x steady.

Usage: python bench/informer/bench_informer_sync.py [--sizes 10000,50000] [--kubeconfig K]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

#: (namespace, objects): the first alone makes the small run, both the large one.
SEED = (("bench-informer-a", 10_000), ("bench-informer-b", 40_000))
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- seeding ------------------------------------------------------------------


def seed(kubeconfig: str, total: int) -> None:
    """Create what is missing, from 16 threads with one keep-alive HTTPS
    connection each (the standard library's: 4x the creates per second of
    kubeloop's shared HTTP/2 connection on this kind of machine, and seeding
    is not what is measured)."""
    from kubeloop.client import Client, load_config
    from kubeloop.client._tls import build_ssl_context
    from kubeloop.errors import AlreadyExists

    config = load_config(kubeconfig=kubeconfig)
    config.qps, config.burst = 0, 0
    server = urlsplit(config.host)
    ssl_context = build_ssl_context(config)
    headers = {"Content-Type": "application/json"}
    if config.bearer_token:
        headers["Authorization"] = f"Bearer {config.bearer_token}"
    connections = threading.local()
    payload = {"cidr": "10.0.0.0/16", "gateway": "10.0.0.1", "note": "x" * 600}

    def create(namespace: str, i: int) -> None:
        conn = getattr(connections, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                server.hostname or "127.0.0.1", server.port or 443, context=ssl_context
            )
            connections.conn = conn
        body = {
            "metadata": {"name": f"net-{i:06d}", "labels": {"bench": "informer"}},
            "data": payload,
        }
        conn.request(
            "POST", f"/api/v1/namespaces/{namespace}/configmaps", json.dumps(body), headers
        )
        response = conn.getresponse()
        response.read()
        if response.status not in (201, 409):
            raise RuntimeError(f"create {namespace}/net-{i:06d}: HTTP {response.status}")

    with Client(config) as c:
        namespaces = c.resource("v1", "namespaces", namespaced=False)
        left = total
        for namespace, count in SEED:
            count = min(count, left)
            left -= count
            if count <= 0:
                break
            with contextlib.suppress(AlreadyExists):
                namespaces.create({"metadata": {"name": namespace}})
            cms = c.resource("v1", "configmaps", namespace=namespace)
            if sum(len(p.items) for p in cms.pages(limit=500)) >= count:
                continue
            started = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i, ns=namespace: create(ns, i), range(count)))
            print(
                f"seeded {count} ConfigMaps in {namespace} in {time.monotonic() - started:.1f}s",
                file=sys.stderr,
            )


# -- one run (in the child process) -------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def vm_hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """Samples this process's RSS every ``interval`` seconds, keeping the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with open("/proc/self/statm", "rb") as f:
            while True:
                f.seek(0)
                self.peak = max(self.peak, int(f.read().split()[1]) * PAGE)
                if self._stop.wait(self.interval):
                    return


class CountingHandler:
    def __init__(self) -> None:
        self.adds = 0

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self.adds += 1

    def on_update(self, old: Any, new: Any) -> None:
        pass

    def on_delete(self, obj: Any) -> None:
        pass


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    import tracemalloc

    from kubeloop.cache import ReflectorOptions, SharedInformerFactory
    from kubeloop.client import Client, load_config

    config = load_config(kubeconfig=args.kubeconfig)
    config.qps, config.burst = 0, 0  # measure the informer, not the throttle
    client = Client(config)
    client.resource("v1", "configmaps")  # discovery, outside the measurement
    gc.collect()
    baseline = rss_bytes()
    if args.trace:
        tracemalloc.start()
    factory = SharedInformerFactory(
        client,
        0,
        namespace=args.namespace or None,
        strip_managed_fields=args.strip,
        reflector_options=ReflectorOptions(use_watch_list=args.watch_list),
    )
    informer = factory.informer_for("v1", "configmaps")
    handler = CountingHandler()
    registration = informer.add_event_handler(handler)
    stop = threading.Event()
    with RssSampler() as sampler:
        started = time.perf_counter()
        factory.start(stop)
        # has_synced is a predicate with nothing to wait on (client-go polls
        # it too); 5 ms keeps the timing precise.
        while not registration.has_synced():
            stop.wait(0.005)
        sync_seconds = time.perf_counter() - started
    peak = max(sampler.peak, vm_hwm_bytes())
    traced_peak = tracemalloc.get_traced_memory()[1] if args.trace else 0
    objects = len(informer.get_store())
    gc.collect()
    stop.wait(1.0)  # let the allocator settle before reading the steady RSS
    steady = rss_bytes()
    traced_now = tracemalloc.get_traced_memory()[0] if args.trace else 0
    stop.set()
    factory.shutdown()
    client.close()
    return {
        "objects": objects,
        "handled": handler.adds,
        "sync_s": sync_seconds,
        "baseline": baseline,
        "peak": peak,
        "steady": steady,
        "traced_peak": traced_peak,
        "traced_steady": traced_now,
    }


# -- driver ---------------------------------------------------------------------


def child(kubeconfig: str, size: int, watch_list: bool, strip: bool, trace: bool) -> dict[str, Any]:
    namespace = SEED[0][0] if size <= SEED[0][1] else ""
    cmd = [sys.executable, __file__, "--child", "--kubeconfig", kubeconfig]
    cmd += ["--namespace", namespace] if namespace else []
    cmd += ["--watch-list"] if watch_list else []
    cmd += ["--strip"] if strip else []
    cmd += ["--trace"] if trace else []
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"run failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def mb(n: float) -> str:
    return f"{n / 2**20:8.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--repeat", type=int, default=2, help="runs per case (best time shown)")
    ap.add_argument("--kubeconfig")
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--namespace", default="", help=argparse.SUPPRESS)
    ap.add_argument("--watch-list", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--strip", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_child(args)))
        return

    from kubeloop.testenv import ControlPlane

    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) > sum(n for _, n in SEED) or (len(sizes) > 1 and sizes[0] != SEED[0][1]):
        raise SystemExit(f"sizes must be {SEED[0][1]} and/or {sum(n for _, n in SEED)}")
    cp = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        cp = ControlPlane(tempfile.mkdtemp(prefix="bench-informer-")).start()
        kubeconfig = str(cp.kubeconfig)
    try:
        seed(kubeconfig, max(sizes))
        print_sync_table(kubeconfig, sizes, args.repeat)
        if not args.no_trace:
            print_heap_table(kubeconfig, max(sizes))
    finally:
        if cp is not None:
            cp.stop()
            shutil.rmtree(cp.dir, ignore_errors=True)  # etcd holds 50,000 objects


def print_sync_table(kubeconfig: str, sizes: list[int], repeat: int) -> None:
    print(
        "\ninformer initial sync from testenv: ConfigMaps of ~1 KB, client qps=0, "
        f"each run in a fresh process, best of {repeat}"
    )
    header = (
        f"{'objects':>8} {'path':10} {'managedFields':13} {'sync s':>7} "
        f"{'base MB':>8} {'peak MB':>8} {'steady MB':>9} {'peak/steady':>11} "
        f"{'(above base)':>12} {'KB/object':>9}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for size in sizes:
        for watch_list in (True, False):
            for strip in (True, False):
                runs = [child(kubeconfig, size, watch_list, strip, False) for _ in range(repeat)]
                r = min(runs, key=lambda run: float(run["sync_s"]))
                assert r["objects"] >= size and r["handled"] == r["objects"], r
                ratio = r["peak"] / r["steady"]
                above = (r["peak"] - r["baseline"]) / max(1, r["steady"] - r["baseline"])
                if strip:
                    worst = max(worst, ratio)
                per_object = (r["steady"] - r["baseline"]) / r["objects"] / 1024
                print(
                    f"{r['objects']:>8,} {'WatchList' if watch_list else 'LIST':10} "
                    f"{'stripped' if strip else 'kept':13} {r['sync_s']:>7.2f} "
                    f"{mb(r['baseline'])} {mb(r['peak'])} {mb(r['steady']):>9} "
                    f"{ratio:>11.2f} {above:>12.2f} {per_object:>9.2f}"
                )
    print(
        f"target peak <= 1.5x steady RSS (managedFields stripped, the default): "
        f"{'met' if worst <= 1.5 else 'NOT met'} (worst {worst:.2f}x); RSS rarely falls "
        "once memory was touched, so see the heap below too"
    )


def print_heap_table(kubeconfig: str, size: int) -> None:
    print("\nPython heap (tracemalloc: slower, so no timings), managedFields stripped")
    print(f"{'objects':>8} {'path':10} {'peak MB':>8} {'after MB':>9} {'peak/after':>10}  target")
    for watch_list in (True, False):
        r = child(kubeconfig, size, watch_list, True, trace=True)
        ratio = r["traced_peak"] / r["traced_steady"]
        print(
            f"{r['objects']:>8,} {'WatchList' if watch_list else 'LIST':10} "
            f"{mb(r['traced_peak'])} {mb(r['traced_steady']):>9} {ratio:>10.2f}  "
            f"{'met' if ratio <= 1.5 else 'NOT met'}"
        )
    print(
        "(a first LIST asks for resourceVersion 0, which the watch cache answers in one\n"
        " response whatever the limit: the whole body, then every object decoded with its\n"
        " managedFields, exist before the transform can run on any of them)"
    )


if __name__ == "__main__":
    main()
