"""The chaos suite: a seeded random workload under injected faults, then the
invariants that say nothing was lost.

``make chaos`` (full) and ``make chaos-quick`` (part of ``make test``) run
it; both regenerate docs/reliability.md. ``make chaos-scale`` runs it at
10,000 Networks (``--scale``; ``--objects``, ``--duration`` and ``--rate``
change the size of any run): the objects are created by concurrent writers
before the controllers start, and its report is the "Scale" section of
docs/reliability.md, which the other runs keep. ``make chaos-sharded``
(``--sharded S``) runs three replicas with ``--shard-count S`` on a server
with the ShardedListAndWatch gate on, all working at once; a kill hits the
replica the seed chose (there is no leader), so shards move among the
faults; its report is the "Sharded" section. Faults, on loopback only:

- a fault proxy between the controllers and the API server: connections cut,
  reads stalled, latency added;
- the API server restarted on the same data directory (same port);
- etcd compacted, so resumed watches hit 410 Gone (the API server also
  compacts every two seconds on its own);
- controller replicas SIGKILLed and restarted with their state dir kept;
  two replicas with leader election, so kills are failovers;
- the mock backend failing a fraction of its calls;
- with ``--backend linux``, the bridges changed out of band (a link or its
  address deleted, the link set down, the address replaced: see
  :mod:`tools.e2e.chaos_linux`), instead of the mock's failures.

Replay: everything the harness chooses is a pure function of the seed and
the settings, computed before the run. :func:`plan_operations` is the
workload's operation sequence and :func:`plan_faults` the fault schedule,
each from its own generator (``random.Random(f"{seed}:workload")``,
``random.Random(f"{seed}:faults")``), so neither perturbs the other and no
outcome (a refused write, a slow restart) changes what comes next. Faults
are scheduled by operation index, not wall-clock time: the workload stops
before operation *i* until every fault step due at *i* has been taken (see
:class:`OpClock`), so a rerun with the printed seed issues the same writes
with the same faults between the same pairs of them. (What the controllers
do in between is up to the scheduler, as it is in production.)

Every planned fault must be delivered: the report counts, per kind, the
faults that actually took effect and, separately, any that raised (with the
error), and the run is not ok unless delivered equals planned.

Invariants at quiescence, within a printed convergence deadline: the
backend's networks equal the Networks on the server (no orphan, none
missing, none stale: CIDR and gateway match); every Network has
status.observedGeneration == metadata.generation and Ready=True; none is
stuck being deleted; no process died that we did not kill; no traceback in
any log. Sharded runs add, from the replicas' logs and the backend's
operations log (:mod:`tools.e2e.reconciles`): no key reconciled by two
replicas at once through one shard, and no key created twice in the backend
without a delete between (so every Network is there exactly once). Then a
bad-input sweep: malformed Networks are refused by the API
server with a clear message, or handled with a status condition.

    python -m tools.e2e.chaos --quick --seed 7
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import ipaddress
import itertools
import json
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from kubeloop.client import Client, load_config
from kubeloop.errors import KubeloopError, is_already_exists, is_not_found
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.faultproxy import FaultProxy, proxied_kubeconfig
from network_controller.backend import normalise_cidr
from tools.e2e.chaos_linux import LinuxChaos
from tools.e2e.doc_sections import carry_over, write_section
from tools.e2e.process import CRD, ControllerProcess, proc_status
from tools.e2e.reconciles import clock_of, overlaps, parse_reconciles
from tools.e2e.writers import concurrently

NAMESPACES = ("chaos-a", "chaos-b", "chaos-c")
#: The API server flag that lets LIST and WATCH take a shardSelector.
SHARD_GATE = "--feature-gates=ShardedListAndWatch=true"
API = "samplecrd.k8s.io/v1"
ANNOTATION = "samplecrd.k8s.io/network-cidr"
#: Other tests' findings, appended to the report verbatim (they are not
#: measured by this run, but docs/reliability.md is regenerated whole):
#: security (issue 24), overload and expiring credentials (issue 21).
APPENDED_NOTES = tuple(
    Path(__file__).with_name(name)
    for name in ("security.md", "overload.md", "expiring_credentials.md")
)

FaultKind = Literal["cut", "latency", "stall", "compact", "kill", "restart", "tamper"]
#: Every kind of the mock backend's runs, in the order reports list them.
FAULT_KINDS: tuple[FaultKind, ...] = ("cut", "latency", "stall", "compact", "kill", "restart")
#: The linux backend's runs add out-of-band changes to the bridges.
LINUX_FAULT_KINDS: tuple[FaultKind, ...] = (*FAULT_KINDS, "tamper")
#: Kinds that last a while: begun at one operation index, lifted at a later one.
LASTING: frozenset[FaultKind] = frozenset({"latency", "stall"})
#: Kinds whose count is free (at least one each); kills and restarts are exact.
_FREE_KINDS: tuple[FaultKind, ...] = ("cut", "latency", "stall", "compact")

FAULT_MEANING: dict[FaultKind, str] = {
    "cut": "every proxied controller connection reset (TCP RST)",
    "latency": "each proxied chunk delayed",
    "stall": "proxy stops forwarding, connections stay open",
    "compact": "etcd compacted to its current revision",
    "kill": "the leading controller replica (sharded: any replica, chosen by the seed) "
    "SIGKILLed, a replacement started",
    "restart": "the API server (and etcd) stopped and started on the same data",
    "tamper": "a bridge changed by hand: link or address deleted, link down, address replaced",
}


@dataclass
class Settings:
    seed: int
    operations: int
    kills: int
    apiserver_restarts: int
    #: Faults in the run, kills and restarts included; the rest are cut,
    #: latency, stall and compact, at least one of each.
    faults: int = 14
    #: The workload is spread over this many seconds, so faults land mid-run.
    duration: float = 30.0
    fail_rate: float = 0.1
    convergence_deadline: float = 90.0
    #: How many operations a latency or stall fault lasts (about a second at
    #: the presets' pace).
    fault_ops: int = 12
    #: The delay a latency fault adds to every chunk, each way.
    latency: float = 0.2
    names_per_namespace: int = 12
    #: Which preset these settings came from: only for the rerun command.
    preset: str = "full"
    #: The controller's --backend: "mock", or "linux" (root; tamper faults).
    backend: str = "mock"
    #: Networks created before the controllers start (the scale run's
    #: population), ``seed_writers`` at a time; the workload's names are
    #: then theirs.
    objects: int = 0
    seed_writers: int = 16
    #: The controllers' --kube-api-qps (burst twice that).
    qps: float = 100.0
    #: ``--sharded S``: S shards (0: leader election, the default). The
    #: replicas run with ``--shard-count S`` on a server with the
    #: ShardedListAndWatch gate on, all of them working at once.
    shards: int = 0

    @property
    def replicas(self) -> int:
        """Two leader-elected replicas; three sharded ones, so a kill moves
        shards to two survivors and a restart takes some back."""
        return 3 if self.shards else 2

    def __post_init__(self) -> None:
        if self.objects:
            self.names_per_namespace = -(-self.objects // len(NAMESPACES))


def fault_kinds(settings: Settings) -> tuple[FaultKind, ...]:
    return LINUX_FAULT_KINDS if settings.backend == "linux" else FAULT_KINDS


def free_kinds(settings: Settings) -> tuple[FaultKind, ...]:
    """The kinds of which a run has at least one and any number more; the
    mock's runs plan exactly as they did before tamper faults existed."""
    return (*_FREE_KINDS, "tamper") if settings.backend == "linux" else _FREE_KINDS


