"""Leader election between candidates on one real Lease: one leader, a quick
handover on release, takeover after the lease duration when the leader dies
without releasing, and never two leaders at once.

Durations are short (lease 3 s, renew deadline 2 s, retry 0.5 s). The tests
that claim how long a takeover takes run the candidates on one
:class:`FakeClock`: the test moves it a tick at a time, once every candidate
has reacted to the last tick, so "taken at the next retry" and "not before
the lease expired" are exact statements about the Lease's own timestamps
(written from that clock) whatever the load on the machine; the server is
still the real one, deciding every conflicting write.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.clock import REAL_CLOCK, Clock, FakeClock
from kubeloop.leaderelection import (
    JITTER_FACTOR,
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElector,
    LeaseLock,
)
from kubeloop.leaderelection.resource_lock import parse_micro_time
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
# The longest wait between two acquire attempts.
MAX_RETRY = RETRY * (1 + JITTER_FACTOR)
LEASE_NAME = "election"
# How far a test moves a fake clock at a time; a wake-up is late by at most this.
TICK = 0.05


class Candidate:
    """One elector in a thread, recording when its work ran."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        identity: str,
        changed: threading.Condition,
        clock: Clock,
        **kw: Any,
    ) -> None:
        self.identity = identity
        self.clock = clock
        # Shared by all candidates of a test; notified when any starts or stops leading.
        self.changed = changed
        self.leading = False  # guarded by changed
        self.started_at = 0.0  # guarded by changed
        self.intervals: list[tuple[float, float]] = []  # guarded by changed
        self.lock = LeaseLock(client, namespace, LEASE_NAME, identity)
        self.elector = LeaderElector(
            LeaderElectionConfig(
                self.lock,
                LeaderCallbacks(self._started, lambda: None),
                lease_duration=LEASE,
                renew_deadline=RENEW,
                retry_period=RETRY,
                name=identity,
                **kw,
            ),
            clock=clock,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.elector.run, args=(self.stop,), name=f"kubeloop-test-{identity}"
        )

    def _started(self, stop_leading: threading.Event) -> None:
        with self.changed:
            self.leading, self.started_at = True, time.monotonic()
            self.changed.notify_all()
        stop_leading.wait()
        with self.changed:
            self.leading = False
            self.intervals.append((self.started_at, time.monotonic()))
            self.changed.notify_all()

    def halt(self) -> None:
        """Stop and wait for run() to return."""
        if isinstance(self.clock, FakeClock):
            self.clock.set_and_wake(self.stop)  # a plain set() would not wake a fake sleep
        else:
            self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), f"{self.identity}: run() did not return"


class Election:
    """Candidates on one Lease, plus a sampler that looks for two leaders."""

    def __init__(self, client: Client, namespace: str, clock: Clock = REAL_CLOCK) -> None:
        self.client, self.namespace, self.clock = client, namespace, clock
        self.changed = threading.Condition()
        self.candidates: list[Candidate] = []
        self.double_leaders: list[tuple[str, ...]] = []
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="kubeloop-test-sampler")

    def add(self, identity: str, **kw: Any) -> Candidate:
        c = Candidate(self.client, self.namespace, identity, self.changed, self.clock, **kw)
        self.candidates.append(c)
        c.thread.start()
        return c

    def _sample(self) -> None:
        # Sampling, not synchronisation: look every few milliseconds until done.
        while not self._done.wait(0.002):
            leaders = tuple(c.identity for c in self.candidates if c.elector.is_leader())
            if len(leaders) > 1:
                self.double_leaders.append(leaders)

    def wait_for_leader(self, among: list[Candidate], timeout: float = 30.0) -> Candidate:
        with self.changed:
            assert self.changed.wait_for(lambda: any(c.leading for c in among), timeout)
            return next(c for c in among if c.leading)

    def leader_and_follower(self, **kw: Any) -> tuple[Candidate, Candidate]:
        """Two candidates, once one leads and the other has seen it."""
        a, b = self.add("a", **kw), self.add("b", **kw)
        leader = self.wait_for_leader([a, b])
        follower = b if leader is a else a

        def sees() -> bool:
            return follower.elector.get_leader() == leader.identity

        if isinstance(self.clock, FakeClock):
            # It may have tried before the Lease existed: it learns at its next try.
            self.tick_until(sees, 2 * MAX_RETRY, "the follower to see the leader")
        else:
            wait_until(sees, 30, "follower sees")
        return leader, follower

    # -- the fake clock ----------------------------------------------------
    def _settle(self) -> None:
        """Wait until every running candidate sleeps on the fake clock again,
        i.e. has done all it does at the current fake time."""
        assert isinstance(self.clock, FakeClock)
        running = [c for c in self.candidates if c.thread.is_alive() and not c.stop.is_set()]
        assert self.clock.wait_for_waiters(len(running), 30), (
            f"not all of {[c.identity for c in running]} went back to sleep"
        )

    def tick_until(self, cond: Callable[[], bool], within: float, what: str) -> None:
        """Move the fake clock a TICK at a time, each once the candidates have
        settled, until ``cond`` holds; fail if it does not within ``within``
        fake seconds (plus a tick, by which a wake-up may be late)."""
        assert isinstance(self.clock, FakeClock)
        start = self.clock.now()
        self._settle()
        while not cond():
            if self.clock.now() - start > within + TICK:
                raise AssertionError(f"{what}: not within {within:g}s on the fake clock")
            self.clock.step(TICK)
            self._settle()

    def lease(self) -> dict[str, Any]:
        leases = self.client.resource(
            "coordination.k8s.io/v1", "leases", namespace=self.namespace, namespaced=True
        )
        spec: dict[str, Any] = leases.get(LEASE_NAME)["spec"]
        return spec

    def check_never_two_leaders(self) -> None:
        assert not self.double_leaders, f"two leaders at once: {self.double_leaders[:5]}"
        with self.changed:
            spans = sorted(span for c in self.candidates for span in c.intervals)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end < start, f"leadership intervals overlap: {spans}"


