"""Reconciles read back from controller logs, and the check that no key was
handled by two processes at once.

A sharded controller promises that a key is never reconciled by two
replicas at the same time (docs/sharding.md, "Guarantee"). The runtime logs
``"Reconcile started"`` at debug (``-v 4``) when it begins a key and one
line when it is done with it (``"Reconcile successful"``, an error, a
requeue), all carrying the reconcile's ``reconcileID``; every klog line is
stamped with the wall clock to the microsecond, one clock for every process
on the machine. So each reconcile is an interval, from its first line to
its last, and two intervals of one key from different processes must not
overlap. The interval holds the sharded gate's (the shard entered, the
reconciler run, the shard left), so it errs towards finding overlaps. A key
the gate turned away (``"Key not in a shard held here: skipped"``: the
reconciler did not run) is not a reconcile. One cut short by SIGKILL ends
when the process died.

The gate logs the shard it let the reconcile through (``"Shard entered"
shard=3``), and the guarantee is per shard: no two replicas work one key in
one shard at once. Sharded by uid, a Network deleted and created again under
its name has another uid, so usually another shard, and the old holder may
reconcile the deletion while the new one reconciles the creation
(docs/sharding.md, "Guarantees"): :func:`overlaps` returns those apart::

    same, across = overlaps([*runs_a, *runs_b])
    assert same == []
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: ``I1201 18:12:00.123456   12345 runner.py:312] "Reconcile started" controller="networks"
#: namespace="chaos-a" name="net-1" reconcileID="0123456789abcdef"``
_LINE = re.compile(r"^[IWEF]\d{4} (\d\d):(\d\d):(\d\d)\.(\d{6}) +\d+ \S+\] (.*)$")
#: The sharded gate's line for a key whose shard is not held here.
SKIPPED = '"Key not in a shard held here'
_PAIR = re.compile(r'\b(controller|namespace|name|reconcileID)="([^"]*)"')
_SHARD = re.compile(r"\bshard=(\d+)")


@dataclass(frozen=True)
class Reconcile:
    """One reconcile of ``key`` by ``controller`` in process ``pid``, from
    ``start`` to ``end`` (seconds since local midnight)."""

    pid: int
    controller: str
    key: str
    start: float
    end: float
    #: Its ``reconcileID``, to find its lines in the log.
    rid: str = ""
    #: The shard whose gate it went through (None: not sharded).
    shard: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.controller} {self.key} shard {self.shard} by pid {self.pid} "
            f"{self.start:.6f}-{self.end:.6f} (reconcileID {self.rid})"
        )


def clock_of(wall: float) -> float:
    """``wall`` (``time.time()``) as klog stamps it: seconds since local
    midnight, so a kill's time compares with log lines."""
    t = time.localtime(wall)
    return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + (wall % 1)


def parse_reconciles(lines: Iterable[str], pid: int, died: float | None = None) -> list[Reconcile]:
    """The reconciles in one process's log ``lines`` (not the keys the
    shard gate skipped). One whose last line
    is ``"Reconcile started"`` was still running: it ends at ``died``
    (:func:`clock_of` the kill) or, for a live process, never (``inf``)."""
    spans: dict[str, list[float]] = {}
    names: dict[str, tuple[str, str]] = {}
    open_ids: set[str] = set()
    skipped: set[str] = set()
    shards: dict[str, int] = {}
    for line in lines:
        match = _LINE.match(line)
        if match is None or "reconcileID=" not in line:
            continue
        hh, mm, ss, us, message = match.groups()
        pairs = dict(_PAIR.findall(message))
        rid = pairs.get("reconcileID")
        if not rid:
            continue
        at = int(hh) * 3600 + int(mm) * 60 + int(ss) + int(us) / 1e6
        span = spans.setdefault(rid, [at, at])
        span[1] = max(span[1], at)
        if rid not in names:
            key = f"{pairs.get('namespace', '')}/{pairs.get('name', '')}"
            names[rid] = (pairs.get("controller", ""), key)
        if message.startswith(SKIPPED):
            skipped.add(rid)
        elif message.startswith('"Shard entered"'):
            shard = _SHARD.search(message)
            if shard is not None:
                shards[rid] = int(shard.group(1))
        if message.startswith('"Reconcile started"'):
            open_ids.add(rid)
        else:
            open_ids.discard(rid)
    unfinished = float("inf") if died is None else died
    return [
        Reconcile(
            pid, *names[rid], start, unfinished if rid in open_ids else end, rid, shards.get(rid)
        )
        for rid, (start, end) in spans.items()
        if rid not in skipped
    ]


Pair = tuple[Reconcile, Reconcile]


def overlaps(reconciles: Sequence[Reconcile]) -> tuple[list[Pair], list[Pair]]:
    """Pairs of reconciles of one key, in different processes, whose times
    overlap (within one process the workqueue serialises a key): those
    through one shard (or not sharded), which break the guarantee, and those
    through two shards (a key whose object was re-created with a new uid)."""
    by_key: dict[tuple[str, str], list[Reconcile]] = {}
    for r in reconciles:
        by_key.setdefault((r.controller, r.key), []).append(r)
    same: list[Pair] = []
    across: list[Pair] = []
    for runs in by_key.values():
        runs.sort(key=lambda r: r.start)
        for i, a in enumerate(runs):
            for b in runs[i + 1 :]:
                if b.start >= a.end:  # and so do all later ones
                    break
                if a.pid != b.pid:
                    (same if a.shard == b.shard else across).append((a, b))
    return same, across
