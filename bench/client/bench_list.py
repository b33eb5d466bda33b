"""LIST throughput: kubeloop against the official ``kubernetes`` client, on
the same real API server in the same run (``make bench-client``).

Seeds N ConfigMaps of about the size of a Network object (so the official
client's typed models can be measured; for custom resources it has only
dicts), then lists them all, each peer in a fresh subprocess so that peak RSS
is its own (ru_maxrss). Prints wall time, MB/s of response body decoded and
peak RSS, as medians over repetitions.

Usage: python bench/client/bench_list.py [--objects 20000] [--repeat 3] [--kubeconfig K]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

NAMESPACE = "bench-list"
PEERS = ["kubeloop", "kubeloop-typed", "kubeloop-paged", "official-typed", "official-raw"]


def seed(kubeconfig: str, n: int) -> None:
    from kubeloop.client import Client, load_config
    from kubeloop.errors import AlreadyExists

    config = load_config(kubeconfig=kubeconfig)
    config.qps, config.burst = 0, 0
    with Client(config) as c:
        namespaces = c.resource("v1", "namespaces", namespaced=False)
        with contextlib.suppress(AlreadyExists):
            namespaces.create({"metadata": {"name": NAMESPACE}})
        cms = c.resource("v1", "configmaps", namespace=NAMESPACE)
        have = sum(len(p.items) for p in cms.pages(limit=500, label_selector="bench=list"))
        payload = {"cidr": "10.0.0.0/16", "gateway": "10.0.0.1", "note": "x" * 600}

        def create(i: int) -> None:
            body = {
                "metadata": {"name": f"net-{i:06d}", "labels": {"bench": "list", "tier": "a"}},
                "data": payload,
            }
            with contextlib.suppress(AlreadyExists):
                cms.create(body)

        if have < n:
            started = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(create, range(n)))
            print(f"seeded {n} objects in {time.monotonic() - started:.1f}s", file=sys.stderr)


def run_peer(peer: str, kubeconfig: str) -> dict[str, Any]:
    """Runs in the child process: one LIST of every object."""
    if peer.startswith("kubeloop"):
        from kubeloop.client import Client, load_config
        from kubeloop.client._codec import decode_list

        config = load_config(kubeconfig=kubeconfig)
        config.qps = 0  # the official client has no client-side throttle either
        with Client(config) as c:
            cms = c.resource("v1", "configmaps", namespace=NAMESPACE)
            started = time.perf_counter()
            if peer == "kubeloop-typed":
                # Typed against typed: a msgspec model of the fields a
                # ConfigMap has, decoded straight from the response bytes.
                from kubeloop.typed import Resource

                class ConfigMap(Resource, kw_only=True):
                    API_VERSION = "v1"
                    KIND = "ConfigMap"
                    PLURAL = "configmaps"
                    NAMESPACED = True
                    data: dict[str, str] | None = None

                typed = c.resource(ConfigMap, namespace=NAMESPACE)
                typed_page = typed.list_page(label_selector="bench=list")
                count, nbytes = len(typed_page.items), -1
            elif peer == "kubeloop":
                path = cms.collection_path(NAMESPACE)
                data = c.request_bytes("GET", path, params={"labelSelector": "bench=list"})
                items = decode_list(data, "LIST")[0]
                count, nbytes = len(items), len(data)
            else:
                count = nbytes = 0
                for page in cms.pages(label_selector="bench=list", limit=500):
                    count += len(page.items)
                nbytes = -1
            wall = time.perf_counter() - started
    else:
        import kubernetes

        kubernetes.config.load_kube_config(config_file=kubeconfig)
        api = kubernetes.client.CoreV1Api()
        started = time.perf_counter()
        if peer == "official-typed":
            result = api.list_namespaced_config_map(NAMESPACE, label_selector="bench=list")
            count, nbytes = len(result.items), -1
        else:
            resp = api.list_namespaced_config_map(
                NAMESPACE, label_selector="bench=list", _preload_content=False
            )
            data = resp.data
            items = json.loads(data)["items"]
            count, nbytes = len(items), len(data)
        wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peer": peer, "count": count, "wall": wall, "bytes": nbytes, "rss_mb": rss_mb}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kubeconfig")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.kubeconfig)))
        return

    from kubeloop.testenv import ControlPlane

    cp = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        cp = ControlPlane(tempfile.mkdtemp(prefix="bench-list-")).start()
        kubeconfig = str(cp.kubeconfig)
    try:
        seed(kubeconfig, args.objects)
        results: dict[str, list[dict[str, Any]]] = {p: [] for p in PEERS}
        for _ in range(args.repeat):
            for peer in PEERS:
                out = subprocess.run(
                    [sys.executable, __file__, "--peer", peer, "--kubeconfig", kubeconfig],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[peer].append(json.loads(out.stdout.strip().splitlines()[-1]))
        body_bytes = statistics.median(r["bytes"] for r in results["kubeloop"])
        print(
            f"\nLIST of {args.objects} objects (~{body_bytes / args.objects:.0f} B each), "
            f"medians of {args.repeat} runs, each peer in its own process"
        )
        print(f"{'peer':16} {'objects':>8} {'wall s':>8} {'MB/s':>8} {'peak RSS MB':>12}")
        med: dict[str, float] = {}
        for peer in PEERS:
            rs = results[peer]
            wall = statistics.median(r["wall"] for r in rs)
            med[peer] = wall
            rss = statistics.median(r["rss_mb"] for r in rs)
            mbps = body_bytes / wall / 1e6
            print(f"{peer:16} {rs[0]['count']:>8} {wall:>8.3f} {mbps:>8.1f} {rss:>12.1f}")
        print(
            f"\nkubeloop vs official typed: {med['official-typed'] / med['kubeloop']:.1f}x faster"
        )
        print(f"kubeloop vs official raw:   {med['official-raw'] / med['kubeloop']:.2f}x faster")
        typed_ratio = med["official-typed"] / med["kubeloop-typed"]
        print(f"kubeloop typed vs official typed: {typed_ratio:.1f}x faster")
    finally:
        if cp is not None:
            cp.stop()


if __name__ == "__main__":
    main()
