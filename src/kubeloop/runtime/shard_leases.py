"""Which shards this replica holds: member Leases, the assignment, and
one leader election per shard Lease (see :mod:`kubeloop.runtime.sharded_controller`
for the design and its reasons).

::

    leases = ShardLeases(client, options, identity, group="mgr-networks",
                         work=work_shard, on_round=report)
    leases.run(stop)            # until stop: compete, hold, hand over
    leases.release_all(30.0)    # every shard's work ended and its Lease handed back

``work(index, done, released, held_until)`` runs while the shard's Lease
is held, in the elector's thread; it must return soon after ``done`` is set
(the Lease was lost, or a release was asked: then ``released`` is set too,
and the Lease is handed back only once ``work`` has returned). Whatever ends
``work`` ends the holding: a Lease renewed with nobody working its shard
would starve the shard's keys. ``held_until()`` is the elector's
:meth:`~kubeloop.leaderelection.LeaderElector.held_until` (monotonic time):
no step of the shard's work may start after it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubeloop.cache import ShardBy, ShardKey, on_stop
from kubeloop.client import Client
from kubeloop.leaderelection import LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock
from kubeloop.runtime.membership import GROUP_LABEL, Membership
from kubeloop.runtime.shard_assignment import desired_shards

__all__ = ["ShardLeases", "ShardWork", "ShardingOptions", "coordination_client"]

_log = logging.getLogger("kubeloop.runtime")

#: ``work(index, done, released, held_until)``: see the module docs.
ShardWork = Callable[[int, threading.Event, threading.Event, Callable[[], float]], None]


@dataclass(frozen=True)
class ShardingOptions:
    """``shards`` virtual shards hashed by ``shard_by``; Leases in
    ``lease_namespace`` with leader election's durations (defaults as
    client-go's). ``identity`` defaults to ``<hostname>_<random>``;
    ``server_side`` ``None`` probes the server."""

    shards: int
    shard_by: ShardBy = "uid"
    lease_namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    server_side: bool | None = None

    def __post_init__(self) -> None:
        ShardKey(self.shard_by, self.shards)  # the same checks, the same messages
        if not self.lease_duration > self.renew_deadline > 0 < self.retry_period:
            raise ValueError(
                "need lease_duration > renew_deadline > 0 and retry_period > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )


def coordination_client(client: Client, options: ShardingOptions) -> Client:
    """``client`` with a rate limiter of its own for the member and shard
    Leases: a renewal must never wait behind the reconciles' writes (a
    replica replaying a shard's keys can put its bucket seconds in debt,
    and a renewal that waits past its deadline loses the shard).
    kube-controller-manager gives leader election a client of its own for
    the same reason. Its budget is what one round can ask (a heartbeat, a
    LIST, a read and a write per shard) every retry period, so it only
    stops a loop gone wrong."""
    per_round = 3 + 2 * options.shards
    return client.with_rate_limiter(per_round / options.retry_period, per_round)


class _Holding:
    """One shard's elector and what its Lease holding is doing."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.elector_stop = threading.Event()
        self.release = threading.Event()  # asked to hand the shard over
        self.done = threading.Event()  # released or lost: the holding ends
        self.worked = threading.Event()  # the work (if it started) has ended
        # Guards leading against release: a release asked before the work
        # starts must stop the elector itself.
        self.lock = threading.Lock()
        self.leading = False
        self.thread: threading.Thread | None = None
        self.elector: LeaderElector | None = None