@contextmanager
def election(client: Client, namespace: str, clock: Clock = REAL_CLOCK) -> Iterator[Election]:
    e = Election(client, namespace, clock)
    e._sampler.start()
    try:
        yield e
    finally:
        for c in e.candidates:
            if c.thread.is_alive():
                c.halt()
        e._done.set()
        e._sampler.join(10)
    e.check_never_two_leaders()


def test_exactly_one_of_two_candidates_leads_and_the_lease_names_it(
    client: Client, namespace: str
) -> None:
    with election(client, namespace) as e:
        leader, follower = e.leader_and_follower()
        assert leader.elector.is_leader()
        assert not follower.elector.is_leader()
        spec = e.lease()
        assert spec["holderIdentity"] == leader.identity
        assert spec["leaseDurationSeconds"] == int(LEASE)
        assert spec["leaseTransitions"] == 0
        first_renew = parse_micro_time(spec["renewTime"])
        assert parse_micro_time(spec["acquireTime"]) <= first_renew
        wait_until(lambda: parse_micro_time(e.lease()["renewTime"]) > first_renew, 30, "a renewal")
        assert e.lease()["acquireTime"] == spec["acquireTime"]
        with e.changed:
            assert not follower.leading


def test_a_graceful_stop_releases_the_lease_and_the_other_takes_over_at_its_next_retry(
    client: Client, namespace: str
) -> None:
    with election(client, namespace, FakeClock()) as e:
        leader, other = e.leader_and_follower()
        leader.halt()
        # The leader's last write, made as it stopped (the fake clock stands
        # still meanwhile): a release, if it released.
        stopped = parse_micro_time(e.lease()["renewTime"])
        # Unreleased, the lease would stay valid for LEASE seconds from the
        # follower's last sight of it; released, the follower's next try takes it.
        e.tick_until(other.elector.is_leader, MAX_RETRY, "the follower to take the released lease")
        spec = e.lease()
        waited = (parse_micro_time(spec["acquireTime"]) - stopped).total_seconds()
        print(f"\ntakeover after a graceful stop (release): {waited:.2f}s on the fake clock")
        assert 0 <= waited <= MAX_RETRY + TICK < LEASE
        assert spec["holderIdentity"] == other.identity
        assert spec["leaseTransitions"] == 1


def test_a_leader_that_dies_without_releasing_is_replaced_after_the_lease_duration(
    client: Client, namespace: str
) -> None:
    with election(client, namespace, FakeClock()) as e:
        leader, other = e.leader_and_follower(release_on_cancel=False)
        leader.halt()  # it stops renewing, as if killed
        last = e.lease()
        assert last["holderIdentity"] == leader.identity
        last_renewal = parse_micro_time(last["renewTime"])
        e.tick_until(
            other.elector.is_leader, LEASE + 2 * (MAX_RETRY + TICK), "the follower to take over"
        )
        spec = e.lease()
        waited = (parse_micro_time(spec["acquireTime"]) - last_renewal).total_seconds()
        print(f"\ntakeover after the leader died: {waited:.2f}s on the fake clock (lease {LEASE}s)")
        # The follower saw the last renewal no earlier than it was written and
        # waits a whole lease from then: never sooner. It saw it at its next
        # try (within a jittered retry) and takes the lease at its first try
        # after the expiry (within another), each wake-up late by a tick at most.
        assert waited >= LEASE, "taken before the lease expired"
        assert waited <= LEASE + 2 * (MAX_RETRY + TICK), "not taken at the first try after expiry"
        assert spec["holderIdentity"] == other.identity
        assert spec["leaseTransitions"] == 1


def test_a_released_lease_has_no_holder_and_a_one_second_duration(
    client: Client, namespace: str
) -> None:
    with election(client, namespace) as e:
        a = e.add("a")
        e.wait_for_leader([a])
        a.halt()
        spec = e.lease()
        assert spec.get("holderIdentity", "") == ""
        assert spec["leaseDurationSeconds"] == 1
        assert spec["leaseTransitions"] == 0
        assert not a.elector.is_leader()


def test_candidates_hand_the_lease_round_without_overlap(client: Client, namespace: str) -> None:
    with election(client, namespace) as e:
        first = [e.add(name) for name in ("a", "b", "c")]
        remaining = list(first)
        for _ in range(2):
            leader = e.wait_for_leader(remaining)
            remaining.remove(leader)
            leader.halt()
        e.wait_for_leader(remaining)
        assert e.lease()["holderIdentity"] == remaining[0].identity
        assert e.lease()["leaseTransitions"] == 2
