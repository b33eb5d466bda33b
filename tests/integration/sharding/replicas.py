"""Replica processes of ``replica_app`` and what they print, for the
sharding tests: start, SIGKILL, stop; wait on their output (conditions on
the lines as they arrive, no polling); check the reconcile log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.integration.support import REPO

#: Test lease timings: short, in client-go's proportions.
LEASE_DURATION = 4.0
LEASE = [
    f"--leader-elect-{flag}={value}"
    for flag, value in (
        ("lease-duration", "4s"),
        ("renew-deadline", "3s"),
        ("retry-period", "0.5s"),
    )
]


@dataclass
class Reconcile:
    replica: str
    key: str
    start: float
    end: float
    had_object: bool


@dataclass
class Group:
    """Every replica started in one test; their output, as it arrives."""

    kubeconfig: str
    lease_namespace: str
    shards: int
    extra: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    reconciles: list[Reconcile] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, identity: str) -> None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.sharding.replica_app",
                "--kubeconfig",
                self.kubeconfig,
                "--identity",
                identity,
                "--shard-count",
                str(self.shards),
                "--leader-elect-namespace",
                self.lease_namespace,
                *LEASE,
                *self.extra,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs[identity] = proc
        self.errors[identity] = []
        for target, stream in ((self._read_out, proc.stdout), (self._read_err, proc.stderr)):
            t = threading.Thread(
                target=target,
                args=(identity, stream),
                daemon=True,
                name=f"kubeloop-test-replica-{identity}",
            )
            t.start()
            self.threads.append(t)

    def _read_out(self, identity: str, stream: Any) -> None:
        for line in stream:
            record = json.loads(line)
            with self.cond:
                if "stats" in record:
                    self.stats[identity] = record["stats"]
                else:
                    self.reconciles.append(
                        Reconcile(record["r"], record["k"], record["s"], record["e"], record["obj"])
                    )
                self.cond.notify_all()

    def _read_err(self, identity: str, stream: Any) -> None:
        for line in stream:
            with self.cond:
                self.errors[identity].append(line.rstrip("\n"))

    def kill(self, identity: str) -> float:
        """SIGKILL, as a crash; returns the monotonic time of the kill."""
        proc = self.procs.pop(identity)
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(30)
        with self.cond:
            self.stats.pop(identity, None)
        return killed

    def stop(self, identity: str) -> int:
        proc = self.procs.pop(identity)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        with self.cond:
            self.stats.pop(identity, None)
        return code

    def wait(self, what: Callable[[Group], bool], timeout: float, describe: str) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: what(self), timeout):
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {describe}; stats {self.stats}"
                )

    def close(self) -> None:
        for identity in list(self.procs):
            self.kill(identity)
        for t in self.threads:
            t.join(30)

    # -- conditions and checks --------------------------------------------------
    def held(self) -> dict[str, list[int]]:
        return {r: s["held"] for r, s in self.stats.items() if r in self.procs}

    def balanced(self, replicas: int) -> bool:
        """Every shard held once, by the running replicas, about S/R each."""
        held = self.held()
        if len(held) != replicas:
            return False
        shards = sorted(s for h in held.values() for s in h)
        sizes = [len(h) for h in held.values()]
        return shards == list(range(self.shards)) and max(sizes) - min(sizes) <= 1

    def reconciled_by(self, replica: str) -> set[str]:
        return {r.key for r in self.reconciles if r.replica == replica}

    def reconciled_since(self, since: float) -> set[str]:
        return {r.key for r in self.reconciles if r.start >= since}

    def overlaps(self) -> list[tuple[Reconcile, Reconcile]]:
        """Pairs of reconciles of one key whose times overlap."""
        by_key: dict[str, list[Reconcile]] = {}
        with self.cond:
            for r in self.reconciles:
                by_key.setdefault(r.key, []).append(r)
        found = []
        for runs in by_key.values():
            runs.sort(key=lambda r: r.start)
            latest = runs[0]
            for r in runs[1:]:
                if r.start < latest.end:
                    found.append((latest, r))
                if r.end > latest.end:
                    latest = r
        return found

    def tracebacks(self) -> list[str]:
        with self.cond:
            return [
                line
                for lines in self.errors.values()
                for line in lines
                if "Traceback" in line or line.startswith("E")
            ]