QUICK: dict[str, Any] = {
    "preset": "quick",
    "operations": 400,
    "kills": 2,
    "apiserver_restarts": 1,
    "faults": 14,
    "duration": 30.0,
}
FULL: dict[str, Any] = {
    "preset": "full",
    "operations": 2500,
    "kills": 6,
    "apiserver_restarts": 2,
    "faults": 80,
    "duration": 240.0,
    "convergence_deadline": 120.0,
}
#: The full run's faults among 10,000 Networks. Every kill makes a new
#: leader reconcile them all and every restart re-lists them, so the
#: deadline and the controllers' rate limit are larger.
SCALE: dict[str, Any] = {
    **FULL,
    "preset": "scale",
    "objects": 10_000,
    "operations": 3000,
    "duration": 360.0,
    "convergence_deadline": 900.0,
    "qps": 400.0,
}
PRESETS = {"quick": QUICK, "full": FULL, "scale": SCALE}


def rerun_command(settings: Settings) -> str:
    """The command line that replays ``settings`` (seed, preset, and the
    overrides main() accepts)."""
    preset = PRESETS[settings.preset]
    cmd = "python -m tools.e2e.chaos"
    if settings.preset != "full":
        cmd += f" --{settings.preset}"
    cmd += f" --seed {settings.seed}"
    if settings.operations != preset["operations"]:
        cmd += f" --operations {settings.operations}"
    if settings.duration != preset["duration"]:
        cmd += f" --duration {settings.duration:g}"
    if settings.objects != preset.get("objects", 0):
        cmd += f" --objects {settings.objects}"
    if settings.backend != "mock":
        cmd += f" --backend {settings.backend}"
    if settings.shards:
        cmd += f" --sharded {settings.shards}"
    return cmd


# -- the plan: pure functions of the seed -------------------------------------


@dataclass(frozen=True)
class Fault:
    """One planned fault: taken just before operation ``at`` runs; a lasting
    one is lifted just before operation ``at + ops``."""

    at: int
    kind: FaultKind
    ops: int = 1

    @property
    def end(self) -> int:
        return self.at + self.ops

    def __str__(self) -> str:
        where = f"{self.at}-{self.end}" if self.kind in LASTING else str(self.at)
        return f"{where} {self.kind}"


def plan_faults(settings: Settings) -> list[Fault]:
    """The fault schedule, sorted by operation index: exactly ``kills``
    kills and ``apiserver_restarts`` restarts, and ``faults`` in all, with at
    least one cut, latency, stall and compact. Faults never overlap (each
    begins at or after the previous one ends), and all lie between the first
    and last twentieth of the workload, so the controllers have objects to
    lose when the first fault lands and time to show damage after the last.

    Pure: the same settings give the same list in any process (string seeds
    are hashed with SHA-512, not ``hash()``)."""
    s = settings
    kinds_free = free_kinds(s)
    free = s.faults - s.kills - s.apiserver_restarts
    if min(s.kills, s.apiserver_restarts) < 0 or free < len(kinds_free):
        raise ValueError(
            f"{s.faults} faults cannot hold {s.kills} kills, {s.apiserver_restarts} restarts "
            f"and one each of {', '.join(kinds_free)}"
        )
    rng = random.Random(f"{s.seed}:faults")
    kills: list[FaultKind] = ["kill"] * s.kills
    restarts: list[FaultKind] = ["restart"] * s.apiserver_restarts
    kinds: list[FaultKind] = [
        *kills,
        *restarts,
        *kinds_free,
        *(rng.choice(kinds_free) for _ in range(free - len(kinds_free))),
    ]
    rng.shuffle(kinds)
    spans = [s.fault_ops if kind in LASTING else 1 for kind in kinds]
    lead = s.operations // 20
    room = s.operations - 2 * lead - sum(spans)
    if room < 0:
        raise ValueError(
            f"{s.operations} operations are too few for {s.faults} faults "
            f"({sum(spans)} operations of faults, plus {2 * lead} lead-in and lead-out)"
        )
    # Stars and bars: a uniformly random way to share ``room`` idle
    # operations among the gaps before, between and after the faults.
    bars = sorted(rng.sample(range(room + len(kinds)), len(kinds)))
    plan: list[Fault] = []
    occupied = 0
    for k, (kind, span) in enumerate(zip(kinds, spans, strict=True)):
        plan.append(Fault(at=lead + bars[k] - k + occupied, kind=kind, ops=span))
        occupied += span
    return plan


