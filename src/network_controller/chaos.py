"""The chaos suite: a seeded random workload under injected faults, then the
invariants that say nothing was lost.

``make chaos`` (full) and ``make chaos-quick`` (part of ``make test``) run
it; both regenerate docs/reliability.md. Faults, on loopback only:

- a fault proxy between the controllers and the API server: connections cut,
  reads stalled, latency added;
- the API server restarted on the same data directory (same port);
- etcd compacted every few seconds, so resumed watches hit 410 Gone;
- controller replicas SIGKILLed and restarted with their state dir kept;
  two replicas with leader election, so kills are failovers;
- the mock backend failing a fraction of its calls.

Invariants at quiescence, within a printed convergence deadline: the
backend's networks equal the Networks on the server (no orphan, none
missing, none stale: CIDR and gateway match); every Network has
status.observedGeneration == metadata.generation and Ready=True; none is
stuck being deleted; no process died that we did not kill; no traceback in
any log. Then a bad-input sweep: malformed Networks are refused by the API
server with a clear message, or handled with a status condition.

    python -m network_controller.chaos --quick --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.client import Client, load_config
from kubeloop.errors import KubeloopError, is_already_exists, is_not_found
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.faultproxy import FaultProxy, proxied_kubeconfig
from network_controller.backend import normalise_cidr
from network_controller.walkthrough import CRD, ControllerProcess

NAMESPACES = ("chaos-a", "chaos-b", "chaos-c")
API = "samplecrd.k8s.io/v1"
ANNOTATION = "samplecrd.k8s.io/network-cidr"


@dataclass
class Settings:
    seed: int
    operations: int
    kills: int
    apiserver_restarts: int
    #: The workload is spread over this many seconds, so faults land mid-run.
    duration: float = 30.0
    fail_rate: float = 0.1
    convergence_deadline: float = 90.0
    fault_interval: float = 1.5
    names_per_namespace: int = 12


QUICK: dict[str, Any] = {"operations": 400, "kills": 2, "apiserver_restarts": 1, "duration": 30.0}
FULL: dict[str, Any] = {
    "operations": 2500,
    "kills": 6,
    "apiserver_restarts": 2,
    "duration": 240.0,
    "convergence_deadline": 120.0,
}


@dataclass
class Report:
    settings: Settings
    ops: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    workload_seconds: float = 0.0
    convergence_seconds: float = -1.0
    orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    stuck_deleting: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    bad_input: list[tuple[str, str]] = field(default_factory=list)
    bad_input_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.convergence_seconds >= 0 and not (
            self.orphans
            or self.missing
            or self.stale
            or self.not_ready
            or self.stuck_deleting
            or self.crashes
            or self.tracebacks
            or self.bad_input_failures
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _random_network(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.15:
        net = ipaddress.ip_network(f"fd{rng.randrange(16**2):02x}:{rng.randrange(16**4):x}::/64")
        return str(net), str(net.network_address + rng.randrange(1, 1000))
    prefix = rng.choice([16, 20, 24])
    base = ipaddress.ip_network(
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/{prefix}", strict=False
    )
    cidr = str(base)
    if rng.random() < 0.2:  # host bits set: accepted and normalised
        cidr = f"{base.network_address + rng.randrange(1, 200)}/{prefix}"
    return cidr, str(base.network_address + rng.randrange(1, 200))


class Chaos:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.s = settings
        self.rng = random.Random(settings.seed)
        self.dir = workdir
        self.report = Report(settings)
        self.port = _free_port()
        self.cp = ControlPlane(self.dir / "cluster", port=self.port, etcd_compaction_interval="2s")
        self.proxy: FaultProxy | None = None
        self.replicas: list[ControllerProcess] = []
        self.killed: set[int] = set()
        self._retired: list[ControllerProcess] = []
        self._client: Client | None = None

    # -- setup ----------------------------------------------------------------
    @property
    def client(self) -> Client:
        assert self._client is not None
        return self._client

    def _admin(self) -> Client:
        config = load_config(kubeconfig=str(self.cp.kubeconfig))
        config.qps = 0
        return Client(config)

    def _replica(self) -> ControllerProcess:
        assert self.proxy is not None
        kubeconfig = proxied_kubeconfig(
            self.cp.kubeconfig, self.dir / "proxied-kubeconfig", self.proxy.port
        )
        return ControllerProcess(
            str(kubeconfig),
            str(self.dir / "state"),
            [
                "--resync",
                "3s",
                "--workers",
                "4",
                "--kube-api-qps",
                "100",
                "--kube-api-burst",
                "200",
                "--backend-fail-rate",
                str(self.s.fail_rate),
                "--leader-elect",
                "--leader-elect-namespace",
                "default",
                "--leader-elect-lease-duration",
                "4s",
                "--leader-elect-renew-deadline",
                "3s",
                "--leader-elect-retry-period",
                "0.5s",
            ],
        )

    def setup(self) -> None:
        self.cp.start()
        self._client = self._admin()
        crds = self.client.resource(
            "apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False
        )
        crds.create(yaml.safe_load(CRD.read_text()))
        ns = self.client.resource("v1", "namespaces", namespaced=False)
        for name in NAMESPACES:
            ns.create({"metadata": {"name": name}})
        self._wait(lambda: self._crd_established(), 60, "CRD Established")
        self.proxy = FaultProxy("127.0.0.1", self.port)
        self.proxy.start()
        for _ in range(2):
            replica = self._replica()
            replica.start()
            self.replicas.append(replica)

    def _crd_established(self) -> bool:
        try:
            self.client.resource(API, "networks", namespaced=True).list_page()
            return True
        except KubeloopError:
            return False

    @staticmethod
    def _wait(cond: Any, timeout: float, what: str) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if cond():
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not reached in {timeout}s")

    # -- workload -----------------------------------------------------------
    def _op(self, nets: Any, deps: Any) -> None:
        ns = self.rng.choice(NAMESPACES)
        name = f"net-{self.rng.randrange(self.s.names_per_namespace)}"
        roll = self.rng.random()
        try:
            if roll < 0.08 and ns == NAMESPACES[0]:
                self._deployment_op(deps, ns)
                return
            if roll < 0.45:
                cidr, gw = _random_network(self.rng)
                body = {
                    "apiVersion": API,
                    "kind": "Network",
                    "metadata": {"name": name},
                    "spec": {"cidr": cidr, "gateway": gw},
                }
                nets.create(body, namespace=ns)
                self.report.ops["create"] += 1
            elif roll < 0.8:
                cidr, gw = _random_network(self.rng)
                nets.patch(name, {"spec": {"cidr": cidr, "gateway": gw}}, namespace=ns)
                self.report.ops["update"] += 1
            else:
                nets.delete(name, namespace=ns)
                self.report.ops["delete"] += 1
                if self.rng.random() < 0.5:  # recreate under the same name
                    cidr, gw = _random_network(self.rng)
                    body = {
                        "apiVersion": API,
                        "kind": "Network",
                        "metadata": {"name": name},
                        "spec": {"cidr": cidr, "gateway": gw},
                    }
                    nets.create(body, namespace=ns)
                    self.report.ops["recreate"] += 1
        except KubeloopError as err:
            if is_not_found(err) or is_already_exists(err):
                self.report.ops["no-op"] += 1
            else:
                self.report.ops["refused"] += 1  # e.g. during an apiserver restart

    def _deployment_op(self, deps: Any, ns: str) -> None:
        name = f"app-{self.rng.randrange(4)}"
        if self.rng.random() < 0.7:
            cidr, _ = _random_network(self.rng)
            body: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "annotations": {ANNOTATION: normalise_cidr(cidr)[0]}},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    },
                },
            }
            try:
                deps.create(body, namespace=ns)
                self.report.ops["deployment-create"] += 1
            except KubeloopError as err:
                if not is_already_exists(err):
                    raise
                deps.patch(
                    name,
                    {"metadata": {"annotations": body["metadata"]["annotations"]}},
                    namespace=ns,
                )
                self.report.ops["deployment-update"] += 1
        else:
            deps.delete(name, namespace=ns)
            self.report.ops["deployment-delete"] += 1

    def workload(self) -> None:
        nets = self.client.resource(API, "networks", namespaced=True)
        deps = self.client.resource("apps/v1", "deployments", namespaced=True)
        started = time.monotonic()
        pace = self.s.duration / self.s.operations
        for i in range(self.s.operations):
            self._op(nets, deps)
            # Pacing, not synchronisation: spread the operations over the run.
            ahead = started + (i + 1) * pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        self.report.workload_seconds = time.monotonic() - started

    # -- faults -------------------------------------------------------------
    def faults(self, done: threading.Event) -> None:
        assert self.proxy is not None
        kills_left, restarts_left = self.s.kills, self.s.apiserver_restarts
        while not done.wait(self.s.fault_interval):
            kind = self.rng.choice(["cut", "latency", "stall", "compact", "kill", "restart"])
            if kind == "kill" and kills_left:
                self._kill_one()
                kills_left -= 1
            elif kind == "restart" and restarts_left:
                self.cp.stop()
                self.cp.start()
                restarts_left -= 1
            elif kind == "cut":
                self.proxy.cut_all()
            elif kind == "latency":
                self.proxy.set_latency(0.2)
                done.wait(1.0)
                self.proxy.set_latency(0.0)
            elif kind == "stall":
                self.proxy.stall(True)
                done.wait(1.0)
                self.proxy.stall(False)
            elif kind == "compact":
                with contextlib.suppress(OSError):
                    self.cp.compact_etcd()
            else:
                continue
            self.report.faults[kind] += 1
        # Faults owed are still delivered, so every run has them all.
        for _ in range(kills_left):
            self._kill_one()
            self.report.faults["kill"] += 1

    def _kill_one(self) -> None:
        """SIGKILL the leader if one is known, else any replica; restart it
        with the same state dir."""
        leader = next(
            (r for r in self.replicas if any("became leader" in line for line in r.lines[-200:])),
            self.replicas[0],
        )
        if leader._proc is not None:
            self.killed.add(leader._proc.pid)
        leader.kill()
        replacement = self._replica()
        replacement.start()
        self.replicas[self.replicas.index(leader)] = replacement
        self._retired.append(leader)

    # -- invariants ---------------------------------------------------------
    def _diff(self) -> dict[str, list[str]]:
        nets = self.client.resource(API, "networks", namespaced=True).list_all().items
        backend_file = self.dir / "state" / "networks.json"
        try:
            backend: dict[str, Any] = json.loads(backend_file.read_text() or "{}")
        except FileNotFoundError:
            backend = {}
        want = {}
        result: dict[str, list[str]] = {
            k: [] for k in ("orphans", "missing", "stale", "not_ready", "stuck")
        }
        for n in nets:
            meta = n["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            if meta.get("deletionTimestamp"):
                result["stuck"].append(key)
                continue
            want[key] = (normalise_cidr(n["spec"]["cidr"])[0], n["spec"]["gateway"])
            status = n.get("status") or {}
            ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
            if (
                status.get("observedGeneration") != meta.get("generation")
                or not ready
                or ready[0]["status"] != "True"
            ):
                result["not_ready"].append(key)
        for key, (cidr, gw) in want.items():
            got = backend.get(key)
            if got is None:
                result["missing"].append(key)
            elif (got.get("cidr"), got.get("gateway")) != (cidr, gw):
                result["stale"].append(key)
        result["orphans"] = sorted(set(backend) - set(want))
        return result

    def converge(self) -> None:
        assert self.proxy is not None
        self.proxy.set_latency(0.0)
        self.proxy.stall(False)
        self.proxy.refuse(False)
        started = time.monotonic()
        last: dict[str, list[str]] = {}
        while time.monotonic() - started < self.s.convergence_deadline:
            try:
                last = self._diff()
            except KubeloopError as err:
                print(f"chaos: convergence check failed, retrying: {err}", file=sys.stderr)
                time.sleep(0.5)
                continue
            if not any(last.values()):
                self.report.convergence_seconds = time.monotonic() - started
                return
            time.sleep(0.5)
        r = self.report
        r.orphans, r.missing, r.stale = (
            last.get("orphans", []),
            last.get("missing", []),
            last.get("stale", []),
        )
        r.not_ready, r.stuck_deleting = last.get("not_ready", []), last.get("stuck", [])

    def check_processes(self) -> None:
        for replica in [*self.replicas, *self._retired]:
            proc = replica._proc
            if proc is None:
                continue
            # Losing the lease during a partition exits 1 by design (as
            # client-go controllers do); anything else is a crash.
            lost_lease = any("leader election lost" in line for line in replica.lines)
            if proc.pid not in self.killed and proc.poll() is not None and not lost_lease:
                self.report.crashes.append(f"pid {proc.pid} exited {proc.returncode}")
            for line in replica.lines:
                if "Traceback" in line:
                    self.report.tracebacks.append(f"pid {proc.pid}: {line}")

    # -- bad input ----------------------------------------------------------
    BAD_SPECS: tuple[tuple[str, Any], ...] = (
        ("not a CIDR", {"cidr": "10.0.0/33", "gateway": "10.0.0.1"}),
        ("gateway outside the CIDR", {"cidr": "10.1.0.0/16", "gateway": "10.2.0.1"}),
        ("IPv4 CIDR, IPv6 gateway", {"cidr": "10.1.0.0/16", "gateway": "fd00::1"}),
        ("IPv6 CIDR, IPv4 gateway", {"cidr": "fd00::/64", "gateway": "10.0.0.1"}),
        ("empty strings", {"cidr": "", "gateway": ""}),
        ("huge strings", {"cidr": "1" * 10_000, "gateway": "2" * 10_000}),
        ("wrong types", {"cidr": 42, "gateway": ["10.0.0.1"]}),
        ("missing gateway", {"cidr": "10.1.0.0/16"}),
        ("gateway not an IP", {"cidr": "10.1.0.0/16", "gateway": "gateway.local"}),
    )

    def bad_input(self) -> None:
        nets = self.client.resource(API, "networks", namespace=NAMESPACES[1], namespaced=True)
        for i, (label, spec) in enumerate(self.BAD_SPECS):
            body = {
                "apiVersion": API,
                "kind": "Network",
                "metadata": {"name": f"bad-{i}"},
                "spec": spec,
            }
            try:
                nets.create(body)
            except KubeloopError as err:
                message = str(err).splitlines()[0][:160]
                self.report.bad_input.append((label, f"refused: {message}"))
                continue
            self.report.bad_input_failures.append(f"{label}: accepted by the API server")
        # Unknown fields are pruned by the structural schema; the object is valid.
        body = {
            "apiVersion": API,
            "kind": "Network",
            "metadata": {"name": "unknown-fields"},
            "spec": {"cidr": "10.3.0.0/16", "gateway": "10.3.0.1", "vlan": 7},
            "extra": True,
        }
        created = nets.create(body)
        pruned = "vlan" not in created["spec"] and "extra" not in created
        self.report.bad_input.append(
            ("unknown fields", "accepted, unknown fields pruned" if pruned else "kept")
        )
        self._wait(lambda: not any(self._diff().values()), 30, "the unknown-fields Network to sync")

    # -- run ------------------------------------------------------------------
    def run(self) -> Report:
        try:
            self.setup()
            done = threading.Event()
            fault_thread = threading.Thread(target=self.faults, args=(done,))
            fault_thread.start()
            try:
                self.workload()
            finally:
                done.set()
                fault_thread.join()
            self.converge()
            if self.report.convergence_seconds >= 0:
                self.bad_input()
            self.check_processes()
        finally:
            for r in [*self.replicas, *self._retired]:
                r.kill()
            if self.proxy is not None:
                self.proxy.stop()
            if self._client is not None:
                self._client.close()
            self.cp.stop()
        return self.report


def render(report: Report) -> str:
    s = report.settings
    lines = [
        "# Reliability: the chaos suite",
        "",
        "Regenerated by `make chaos` (or `make chaos-quick`, which `make test` runs). "
        "Source: `src/network_controller/chaos.py`.",
        "",
        f"- seed: {s.seed} (rerun with `python -m network_controller.chaos --seed {s.seed}`)",
        f"- operations: {sum(report.ops.values())} in {report.workload_seconds:.1f}s "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report.ops.items()))})",
        f"- faults injected: {sum(report.faults.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report.faults.items()))}); "
        f"backend failure rate {s.fail_rate:.0%}",
        f"- convergence after the faults stopped: {report.convergence_seconds:.1f}s "
        f"(deadline {s.convergence_deadline:.0f}s)",
        "",
        "| invariant | count |",
        "|---|---|",
        f"| orphaned actual networks | {len(report.orphans)} |",
        f"| missing actual networks | {len(report.missing)} |",
        f"| stale actual networks (CIDR or gateway differ) | {len(report.stale)} |",
        f"| Networks not Ready at their generation | {len(report.not_ready)} |",
        f"| Networks stuck deleting | {len(report.stuck_deleting)} |",
        f"| crashes (processes we did not kill) | {len(report.crashes)} |",
        f"| tracebacks in controller logs | {len(report.tracebacks)} |",
        "",
        "## Bad input",
        "",
        "| input | outcome |",
        "|---|---|",
        *[f"| {label} | {outcome.replace('|', '/')} |" for label, outcome in report.bad_input],
        "",
        f"Result: **{'all invariants hold' if report.ok else 'INVARIANTS VIOLATED'}**.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m network_controller.chaos")
    ap.add_argument("--quick", action="store_true", help="the bounded run that make test includes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--operations", type=int)
    ap.add_argument("--output", default="docs/reliability.md")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    preset = QUICK if args.quick else FULL
    settings = Settings(seed=seed, **preset)
    if args.operations:
        settings.operations = args.operations
    print(
        f"chaos: seed {seed}, {settings.operations} operations, {settings.kills} controller kills, "
        f"{settings.apiserver_restarts} API server restarts",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kubeloop-chaos-") as tmp:
        report = Chaos(settings, Path(tmp)).run()
    text = render(report)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(text)
    for name in (
        "orphans",
        "missing",
        "stale",
        "not_ready",
        "stuck_deleting",
        "crashes",
        "tracebacks",
        "bad_input_failures",
    ):
        values = getattr(report, name)
        if values:
            print(f"{name}: {values[:10]}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
