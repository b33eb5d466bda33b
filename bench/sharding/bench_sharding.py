"""Figures for sharded network-controller replicas (issue 22), on a testenv
with the ShardedListAndWatch gate on: RSS per replica and initial sync time
for one unsharded process and for 1, 2 and 3 sharded replicas over N
Networks; shard takeover time after a SIGKILL; rebalance time when a
replica joins. Prints a table (and JSON with --json).

    python bench/sharding/bench_sharding.py --networks 30000

Replicas run ``--backend noop --no-api-writes`` (the cache and the shards
are measured, not a backend), 12 shards, leases of 4 s / 3 s / 0.5 s.
"Synced" for sharded replicas is the moment every shard is held by a
replica with its informer synced (the ``Shard held`` log lines); it
includes the one lease duration (4 s) a starting replica watches the
member Leases before competing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.e2e.process import ControllerProcess

from bench.proc import BENCH_SERVING_FLAGS, byte_compile_sources, memory_kb
from kubeloop.client import Client, load_config
from kubeloop.testenv._controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "config" / "crd" / "networks.samplecrd.k8s.io.yaml"
SHARDS = 12
LEASE = [
    "--leader-elect-lease-duration=4s",
    "--leader-elect-renew-deadline=3s",
    "--leader-elect-retry-period=0.5s",
]
HELD = re.compile(r'"Shard (held|released|lost)[^"]*" controller="networks" shard=(\d+)')


def install(client: Client, n: int, namespaces: int = 10) -> None:
    crds = client.resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
    crds.create(yaml.safe_load(CRD.read_text()))
    for _ in range(100):
        crd = crds.get("networks.samplecrd.k8s.io")
        if any(
            c["type"] == "Established" for c in (crd.get("status") or {}).get("conditions") or []
        ):
            break
        time.sleep(0.1)
    ns_client = client.resource("v1", "namespaces")

    def fill(i: int) -> None:
        ns = f"bench-{i}"
        ns_client.create({"metadata": {"name": ns}})
        nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=ns)
        for j in range(n // namespaces):
            nets.create({
                "apiVersion": "samplecrd.k8s.io/v1", "kind": "Network",
                "metadata": {"name": f"net-{j}"},
                "spec": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"},
            })  # fmt: skip

    with ThreadPoolExecutor(namespaces) as pool:
        list(pool.map(fill, range(namespaces)))


def process(kubeconfig: str, state: str, extra: list[str]) -> ControllerProcess:
    return ControllerProcess(
        kubeconfig, state,
        ["--backend", "noop", "--no-api-writes", "--no-leader-elect", *BENCH_SERVING_FLAGS,
         "--kube-api-qps", "0", *extra],
    )  # fmt: skip


def sharded(kubeconfig: str, state: str) -> ControllerProcess:
    """A replica of ``--shard-count`` SHARDS, its Leases in ``default``."""
    args = ["--shard-count", str(SHARDS), "--leader-elect-namespace", "default", *LEASE]
    return process(kubeconfig, state, args)


def held(proc: ControllerProcess) -> set[int]:
    shards: set[int] = set()
    for line in proc.since(0):
        m = HELD.search(line)
        if m:
            (shards.add if m.group(1) == "held" else shards.discard)(int(m.group(2)))
    return shards


def wait_held(procs: list[ControllerProcess], timeout: float = 600) -> float:
    """Seconds until the replicas hold every shard between them, balanced."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        sets = [held(p) for p in procs]
        union = set().union(*sets)
        sizes = [len(s) for s in sets]
        if len(union) == SHARDS == sum(sizes) and max(sizes) - min(sizes) <= 1:
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError("shards not held")


def ready(proc: ControllerProcess, timeout: float = 600) -> float:
    port = proc.served_port("health probes")
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("not ready")


def stop(proc: ControllerProcess) -> None:
    """SIGTERM; on a hang, SIGABRT (PYTHONFAULTHANDLER=1 prints the stacks) and fail."""
    try:
        proc.terminate(60)
    except subprocess.TimeoutExpired:
        assert proc._proc is not None
        proc._proc.send_signal(signal.SIGABRT)
        proc._proc.wait(10)
        print("\n".join(proc.since(0)[-200:]), file=sys.stderr)
        raise


def rss_mb(proc: ControllerProcess) -> float:
    assert proc._proc is not None
    return memory_kb(proc._proc.pid)["VmRSS"] / 1024


def main() -> int:
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", type=int, default=30000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    byte_compile_sources()
    out: dict[str, Any] = {"networks": args.networks, "shards": SHARDS}
    with tempfile.TemporaryDirectory() as tmp:
        cp = ControlPlane(
            Path(tmp) / "cp", extra_apiserver_args=["--feature-gates=ShardedListAndWatch=true"]
        )
        with cp:
            config = load_config(kubeconfig=str(cp.kubeconfig))
            config.qps, config.burst = 0, 0
            with Client(config) as client:
                t = time.monotonic()
                install(client, args.networks)
                out["create_seconds"] = round(time.monotonic() - t, 1)
            kc = str(cp.kubeconfig)
            plain = process(kc, tmp, [])
            t0 = time.monotonic()
            plain.start()
            ready(plain)
            time.sleep(2)  # settle: the figure is the steady RSS after the sync
            out["unsharded"] = {
                "sync_s": round(time.monotonic() - t0 - 2, 1),
                "rss_mb": round(rss_mb(plain), 1),
            }
            plain.kill()
            for replicas in (1, 2, 3):
                procs = [sharded(kc, tmp) for _ in range(replicas)]
                for p in procs:
                    p.start()
                sync = wait_held(procs)
                time.sleep(2)
                row: dict[str, Any] = {
                    "sync_s": round(sync, 1),
                    "rss_mb": [round(rss_mb(p), 1) for p in procs],
                }
                if replicas == 3:
                    killed = procs.pop(1)
                    t = time.monotonic()
                    killed.kill()
                    wait_held(procs)
                    row["takeover_after_sigkill_s"] = round(time.monotonic() - t, 1)
                    joiner = sharded(kc, tmp)
                    t = time.monotonic()
                    joiner.start()
                    procs.append(joiner)
                    wait_held(procs)
                    row["rebalance_after_join_s"] = round(time.monotonic() - t, 1)
                for p in procs:
                    stop(p)
                out[f"sharded_{replicas}"] = row
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{args.networks} Networks, {SHARDS} shards (created in {out['create_seconds']}s)")
        print(f"unsharded: sync {out['unsharded']['sync_s']}s, RSS {out['unsharded']['rss_mb']} MB")
        for r in (1, 2, 3):
            row = out[f"sharded_{r}"]
            print(f"{r} replica(s): sync {row['sync_s']}s, RSS per replica {row['rss_mb']} MB")
        row = out["sharded_3"]
        print(
            f"takeover after SIGKILL: {row['takeover_after_sigkill_s']}s; "
            f"rebalance after a join: {row['rebalance_after_join_s']}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