class ShardLeases:
    """The shard Leases of one replica of one sharded controller."""

    def __init__(
        self,
        client: Client,
        options: ShardingOptions,
        identity: str,
        *,
        group: str,
        work: ShardWork,
        on_round: Callable[[int], None] | None = None,
    ) -> None:
        self.options = options
        self.identity = identity
        self.group = group
        self._client = client
        self._work = work
        self._on_round = on_round
        # Guards _held (the coordinator and the electors' threads).
        self._lock = threading.Lock()
        self._held: dict[int, _Holding] = {}

    def run(self, stop: threading.Event) -> None:
        """Every retry period until ``stop``: renew our member Lease, count
        the live replicas, compete for the shards assigned to us, release
        the others. Gives our member Lease up on the way out."""
        options = self.options
        members = Membership(
            self._client,
            options.lease_namespace,
            self.group,
            self.identity,
            lease_duration=options.lease_duration,
        )
        try:
            # Watch the member Leases for one lease duration before taking
            # shards: replicas started together (a Deployment's) then see each
            # other, and none takes every shard only to hand most back.
            members.heartbeat()
            deadline = time.monotonic() + options.lease_duration
            while time.monotonic() < deadline:
                if stop.wait(options.retry_period):
                    return
                members.heartbeat()
                members.live()
            while not stop.is_set():
                members.heartbeat()
                live = members.live()
                self._adjust(desired_shards(options.shards, live, self.identity), members)
                if self._on_round is not None:
                    self._on_round(len(live))
                stop.wait(options.retry_period)
        finally:
            members.leave()

    def _adjust(self, want: frozenset[int], members: Membership) -> None:
        with self._lock:
            for index, held in list(self._held.items()):
                ended = held.thread is not None and not held.thread.is_alive()
                # Its elector ended (lease lost or released) and its work is
                # over: only now may a new elector compete for the shard.
                if ended and (held.worked.is_set() or not held.leading):
                    del self._held[index]
            running = set(self._held)
        for index in sorted(want - running):
            self._compete(index, members)
        for index in sorted(running - want):
            self.ask_release(index)

    def _compete(self, index: int, members: Membership) -> None:
        options = self.options
        held = _Holding(index)
        lease = f"{self.group}-shard-{index}"
        lock = LeaseLock(
            self._client,
            options.lease_namespace,
            lease,
            self.identity,
            labels={GROUP_LABEL: self.group},
        )
        elector = LeaderElector(
            LeaderElectionConfig(
                lock=lock,
                callbacks=LeaderCallbacks(
                    on_started_leading=lambda stop_leading: self._hold(held, stop_leading),
                    on_stopped_leading=lambda: None,
                ),
                lease_duration=options.lease_duration,
                renew_deadline=options.renew_deadline,
                retry_period=options.retry_period,
                release_on_cancel=True,
                name=lease,
            )
        )
        held.elector = elector
        seen = members.observation(lease)
        if seen is not None:  # expiry counted from when we first saw it unchanged
            elector.observe(*seen)
        held.thread = threading.Thread(
            target=elector.run,
            args=(held.elector_stop,),
            name=f"kubeloop-shard-{self.group}-{index}",
            daemon=True,
        )
        with self._lock:
            self._held[index] = held
        held.thread.start()

    def ask_release(self, index: int) -> None:
        """Hand shard ``index`` over: its work is told to end, and the
        Lease goes once it has."""
        with self._lock:
            held = self._held.get(index)
        if held is None:
            return
        with held.lock:
            held.release.set()
            held.done.set()
            if not held.leading:
                held.elector_stop.set()  # still competing: nothing to hand over

    def _hold(self, held: _Holding, stop_leading: threading.Event) -> None:
        """``on_started_leading`` of one shard: the work, bracketed."""
        with held.lock:
            held.leading = True
            if held.release.is_set():
                held.elector_stop.set()
                held.worked.set()
                return
        unregister = on_stop(stop_leading, held.done.set)
        try:
            assert held.elector is not None
            self._work(held.index, held.done, held.release, held.elector.held_until)
        except Exception:
            _log.exception("%s: working shard %d failed: giving it up", self.group, held.index)
        finally:
            unregister()
            held.elector_stop.set()  # the work has ended: so does the holding
            held.worked.set()

    def release_all(self, timeout: float | None) -> bool:
        """Hand every shard over; True once every elector has ended."""
        with self._lock:
            held = list(self._held.values())
        for h in held:
            self.ask_release(h.index)
        alive = False
        for h in held:
            if h.thread is not None:
                h.thread.join(timeout)
                alive = alive or h.thread.is_alive()
        return not alive
