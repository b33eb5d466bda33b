"""A leader whose renewals cannot get through stops leading before another
candidate can take the Lease: every request of a renewal shares the renew
deadline, throttle wait and retries included (client-go bounds them with the
renewal's context).

Both cases failed before that bound existed: a renewal waited seconds for
its client's rate limiter, or retried a stalled GET for many read timeouts,
while the other candidate saw the Lease expire and took it, so two
candidates led at once (the sharded chaos run's overlap, issue 22).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from kubeloop.client import Client
from kubeloop.clock import REAL_CLOCK
from kubeloop.testenv import FaultProxy
from tests.integration.leaderelection.test_lease_election import LEASE, Candidate, election
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration


def _lead_then_starve(
    client: Client, namespace: str, starved: Client, starve: Callable[[], None] | None = None
) -> None:
    """``a`` leads on ``starved``; then (after ``starve()``, the caller's
    fault) ``b``, on a healthy client, must take over only after ``a``
    stopped leading, and ``a`` must never lead past its ``held_until``."""
    with election(client, namespace) as e:
        a = Candidate(starved, namespace, "a", e.changed, REAL_CLOCK)
        e.candidates.append(a)
        a.thread.start()
        assert e.wait_for_leader([a]) is a
        if starve is not None:
            starve()
        b = e.add("b")
        took_over = e.wait_for_leader([b], timeout=30 * LEASE)
        assert took_over is b
        with e.changed:
            # a's leadership ended before b's began (election() checks the
            # same over every interval, and that no sample saw two leaders).
            assert a.intervals and a.intervals[-1][1] < b.started_at, (a.intervals, b.started_at)
        assert time.monotonic() >= a.elector.held_until()


def test_a_renewal_that_would_wait_for_the_rate_limiter_past_its_deadline_gives_up(
    client: Client, namespace: str
) -> None:
    # One request every 10 s: the acquire (a GET, then the create) takes the
    # burst's two tokens, and the next renewal's token is further off than
    # the renew deadline. Without the bound, the renewal would wait for it
    # while b took the Lease.
    starved = client.with_rate_limiter(0.1, 2)
    _lead_then_starve(client, namespace, starved)


def test_a_renewal_through_a_stalled_connection_gives_up_within_its_deadline(
    client: Client, namespace: str, proxied_client: Client, proxy: FaultProxy
) -> None:
    # A stall makes every read wait for its timeout; without the bound, the
    # slow path's GET was retried for several read timeouts.
    try:
        _lead_then_starve(client, namespace, proxied_client, lambda: proxy.stall(True))
    finally:
        proxy.stall(False)


def test_held_until_follows_the_renewals(client: Client, namespace: str) -> None:
    lease = f"held-{uuid.uuid4().hex[:6]}"
    with election(client, namespace) as e:
        a = e.add(lease)
        assert e.wait_for_leader([a]) is a
        first = a.elector.held_until()
        assert first > time.monotonic()

        def renewed() -> bool:
            return a.elector.held_until() > first

        wait_until(renewed, 30, "a renewal to move held_until on")
        a.halt()
        assert a.elector.held_until() == float("-inf")
