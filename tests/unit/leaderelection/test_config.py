"""LeaderElectionConfig is checked as client-go's NewLeaderElector checks it
(TestLeaderElectionConfigValidation)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.leaderelection import LeaderCallbacks, LeaderElectionConfig

from .helpers import FakeLock, LockStore, Recorder


def config(identity: str = "me", **kw: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig(FakeLock(LockStore(), identity), Recorder().callbacks(), **kw)


def test_defaults_are_client_gos() -> None:
    c = config()
    assert (c.lease_duration, c.renew_deadline, c.retry_period) == (15.0, 10.0, 2.0)
    assert c.release_on_cancel
    assert c.name == "fake/lock"  # the lock's description unless named


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "lease_duration .* greater than renew"),
        ({"lease_duration": 5, "renew_deadline": 10}, "lease_duration .* greater than renew"),
        ({"renew_deadline": 2.4, "retry_period": 2}, r"renew_deadline .* retry_period \* 1.2"),
        ({"lease_duration": 0.9, "renew_deadline": 0.5, "retry_period": 0.1}, "at least 1s"),
        ({"retry_period": 0}, "retry_period .* greater than zero"),
        ({"retry_period": -1}, "retry_period .* greater than zero"),
        ({"renew_deadline": 0, "retry_period": -1}, "renew_deadline .* greater than zero"),
    ],
)
def test_durations_out_of_order_are_refused(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**kw)


@pytest.mark.parametrize(
    ("lease_duration", "renew_deadline", "retry_period"),
    [
        (3, 2, 0.5),
        # Each bound just met: the 1 s floor, and renew_deadline just above
        # retry_period * 1.2 (0.6 s).
        (1, 0.61, 0.5),
        (1.5, 1.25, 1),
    ],
)
def test_short_durations_in_order_are_accepted(
    lease_duration: float, renew_deadline: float, retry_period: float
) -> None:
    """Sub-second and barely ordered durations are legal (tests and fast
    failover use them) and are kept as given, not rounded to whole seconds."""
    c = config(
        lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period
    )
    assert (c.lease_duration, c.renew_deadline, c.retry_period) == (
        lease_duration,
        renew_deadline,
        retry_period,
    )


def test_an_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="identity is empty"):
        config(identity="")


@pytest.mark.parametrize("which", ["on_started_leading", "on_stopped_leading"])
def test_required_callbacks_must_be_callable(which: str) -> None:
    callbacks: dict[str, Any] = {
        "on_started_leading": lambda stop: None,
        "on_stopped_leading": lambda: None,
    }
    callbacks[which] = None
    with pytest.raises(ValueError, match=which):
        LeaderElectionConfig(FakeLock(LockStore(), "me"), LeaderCallbacks(**callbacks))