@dataclass(frozen=True)
class Op:
    """One workload operation, every random choice already made, so that
    executing it draws nothing and its outcome cannot shift later ones."""

    kind: Literal["create", "update", "delete", "deployment-apply", "deployment-delete"]
    namespace: str
    name: str
    cidr: str = ""
    gateway: str = ""
    #: For a delete: create it again under the same name with this spec.
    recreate: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


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


def choose_op(rng: random.Random, names_per_namespace: int) -> Op:
    """The next operation: creates 37%, updates 35%, deletes 20% (half of them
    recreated), Deployment writes in the first namespace the rest."""
    ns = rng.choice(NAMESPACES)
    name = f"net-{rng.randrange(names_per_namespace)}"
    roll = rng.random()
    if roll < 0.08 and ns == NAMESPACES[0]:
        app = f"app-{rng.randrange(4)}"
        if rng.random() < 0.7:
            cidr, _ = _random_network(rng)
            return Op("deployment-apply", ns, app, cidr=normalise_cidr(cidr)[0])
        return Op("deployment-delete", ns, app)
    if roll < 0.45:
        return Op("create", ns, name, *_random_network(rng))
    if roll < 0.8:
        return Op("update", ns, name, *_random_network(rng))
    recreate = _random_network(rng) if rng.random() < 0.5 else None
    return Op("delete", ns, name, recreate=recreate)


def plan_operations(settings: Settings) -> list[Op]:
    """The workload, from its own generator: fault settings do not change it."""
    rng = random.Random(f"{settings.seed}:workload")
    return [choose_op(rng, settings.names_per_namespace) for _ in range(settings.operations)]


def plan_objects(settings: Settings) -> list[Op]:
    """The creates that make the run's population (none unless
    ``settings.objects``): ``net-0``, ``net-1``, ... in each namespace in
    turn, specs from their own generator."""
    rng = random.Random(f"{settings.seed}:objects")
    n = len(NAMESPACES)
    return [
        Op("create", NAMESPACES[i % n], f"net-{i // n}", *_random_network(rng))
        for i in range(settings.objects)
    ]


