"""Leader election between candidates on one real Lease: one leader, a quick
handover on release, takeover after the lease duration when the leader dies
without releasing, and never two leaders at once.

Durations are short (lease 3 s, renew deadline 2 s, retry 0.5 s) and the
timing bounds generous: the machine running these may be busy.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kubeloop.client import Client
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


class Candidate:
    """One elector in a thread, recording when its work ran."""

    def __init__(
        self, client: Client, namespace: str, identity: str, changed: threading.Condition, **kw: Any
    ) -> None:
        self.identity = identity
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
            )
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

    def halt(self) -> float:
        """Stop, wait for run() to return, and give the time the stop was asked."""
        stopped_at = time.monotonic()
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), f"{self.identity}: run() did not return"
        return stopped_at


class Election:
    """Candidates on one Lease, plus a sampler that looks for two leaders."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.changed = threading.Condition()
        self.candidates: list[Candidate] = []
        self.double_leaders: list[tuple[str, ...]] = []
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="kubeloop-test-sampler")

    def add(self, identity: str, **kw: Any) -> Candidate:
        c = Candidate(self.client, self.namespace, identity, self.changed, **kw)
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
        wait_until(lambda: follower.elector.get_leader() == leader.identity, 30, "follower sees")
        return leader, follower

    def takeover(self, leader: Candidate, successor: Candidate) -> float:
        """Halt ``leader``; seconds until ``successor`` starts leading."""
        stopped_at = leader.halt()
        self.wait_for_leader([successor])
        return successor.started_at - stopped_at

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
def election(client: Client, namespace: str) -> Iterator[Election]:
    e = Election(client, namespace)
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


def test_a_graceful_stop_releases_the_lease_and_the_other_takes_over_quickly(
    client: Client, namespace: str
) -> None:
    with election(client, namespace) as e:
        leader, other = e.leader_and_follower()
        takeover = e.takeover(leader, other)
        print(f"\ntakeover after a graceful stop (release): {takeover:.2f}s")
        assert takeover < MAX_RETRY + 1.5, "the released lease was not taken at the next retry"
        assert e.lease()["holderIdentity"] == other.identity
        assert e.lease()["leaseTransitions"] == 1


def test_a_leader_that_dies_without_releasing_is_replaced_after_the_lease_duration(
    client: Client, namespace: str
) -> None:
    with election(client, namespace) as e:
        leader, other = e.leader_and_follower(release_on_cancel=False)
        takeover = e.takeover(leader, other)  # the leader stops renewing, as if killed
        print(f"\ntakeover after the leader died: {takeover:.2f}s (lease {LEASE}s)")
        # The last renewal was at most a retry period before the leader died;
        # the follower saw it up to one (jittered) retry later, must wait out
        # the lease from then, and takes it at its next try.
        assert takeover > LEASE - RETRY - 0.5, "taken before the lease expired"
        assert takeover < LEASE + 2 * MAX_RETRY + 1.5
        assert e.lease()["holderIdentity"] == other.identity
        assert e.lease()["leaseTransitions"] == 1


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
