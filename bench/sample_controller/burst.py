"""A burst of Foos: kubeloop's sample-controller next to upstream's.

Both programs run at their default settings, one after the other, against
one testenv control plane: ``python -m sample_controller`` (this repo's
apps/sample-controller) and k8s.io/sample-controller v0.37.1 built from the
Go module proxy. For each: start it with an empty cluster (its namespace of
the previous run deleted and gone, since neither is scoped to one), wait
until its workers have started, create N Foos as fast as the harness can,
and measure

- wall time from the first create until all N Deployments exist (and until
  every Foo has ``status.availableReplicas``), seen by a watch;
- the controller's CPU seconds (utime + stime, /proc) during the burst;
- its peak RSS (VmHWM).

Budgets matter here: upstream's clientsets have client-go's 5 qps / burst
10 each, one clientset per API group (apps for Deployments, the Foo group
for status, core for Events). ``--budget matched`` (the default, what
bench/run.py runs) gives kubeloop the same: ``--kube-api-qps 5
--kube-api-burst 10 --kube-api-qps-per-group``, so both programs wait on
the same per-group buckets and the comparison is of the programs, not of
their defaults; ``--budget default`` runs kubeloop as shipped (20 / 30).

``--repeat R`` runs R rounds, each program once per round, the order
alternating, so that both see the same machine over time; the figures are
medians with min and max.

Usage: ``python -m bench.sample_controller.burst [--foos 500] [--repeat 5]
[--peers kubeloop,client-go] [--budget matched|default] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import yaml

from bench.proc import BENCH_SERVING_FLAGS, byte_compile_sources, cpu_seconds, memory_kb

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "apps" / "sample-controller" / "artifacts" / "examples" / "crd-status-subresource.yaml"
UPSTREAM = "k8s.io/sample-controller@v0.37.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubeloop" / "bench"
FOO_API_VERSION = "samplecontroller.k8s.io/v1alpha1"
WAIT = 600.0
#: Concurrent creates: the harness sends the burst faster than either program can follow.
CREATORS = 16


def log(msg: str) -> None:
    print(f"[burst {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_upstream() -> Path:
    """Upstream's binary, built once from the module proxy's source."""
    binary = CACHE / "sample-controller-go-v0.37.1"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["go", "mod", "init", "burst"], cwd=scratch, check=True, capture_output=True)
        out = subprocess.run(
            ["go", "mod", "download", "-json", UPSTREAM],
            cwd=scratch,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    source = json.loads(out)["Dir"]
    log(f"building {UPSTREAM}")
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source, check=True)
    return binary


def foo(name: str) -> dict[str, Any]:
    spec = {"deploymentName": name, "replicas": 1}
    return {"apiVersion": FOO_API_VERSION, "kind": "Foo", "metadata": {"name": name}, "spec": spec}


#: kubeloop's flags for upstream's budgets: client-go's 5 qps / burst 10 per API group.
MATCHED_BUDGET = ("--kube-api-qps", "5", "--kube-api-burst", "10", "--kube-api-qps-per-group")


def command(peer: str, kubeconfig: str, upstream: Path, budget: str = "matched") -> list[str]:
    if peer == "kubeloop":
        # Plain-HTTP metrics on free ports (see bench/proc.py).
        return [
            *(sys.executable, "-m", "sample_controller", "--kubeconfig", kubeconfig),
            *BENCH_SERVING_FLAGS,
            *(MATCHED_BUDGET if budget == "matched" else ()),
        ]
    return [str(upstream), "--kubeconfig", kubeconfig]


#: The line each program logs once its caches synced and its workers run.
STARTED = {"kubeloop": "Starting workers", "client-go": "Started workers"}


class Log:
    """A process's stderr, drained by a thread, with an event for one line."""

    def __init__(self, stream: IO[str], marker: str) -> None:
        self.marker = marker
        self.seen = threading.Event()
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), name="burst-log")
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if self.marker in line:
                self.seen.set()


class Counter:
    """Watches a namespace's Deployments and Foos; a condition to wait on."""

    def __init__(self, client: Any, namespace: str) -> None:
        from kubeloop.cache import ResourceEventHandlerFuncs, SharedInformerFactory

        self.cond = threading.Condition()
        self.factory = SharedInformerFactory(client, 0.0, namespace=namespace)
        notify = ResourceEventHandlerFuncs(
            add_func=self._notify, update_func=lambda _o, n: self._notify(n)
        )
        self.deployments = self.factory.informer_for(("apps/v1", "deployments"))
        self.foos = self.factory.informer_for((FOO_API_VERSION, "foos"))
        self.deployments.add_event_handler(notify)
        self.foos.add_event_handler(notify)
        self.stop = threading.Event()

    def _notify(self, _obj: Any) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait(self, what: Callable[[], bool]) -> float:
        """Wait until ``what()`` holds; the monotonic time it was seen."""
        with self.cond:
            if not self.cond.wait_for(what, WAIT):
                raise TimeoutError("the controller did not get there")
        return time.monotonic()

    def deployment_count(self) -> int:
        return len(self.deployments.get_indexer().list_keys())

    def status_count(self) -> int:
        return sum(1 for f in self.foos.get_indexer().list() if "status" in f)