def plan_digest(operations: Sequence[Op], plan: Sequence[Fault]) -> str:
    """A short fingerprint of what a run will do, printed in the report so
    two runs of one seed can be compared at a glance."""
    text = "\n".join([*map(repr, operations), *map(repr, plan)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- running the schedule -----------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A moment in the schedule: fault ``number`` of the plan is begun (or,
    for a lasting fault, lifted) just before operation ``index``."""

    index: int
    number: int
    fault: Fault
    phase: Literal["begin", "end"]


def fault_steps(plan: Sequence[Fault]) -> list[Step]:
    """Begin and end steps in the order the fault thread takes them. Faults
    must not overlap (each begins at or after the previous one's end), so
    the indices never decrease and a stall is never lifted by another."""
    for a, b in itertools.pairwise(plan):
        if b.at < a.end:
            raise ValueError(f"faults overlap: {a} and {b}")
    steps: list[Step] = []
    for n, fault in enumerate(plan):
        steps.append(Step(fault.at, n, fault, "begin"))
        if fault.kind in LASTING:
            steps.append(Step(fault.end, n, fault, "end"))
    return steps


class OpClock:
    """The meeting point of the workload thread and the fault thread.

    ``completed`` is how many operations the workload has finished and
    ``taken`` how many fault steps the fault thread has taken. The workload
    waits, before operation *i*, until every step due at or before *i* is
    taken; the fault thread waits, before a step due at *i*, until *i*
    operations are complete. So each step happens exactly between
    operations *i - 1* and *i*, however slow either thread is. ``close``
    releases both sides for good (one of them ended early)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.completed = 0
        self.taken = 0
        self.closed = False

    def await_steps(self, count: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.taken >= count or self.closed, timeout):
                raise TimeoutError(
                    f"fault step {self.taken + 1} not taken in {timeout:.0f}s "
                    f"(workload at operation {self.completed})"
                )

    def complete(self, index: int) -> None:
        with self._cond:
            self.completed = index + 1
            self._cond.notify_all()

    def await_operation(self, index: int) -> bool:
        """Wait until ``index`` operations are complete; False if the
        workload ended before that."""
        with self._cond:
            self._cond.wait_for(lambda: self.completed >= index or self.closed)
            return self.completed >= index

    def take(self) -> None:
        with self._cond:
            self.taken += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


#: What a fault step may leave to finish after the workload was released
#: (a restart: the workload runs on against the stopped server).
Then = Callable[[], None] | None


def drive_workload(
    clock: OpClock,
    steps: Sequence[Step],
    operations: int,
    run_op: Callable[[int], None],
    *,
    step_timeout: float = 600.0,
) -> None:
    """Run operations ``0 .. operations - 1`` with ``run_op``, each after the
    fault steps due before it; then wait for the steps due at the end."""
    due = [step.index for step in steps]
    try:
        for i in range(operations):
            clock.await_steps(bisect.bisect_right(due, i), step_timeout)
            run_op(i)
            clock.complete(i)
        clock.await_steps(len(steps), step_timeout)
    finally:
        clock.close()


def drive_faults(clock: OpClock, steps: Sequence[Step], take_step: Callable[[Step], Then]) -> None:
    """Take each step once the workload reaches its index. The step counts
    as taken when ``take_step`` returns (or raises: the caller records
    failures, a step must never hold the workload for good); what it
    returns runs after that, before the next step."""
    try:
        for step in steps:
            if not clock.await_operation(step.index):
                return
            then: Then = None
            try:
                then = take_step(step)
            finally:
                clock.take()
            if then is not None:
                then()
    finally:
        clock.close()


# -- the report -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A fault that took effect: begun before operation ``fired_at`` (the
    plan says ``fault.at``), lasting ``seconds``; ``detail`` says what it hit."""

    fault: Fault
    fired_at: int
    seconds: float
    detail: str = ""


class FaultNotDelivered(Exception):
    """The fault call returned but nothing was faulted (e.g. no connection
    was open to cut)."""


@dataclass
class Report:
    settings: Settings
    plan: list[Fault] = field(default_factory=list)
    #: :func:`plan_digest` of the operations and the plan.
    digest: str = ""
    ops: Counter[str] = field(default_factory=Counter)
    delivered: list[Delivery] = field(default_factory=list)
    #: Faults that raised instead of taking effect, with the error.
    fault_errors: list[tuple[Fault, str]] = field(default_factory=list)
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
    #: With ``objects``: how long the concurrent writers took to create
    #: them, and the controllers to make all of them Ready (-1: never).
    seed_seconds: float = 0.0
    initial_sync_seconds: float = -1.0
    #: The largest VmHWM (peak RSS) of any controller replica, in MB.
    peak_rss_mb: float = 0.0
    #: Sharded runs: pairs of reconciles of one key by two replicas at
    #: overlapping times (from the replicas' logs), keys the backend created
    #: twice without a delete between (its operations log), and how many
    #: reconciles the first check read.
    overlapping: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    reconciles: int = 0
    #: Overlaps of a re-created Network's key through two shards (its old
    #: and new uid): documented, not a violation, counted.
    recreated_overlaps: int = 0
    #: Replicas that exited after losing their Lease (by design) and were
    #: started again, as a kubelet would.
    lease_restarts: int = 0

    @property
    def planned_counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.plan)

    @property
    def delivered_counts(self) -> Counter[str]:
        return Counter(d.fault.kind for d in self.delivered)

    @property
    def off_schedule(self) -> list[Delivery]:
        """Deliveries that fired at another operation than planned."""
        return [d for d in self.delivered if d.fired_at != d.fault.at]

    @property
    def ok(self) -> bool:
        return (
            self.convergence_seconds >= 0
            and (self.initial_sync_seconds >= 0 or not self.settings.objects)
            and self.delivered_counts == self.planned_counts
            and not (
                self.fault_errors
                or self.off_schedule
                or self.orphans
                or self.missing
                or self.stale
                or self.not_ready
                or self.stuck_deleting
                or self.crashes
                or self.tracebacks
                or self.bad_input_failures
                or self.overlapping
                or self.duplicated
            )
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):  # etcd's JSON gateway says why in the body
        try:
            body = err.read().decode(errors="replace").strip()
        except OSError:
            body = ""
        return f"{err}: {body[:200]}"
    return f"{type(err).__name__}: {err}"[:300]


class Chaos:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.s = settings
        self.dir = workdir
        self.objects = plan_objects(settings)
        self.operations = plan_operations(settings)
        plan = plan_faults(settings)
        digest = plan_digest([*self.objects, *self.operations], plan)
        self.report = Report(settings, plan=plan, digest=digest)
        self.port = _free_port()
        self.cp = ControlPlane(
            self.dir / "cluster",
            port=self.port,
            etcd_compaction_interval="2s",
            extra_apiserver_args=[SHARD_GATE] if settings.shards else None,
        )
        self.proxy: FaultProxy | None = None
        self.replicas: list[ControllerProcess] = []
        self.killed: set[int] = set()
        #: pid -> time.time() just after its SIGKILL returned.
        self._died: dict[int, float] = {}
        #: Sharded runs: which replica each kill hits, from its own generator.
        self._victims = random.Random(f"{settings.seed}:victims")
        self._retired: list[ControllerProcess] = []
        self._client: Client | None = None
        self._clock = OpClock()
        #: Lasting faults begun and not yet lifted: plan number -> (fired_at, started).
        self._active: dict[int, tuple[int, float]] = {}
        #: --backend linux: the controllers' network namespace, made in setup.
        self.netns = f"klchaos-{uuid.uuid4().hex[:8]}"
        self.linux: LinuxChaos | None = None

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
                f"{self.s.qps:g}",
                "--kube-api-burst",
                f"{2 * self.s.qps:g}",
                *self._backend_args(),
                *self._coordination_args(),
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

    def _coordination_args(self) -> list[str]:
        """Leader election, or S shards each held through a Lease (and the
        debug lines that bracket every reconcile, for :meth:`check_overlaps`)."""
        if self.s.shards:
            return ["--shard-count", str(self.s.shards), "-v", "4"]
        return ["--leader-elect"]

    def _backend_args(self) -> list[str]:
        if self.s.backend == "linux":
            return ["--backend", "linux", "--netns", self.netns]
        return ["--backend-fail-rate", str(self.s.fail_rate)]

    def setup(self) -> None:
        if self.s.backend == "linux":
            self.linux = LinuxChaos(self.netns, self.s.seed)
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
        if self.objects:
            self._seed_objects()
        self.proxy = FaultProxy("127.0.0.1", self.port)
        self.proxy.start()
        for _ in range(self.s.replicas):
            replica = self._replica()
            replica.start()
            self.replicas.append(replica)
        if self.objects:  # the workload starts on a population in place
            self.report.initial_sync_seconds, last = self._await_clean()
            if self.report.initial_sync_seconds < 0:
                self._record_violations(last)

    def _seed_objects(self) -> None:
        """Create the population with concurrent writers (10,000 one after
        another would take minutes of round trips)."""
        nets = self.client.resource(API, "networks", namespaced=True)
        started = time.monotonic()

        def create(op: Op) -> None:
            nets.create(_network(op.name, op.cidr, op.gateway), namespace=op.namespace)

        concurrently(create, self.objects, self.s.seed_writers)
        self.report.seed_seconds = time.monotonic() - started
        print(
            f"chaos: {len(self.objects)} Networks created in {self.report.seed_seconds:.1f}s "
            f"by {self.s.seed_writers} writers",
            flush=True,
        )

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
    def _execute(self, op: Op, nets: Any, deps: Any) -> None:
        """Issue ``op``; count what happened. Outcomes are only counted:
        nothing drawn or decided here depends on them."""
        try:
            if op.kind == "deployment-apply":
                self._apply_deployment(op, deps)
            elif op.kind == "deployment-delete":
                deps.delete(op.name, namespace=op.namespace)
                self.report.ops["deployment-delete"] += 1
            elif op.kind == "create":
                nets.create(_network(op.name, op.cidr, op.gateway), namespace=op.namespace)
                self.report.ops["create"] += 1
            elif op.kind == "update":
                nets.patch(
                    op.name,
                    {"spec": {"cidr": op.cidr, "gateway": op.gateway}},
                    namespace=op.namespace,
                )
                self.report.ops["update"] += 1
            else:
                nets.delete(op.name, namespace=op.namespace)
                self.report.ops["delete"] += 1
        except KubeloopError as err:
            self._count_error(err)
        if op.kind == "delete" and op.recreate is not None:
            try:
                nets.create(_network(op.name, *op.recreate), namespace=op.namespace)
                self.report.ops["recreate"] += 1
            except KubeloopError as err:
                self._count_error(err)

    def _count_error(self, err: KubeloopError) -> None:
        if is_not_found(err) or is_already_exists(err):
            self.report.ops["no-op"] += 1
        else:
            self.report.ops["refused"] += 1  # e.g. during an apiserver restart

    def _apply_deployment(self, op: Op, deps: Any) -> None:
        annotations = {ANNOTATION: op.cidr}
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": op.name, "annotations": annotations},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": op.name}},
                "template": {
                    "metadata": {"labels": {"app": op.name}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        }
        try:
            deps.create(body, namespace=op.namespace)
            self.report.ops["deployment-create"] += 1
        except KubeloopError as err:
            if not is_already_exists(err):
                raise
            deps.patch(op.name, {"metadata": {"annotations": annotations}}, namespace=op.namespace)
            self.report.ops["deployment-update"] += 1

    def workload(self) -> None:
        nets = self.client.resource(API, "networks", namespaced=True)
        deps = self.client.resource("apps/v1", "deployments", namespaced=True)
        started = time.monotonic()
        pace = self.s.duration / self.s.operations

        def run_op(i: int) -> None:
            self._execute(self.operations[i], nets, deps)
            # Pacing, not synchronisation: spread the operations over the
            # run so lasting faults last about fault_ops * pace seconds.
            ahead = started + (i + 1) * pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

        drive_workload(self._clock, fault_steps(self.report.plan), self.s.operations, run_op)
        self.report.workload_seconds = time.monotonic() - started

    # -- faults -------------------------------------------------------------
    def faults(self) -> None:
        drive_faults(self._clock, fault_steps(self.report.plan), self._take_step)

    def _take_step(self, step: Step) -> Then:
        """Begin or lift one fault; record a failure instead of raising, so
        the schedule goes on and the report says which fault did not happen."""
        try:
            self._restart_lease_losers()
            if step.phase == "begin":
                return self._begin(step)
            if step.number in self._active:  # nothing to lift if it never began
                self._lift(step)
        except Exception as err:
            self._active.pop(step.number, None)
            self.report.fault_errors.append((step.fault, _describe(err)))
        return None

    def _delivered(self, fault: Fault, fired_at: int, started: float, detail: str = "") -> None:
        self.report.delivered.append(Delivery(fault, fired_at, time.monotonic() - started, detail))

    def _begin(self, step: Step) -> Then:
        assert self.proxy is not None
        fault, fired_at, started = step.fault, self._clock.completed, time.monotonic()
        if fault.kind in LASTING:
            if fault.kind == "latency":
                self.proxy.set_latency(self.s.latency)
            else:
                self.proxy.stall(True)
            self._active[step.number] = (fired_at, started)
        elif fault.kind == "cut":
            self._delivered(fault, fired_at, started, f"{self._cut()} connections")
        elif fault.kind == "compact":
            self._delivered(fault, fired_at, started, f"revision {self.cp.compact_etcd()}")
        elif fault.kind == "kill":
            self._delivered(fault, fired_at, started, f"pid {self._kill_one()}")
        elif fault.kind == "tamper":
            assert self.linux is not None
            self._delivered(fault, fired_at, started, self.linux.tamper())
        elif fault.kind == "restart":
            self.cp.stop()
            if self.cp.running:
                raise FaultNotDelivered("the API server was still running after stop()")

            def start_again() -> None:
                # After the step is taken: the workload runs on meanwhile,
                # its writes retrying against the stopped server.
                try:
                    self.cp.start()
                except Exception as err:
                    self.report.fault_errors.append((fault, _describe(err)))
                    return
                self._delivered(fault, fired_at, started, f"up in {self.cp.startup_seconds:.1f}s")

            return start_again
        return None

    def _lift(self, step: Step) -> None:
        assert self.proxy is not None
        fired_at, started = self._active.pop(step.number)
        if step.fault.kind == "latency":
            self.proxy.set_latency(0.0)
        else:
            self.proxy.stall(False)
        self._delivered(step.fault, fired_at, started, f"lifted before operation {step.index}")

    def _cut(self) -> int:
        """Reset every proxied connection; if none was open (the controllers
        were between connections), wait for the next one and cut that."""
        assert self.proxy is not None
        accepted = self.proxy.accepted
        cut = self.proxy.cut_all()
        if cut == 0 and self.proxy.wait_for_accepted(accepted + 1, 10.0):
            cut = self.proxy.cut_all()
        if cut == 0:
            raise FaultNotDelivered("no open connection to cut within 10s")
        return cut

    def _restart_lease_losers(self) -> None:
        """A replica that lost its Lease exits 1 by design (a renewal that
        cannot get through within its deadline, say during a stall); start
        it again, as a kubelet restarts the container, so the run keeps
        its replicas and a later kill finds one to kill."""
        for i, replica in enumerate(self.replicas):
            proc = replica._proc
            if proc is None or proc.poll() is None or proc.pid in self.killed:
                continue
            if any("leader election lost" in line for line in replica.lines):
                self._retired.append(replica)
                fresh = self._replica()
                fresh.start()
                self.replicas[i] = fresh
                self.report.lease_restarts += 1

    def _kill_one(self) -> int:
        """SIGKILL the leader if one is known, else any replica (sharded:
        the replica the seed chose, there is no leader); restart it with the
        same state dir. Returns the pid killed."""
        if self.s.shards:
            leader = self.replicas[self._victims.randrange(len(self.replicas))]
        else:  # the whole log: at 10,000 Networks the line is far from the end
            running = [r for r in self.replicas if r._proc is not None and r._proc.poll() is None]
            leader = next(
                (r for r in running if any("became leader" in line for line in r.since(0))),
                running[0] if running else self.replicas[0],
            )
        proc = leader._proc
        if proc is None or proc.poll() is not None:
            raise FaultNotDelivered("the replica to kill was not running")
        self._note_peak_rss(leader)
        self.killed.add(proc.pid)
        leader.kill()
        self._died[proc.pid] = time.time()
        if proc.returncode is None:
            raise FaultNotDelivered(f"pid {proc.pid} still running after SIGKILL")
        replacement = self._replica()
        replacement.start()
        self.replicas[self.replicas.index(leader)] = replacement
        self._retired.append(leader)
        return proc.pid

    # -- invariants ---------------------------------------------------------
    def _diff(self) -> dict[str, list[str]]:
        nets = self.client.resource(API, "networks", namespaced=True).list().items
        backend = self._actual()
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
            elif (got.get("cidr"), got.get("gateway")) != (cidr, gw) or got.get("drift"):
                result["stale"].append(key)
        result["orphans"] = sorted(set(backend) - set(want))
        return result

    def _actual(self) -> dict[str, Any]:
        """The backend's networks by key: the mock's state file, or the bridges."""
        if self.linux is not None:
            return self.linux.actual()
        backend_file = self.dir / "state" / "networks.json"
        try:
            backend: dict[str, Any] = json.loads(backend_file.read_text() or "{}")
        except FileNotFoundError:
            backend = {}
        return backend

    def _note_peak_rss(self, replica: ControllerProcess) -> None:
        proc = replica._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            peak = proc_status(proc.pid)["VmHWM"]
        except (OSError, KeyError):  # exited meanwhile
            return
        self.report.peak_rss_mb = max(self.report.peak_rss_mb, int(peak.split()[0]) / 1024)

    def _await_clean(self) -> tuple[float, dict[str, list[str]]]:
        """Seconds until :meth:`_diff` finds nothing (-1 if not within the
        convergence deadline), and the last diff."""
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
                return time.monotonic() - started, last
            time.sleep(0.5)
        return -1.0, last

    def converge(self) -> None:
        assert self.proxy is not None
        self.proxy.set_latency(0.0)
        self.proxy.stall(False)
        self.proxy.refuse(False)
        self.report.convergence_seconds, last = self._await_clean()
        if self.report.convergence_seconds < 0:
            self._record_violations(last)

    def _record_violations(self, last: dict[str, list[str]]) -> None:
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
            lines = replica.lines
            if proc.pid not in self.killed and proc.poll() is not None and not lost_lease:
                # The end of its log says why; a crash report without it
                # cannot be diagnosed once the run's directory is gone.
                tail = "\n    ".join(lines[-25:])
                self.report.crashes.append(f"pid {proc.pid} exited {proc.returncode}:\n    {tail}")
            for i, line in enumerate(lines):
                if "Traceback" in line:
                    context = "\n    ".join(lines[i : i + 30])
                    self.report.tracebacks.append(f"pid {proc.pid}:\n    {context}")

    def check_overlaps(self) -> None:
        """Sharded runs: no key reconciled by two replicas at once (every
        replica's log, the killed ones' included), and no key created twice
        in the backend without a delete between (two replicas each thinking
        it was missing)."""
        runs = []
        for replica in [*self.replicas, *self._retired]:
            proc = replica._proc
            if proc is None:
                continue
            died = self._died.get(proc.pid)
            runs += parse_reconciles(replica.since(0), proc.pid, clock_of(died) if died else None)
        self.report.reconciles = len(runs)
        logs = {r._proc.pid: r.since(0) for r in [*self.replicas, *self._retired] if r._proc}
        same, across = overlaps(runs)
        # Across shards only as a deletion and a creation under one name:
        # the workload must have deleted the key's object: a Network, or a
        # Deployment (and with it the Network of its name that it owns).
        deleted = {("networks", op.key) for op in self.operations if op.kind == "delete"} | {
            (controller, op.key)
            for op in self.operations
            if op.kind == "deployment-delete"
            for controller in ("deployments", "networks")
        }
        unexplained = [(a, b) for a, b in across if (a.controller, a.key) not in deleted]
        self.report.recreated_overlaps = len(across) - len(unexplained)
        self.report.overlapping = [
            "\n    ".join(
                [f"{a} and {b}:"]
                + [line for r in (a, b) for line in logs[r.pid] if f'reconcileID="{r.rid}"' in line]
            )
            for a, b in [*same, *unexplained]
        ]
        self.report.duplicated = duplicate_creates(self.dir / "state" / "operations.log")

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
            if self.objects and self.report.initial_sync_seconds < 0:
                self.check_processes()  # no workload on a population never in place
                return self.report
            fault_thread = threading.Thread(target=self.faults, name="chaos-faults")
            fault_thread.start()
            try:
                self.workload()
            finally:
                self._clock.close()
                fault_thread.join()
            self.converge()
            if self.report.convergence_seconds >= 0:
                self.bad_input()
            self.check_processes()
            if self.s.shards:
                self.check_overlaps()
        finally:
            for r in self.replicas:
                self._note_peak_rss(r)
            for r in [*self.replicas, *self._retired]:
                r.kill()
            if self.proxy is not None:
                self.proxy.stop()
            if self._client is not None:
                self._client.close()
            self.cp.stop()
            if self.linux is not None:
                self.linux.close()
        return self.report


def duplicate_creates(operations_log: Path) -> list[str]:
    """Keys the mock backend created while they existed (a create after a
    create, no delete between), from its operations log: in the backend
    every Network is then there once, made by one replica. A torn last line
    (a writer SIGKILLed mid-append) is not an operation."""
    present: set[str] = set()
    found: list[str] = []
    try:
        text = operations_log.read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            op = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = op.get("key", "")
        if op.get("op") == "create":
            if key in present:
                found.append(f"{key} created again by pid {op.get('pid')} at {op.get('t')}")
            present.add(key)
        elif op.get("op") == "update":
            present.add(key)
        elif op.get("op") == "delete":
            present.discard(key)
    return found


def _network(name: str, cidr: str, gateway: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Network",
        "metadata": {"name": name},
        "spec": {"cidr": cidr, "gateway": gateway},
    }


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def render(report: Report) -> str:
    """The report as Markdown: the whole of docs/reliability.md (the
    appended notes included), or, for a run with a population
    (``objects``), its "Scale" section, whose subsections are ``###``."""
    s = report.settings
    scale = s.objects > 0
    sharded = s.shards > 0
    h = "###" if scale or sharded else "##"
    planned, delivered = report.planned_counts, report.delivered_counts
    errors = Counter(f.kind for f, _ in report.fault_errors)
    by_fault = {(d.fault.at, d.fault.kind): d for d in report.delivered}
    schedule = []
    for f in report.plan:
        d = by_fault.get((f.at, f.kind))
        mark = "" if d is None else f" ({d.detail})" if d.detail else ""
        schedule.append(f"{f}{mark}" if d is not None else f"{f} (NOT DELIVERED)")
    if scale:
        head = [
            f"## Scale: the chaos suite at {s.objects:,} Networks",
            "",
            "Regenerated by `make chaos-scale` (the suite with `--scale`; the other runs keep "
            "this section). Source: `tools/e2e/chaos.py`.",
            "",
            f"- population: {s.objects:,} Networks created before the controllers start, by "
            f"{s.seed_writers} concurrent writers in {report.seed_seconds:.1f}s; all Ready "
            + (
                f"{report.initial_sync_seconds:.1f}s after the two replicas started "
                if report.initial_sync_seconds >= 0
                else f"NOT within {s.convergence_deadline:.0f}s of the replicas' start "
            )
            + f"(`--kube-api-qps {s.qps:g}`, 4 workers)",
            f"- controller peak RSS (VmHWM, the largest of the replicas, read before each kill "
            f"and at the end): {report.peak_rss_mb:.0f} MB",
        ]
    elif sharded:
        head = [
            f"## Sharded: the chaos suite over {s.shards} shards",
            "",
            "Regenerated by `make chaos-sharded` (the suite with `--sharded S`; the other runs "
            "keep this section). Source: `tools/e2e/chaos.py`.",
            "",
            f"- {s.replicas} replicas with `--shard-count {s.shards}` (no leader: each works the "
            "shards it holds through their Leases), API server with "
            f"`{SHARD_GATE}`, one mock backend shared through its file lock; a kill hits "
            "the replica the seed chose and starts a replacement, so shards move among the faults",
            f"- {report.reconciles:,} reconciles read back from the replicas' logs (killed ones "
            "included) for the overlap check, per key and shard; "
            f"{report.recreated_overlaps} overlaps of the name of an object the workload deleted "
            "and re-created, through two shards (old and new uid: the case docs/sharding.md "
            "documents)",
        ]
    else:
        head = [
            "# Reliability: the chaos suite",
            "",
            "Regenerated by `make chaos` (or `make chaos-quick`, which `make test` runs). "
            "Source: `tools/e2e/chaos.py`. The Scale, Sharded and Soak sections at the end are "
            "regenerated by `make chaos-scale`, `make chaos-sharded` and `make soak`; every run "
            "keeps the others'.",
            "",
        ]
    lines = [
        *head,
        f"- seed: {s.seed} ({s.preset} preset; rerun with `{rerun_command(s)}`); "
        f"operations and fault schedule digest {report.digest}",
        f"- operations: {sum(report.ops.values())} in {report.workload_seconds:.1f}s "
        f"({_counts(report.ops)})",
        f"- faults: {len(report.plan)} planned, {len(report.delivered)} delivered, "
        f"{len(report.fault_errors)} failed, {len(report.off_schedule)} off schedule; "
        f"backend {s.backend}, failure rate {s.fail_rate:.0%}",
        f"- convergence after the faults stopped: {report.convergence_seconds:.1f}s "
        f"(deadline {s.convergence_deadline:.0f}s)",
        f"- replicas that lost their Lease, exited 1 and were started again (as a kubelet "
        f"would): {report.lease_restarts}",
        "",
        "| fault | planned | delivered | failed | what it does |",
        "|---|---|---|---|---|",
        *[
            f"| {k} | {planned[k]} | {delivered[k]} | {errors[k]} | {FAULT_MEANING[k]} |"
            for k in fault_kinds(s)
        ],
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
        *(
            [
                f"| keys reconciled by two replicas at overlapping times (one shard) "
                f"| {len(report.overlapping)} |",
                f"| keys created twice in the backend (no delete between) "
                f"| {len(report.duplicated)} |",
            ]
            if sharded
            else []
        ),
        "",
        *(
            [
                *(f"{h} Overlaps and duplicates", "", "```"),
                *report.overlapping[:20],
                *report.duplicated[:20],
                *("```", ""),
            ]
            if report.overlapping or report.duplicated
            else []
        ),
        *(
            [
                *(f"{h} Crashes and tracebacks", "", "```"),
                *report.crashes,
                *report.tracebacks,
                *("```", ""),
            ]
            if report.crashes or report.tracebacks
            else []
        ),
        f"{h} Fault schedule",
        "",
        "By operation index (a lasting fault as begin-end), fixed by the seed before the run:",
        "",
        "; ".join(schedule) + ".",
        "",
        *(
            ["Faults that failed:", "", *[f"- {f}: {err}" for f, err in report.fault_errors], ""]
            if report.fault_errors
            else []
        ),
        f"{h} Bad input",
        "",
        "| input | outcome |",
        "|---|---|",
        *[f"| {label} | {outcome.replace('|', '/')} |" for label, outcome in report.bad_input],
        "",
        f"Result: **{'all invariants hold' if report.ok else 'INVARIANTS VIOLATED'}**.",
        "",
        *(
            []
            if scale or sharded
            else [part for note in APPENDED_NOTES for part in (note.read_text().rstrip(), "")]
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.e2e.chaos")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the bounded run make test includes")
    size.add_argument(
        "--scale", action="store_true", help="10,000 Networks (make chaos-scale); its own section"
    )
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--operations", type=int)
    ap.add_argument("--objects", type=int, help="Networks created before the controllers start")
    ap.add_argument("--duration", type=float, help="seconds the workload is spread over")
    ap.add_argument("--rate", type=float, help="workload operations per second (sets --operations)")
    ap.add_argument(
        "--sharded",
        type=int,
        default=0,
        metavar="S",
        help="three replicas with --shard-count S (make chaos-sharded); its own section",
    )
    ap.add_argument("--output", default="docs/reliability.md")
    ap.add_argument(
        "--backend",
        choices=["mock", "linux"],
        default="mock",
        help="linux: bridges in a netns of the run's own (root), tampered with out of band",
    )
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    preset = dict(SCALE if args.scale else QUICK if args.quick else FULL)
    for name in ("objects", "duration", "operations"):
        if getattr(args, name) is not None:
            preset[name] = getattr(args, name)
    if args.rate is not None:
        if args.operations is not None:
            ap.error("--rate sets --operations: give one of them")
        preset["operations"] = round(args.rate * preset["duration"])
    if min(preset["operations"], preset["duration"], preset.get("objects", 0) + 1) <= 0:
        ap.error("--operations, --duration and --rate must be positive, --objects not negative")
    if args.sharded < 0:
        ap.error("--sharded takes a positive shard count")
    if args.sharded and (preset.get("objects") or args.backend == "linux"):
        ap.error("--sharded runs without a population (--scale, --objects) and on the mock backend")
    settings = Settings(seed=seed, **preset, backend=args.backend, shards=args.sharded)
    if args.backend == "linux":
        settings.fail_rate = 0.0  # no injected failures: its faults are the tampers
    try:  # before anything starts: an impossible plan fails fast
        plan = plan_faults(settings)
    except ValueError as err:
        ap.error(str(err))
    print(
        f"chaos: seed {seed}, {settings.operations} operations, faults "
        f"{_counts(Counter(f.kind for f in plan))}, digest "
        f"{plan_digest([*plan_objects(settings), *plan_operations(settings)], plan)}; "
        f"rerun: {rerun_command(settings)}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kubeloop-chaos-") as tmp:
        report = Chaos(settings, Path(tmp)).run()
    text = render(report)
    output = Path(args.output)
    if settings.objects or settings.shards:  # a section of the document; the rest stays
        write_section(output, text)
    else:  # the whole document, keeping the scale and soak runs' sections
        old = output.read_text() if output.exists() else ""
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(carry_over(old, text))
    print(text)
    for name in (
        "fault_errors",
        "off_schedule",
        "orphans",
        "missing",
        "stale",
        "not_ready",
        "stuck_deleting",
        "crashes",
        "tracebacks",
        "bad_input_failures",
        "overlapping",
        "duplicated",
    ):
        values = getattr(report, name)
        if values:
            print(f"{name}: {values[:10]}", file=sys.stderr)
    if report.delivered_counts != report.planned_counts:
        print(
            f"faults: planned {_counts(report.planned_counts)}, "
            f"delivered {_counts(report.delivered_counts)}",
            file=sys.stderr,
        )
    print(f"chaos: seed {seed}; rerun: {rerun_command(settings)}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