def run_peer(
    client: Any,
    peer: str,
    kubeconfig: str,
    upstream: Path,
    n: int,
    budget: str = "matched",
    rep: int = 0,
) -> dict[str, Any]:
    namespace = f"burst-{peer}-{rep}"
    namespaces = client.resource("v1", "namespaces", namespaced=False)
    namespaces.create({"metadata": {"name": namespace}})
    foos = client.resource(FOO_API_VERSION, "foos", namespace=namespace, namespaced=True)
    counter = Counter(client, namespace)
    counter.factory.start(counter.stop)
    proc = subprocess.Popen(
        command(peer, kubeconfig, upstream, budget),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    out = Log(proc.stderr, STARTED[peer])
    try:
        if not out.seen.wait(WAIT):
            raise TimeoutError(f"{peer} did not start: {''.join(out.lines[-20:])}")
        cpu0 = cpu_seconds(proc.pid)
        start = time.monotonic()
        with ThreadPoolExecutor(CREATORS) as pool:
            list(pool.map(lambda i: foos.create(foo(f"foo-{i:05d}")), range(n)))
        created = time.monotonic()
        deployed = counter.wait(lambda: counter.deployment_count() >= n)
        cpu_deployed = cpu_seconds(proc.pid)
        statused = counter.wait(lambda: counter.status_count() >= n)
        result = {
            "peer": peer,
            "foos": n,
            "rep": rep,
            "budget": budget if peer == "kubeloop" else "client-go defaults",
            "create_s": round(created - start, 2),
            "deployments_s": round(deployed - start, 2),
            "statuses_s": round(statused - start, 2),
            "cpu_s_to_deployments": round(cpu_deployed - cpu0, 2),
            "cpu_s_to_statuses": round(cpu_seconds(proc.pid) - cpu0, 2),
            "cpu_s_total": round(cpu_seconds(proc.pid), 2),
            "peak_rss_mb": round(memory_kb(proc.pid)["VmHWM"] / 1024, 1),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.thread.join(60)
        counter.stop.set()
        counter.factory.shutdown(60)
    delete_namespace(client, namespace)
    return result


def delete_namespace(client: Any, namespace: str) -> None:
    """Delete the namespace and wait until it is gone, so that the next
    program (watching every namespace) starts on an empty cluster."""
    from kubeloop.errors import is_not_found

    namespaces = client.resource("v1", "namespaces", namespaced=False)
    namespaces.delete(namespace)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            namespaces.get(namespace)
        except Exception as err:
            if is_not_found(err):
                return
            raise
        time.sleep(0.5)  # the namespace controller deletes its content: nothing to watch
    raise TimeoutError(f"namespace {namespace} was not deleted")


def install_crd(kubeconfig: str) -> None:
    kubectl = [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", kubeconfig]
    subprocess.run([*kubectl, "apply", "-f", str(CRD)], check=True, capture_output=True)
    name = yaml.safe_load(CRD.read_text())["metadata"]["name"]
    wait = ["wait", "--for", "condition=Established", "--timeout", "60s", f"crd/{name}"]
    subprocess.run([*kubectl, *wait], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sample_controller.burst")
    parser.add_argument("--foos", default="500", help="comma-separated burst sizes")
    parser.add_argument("--peers", default="kubeloop,client-go")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--budget", choices=["matched", "default"], default="matched")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    byte_compile_sources()

    from kubeloop.client import Client, load_config
    from kubeloop.testenv import ControlPlane

    peers = args.peers.split(",")
    upstream = build_upstream() if "client-go" in peers else Path("/nonexistent")
    shm = Path("/dev/shm")
    cp_dir = Path(tempfile.mkdtemp(prefix="kubeloop-burst-", dir=shm if shm.is_dir() else None))
    cp = ControlPlane(cp_dir).start()
    try:
        config = load_config(kubeconfig=str(cp.kubeconfig))
        config.qps, config.burst = 1000.0, 2000  # the harness must not be the bottleneck
        with Client(config) as client:
            install_crd(str(cp.kubeconfig))
            results = []
            for n in (int(x) for x in args.foos.split(",")):
                for rep in range(args.repeat):
                    # Alternate who goes first: neither always meets a fresh server.
                    order = peers if rep % 2 == 0 else peers[::-1]
                    for peer in order:
                        log(f"{peer}: {n} Foos (round {rep + 1}/{args.repeat})")
                        kubeconfig = str(cp.kubeconfig)
                        r = run_peer(client, peer, kubeconfig, upstream, n, args.budget, rep)
                        results.append(r)
                        log(json.dumps(results[-1]))
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        cp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
