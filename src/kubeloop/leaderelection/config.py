"""The settings of one leader election, checked as client-go's ``NewLeaderElector`` checks them.

::

    config = LeaderElectionConfig(
        lock=LeaseLock(client, "kube-system", "network-controller", identity),
        callbacks=LeaderCallbacks(on_started_leading=run_controller,
                                  on_stopped_leading=lambda: log.info("no longer leading")),
    )   # lease 15 s, renew deadline 10 s, retry period 2 s

Why the inequalities: a leader that cannot renew gives up after
``renew_deadline``, and must have given up before any other candidate may
consider the lease expired (``lease_duration`` after it last saw a change),
hence ``lease_duration > renew_deadline``. Renewal is retried every
``retry_period`` within the deadline, and a candidate retries every
``retry_period`` jittered by up to :data:`JITTER_FACTOR`, hence
``renew_deadline > JITTER_FACTOR * retry_period``: at least one retry fits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubeloop.leaderelection.metrics import NOOP_LEADER_METRICS, LeaderMetrics
from kubeloop.leaderelection.resource_lock import ResourceLock

__all__ = ["JITTER_FACTOR", "LeaderCallbacks", "LeaderElectionConfig"]

JITTER_FACTOR = 1.2
"""client-go's JitterFactor: acquire retries wait retry_period * (1 + rand * 1.2)."""


@dataclass(frozen=True)
class LeaderCallbacks:
    """What to do on transitions (client-go's ``LeaderCallbacks``).

    - ``on_started_leading(stop_leading)`` runs in its own thread once the
      lease is acquired; ``stop_leading`` is set when leadership ends, and the
      callback must then return promptly. The elector waits for it (up to
      ``renew_deadline``) before releasing the lease, so the next leader
      starts after this one's work has stopped; renewal has already stopped,
      so work that takes longer than ``lease_duration - retry_period`` to
      wind down may overlap with the next leader's.
    - ``on_stopped_leading()`` runs every time :meth:`LeaderElector.run`
      returns, even if it never led (as in client-go: a process that was
      stopped while waiting also gets it). Check your own stop event to tell a
      requested stop from a lost lease.
    - ``on_new_leader(identity)``, optional, runs in a short-lived thread each
      time the observed holder changes, including to this candidate.

    Each may be a coroutine function (``async def``): it is then awaited on
    ``LeaderElectionConfig.loop`` (from the elector's thread, which waits for
    it), or on a loop of its own when there is none, and
    ``on_started_leading`` gets an ``asyncio.Event`` set when leadership
    ends::

        async def lead(stop_leading: asyncio.Event) -> None:
            await run_my_controllers(until=stop_leading)

        LeaderCallbacks(on_started_leading=lead, on_stopped_leading=log_it)
    """

    on_started_leading: (
        Callable[[threading.Event], None] | Callable[[asyncio.Event], Awaitable[None]]
    )
    on_stopped_leading: Callable[[], None] | Callable[[], Awaitable[None]]
    on_new_leader: Callable[[str], None] | Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Durations in seconds; see the module docstring for why they must be ordered.

    ``release_on_cancel``: on a requested stop, write an empty holder with
    ``leaseDurationSeconds=1`` so another candidate takes over at its next
    retry instead of after ``lease_duration``. Only safe if the work started
    in ``on_started_leading`` has stopped by then, which the elector waits for.

    ``name`` labels metrics and logs; it defaults to the lock's description.
    ``loop``: where coroutine callbacks run (a running loop of the program's,
    e.g. ``asyncio.get_running_loop()`` before handing :meth:`LeaderElector.run`
    to a thread); None: each runs on a loop of its own.
    """

    lock: ResourceLock
    callbacks: LeaderCallbacks
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True
    name: str = ""
    metrics: LeaderMetrics = field(default=NOOP_LEADER_METRICS)
    loop: asyncio.AbstractEventLoop | None = None

    def __post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(
                f"lease_duration ({self.lease_duration}s) must be greater than "
                f"renew_deadline ({self.renew_deadline}s)"
            )
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"renew_deadline ({self.renew_deadline}s) must be greater than "
                f"retry_period * {JITTER_FACTOR} ({JITTER_FACTOR * self.retry_period:g}s)"
            )
        if self.lease_duration < 1:
            # The Lease stores whole seconds, and the API server rejects 0.
            raise ValueError(f"lease_duration ({self.lease_duration}s) must be at least 1s")
        if self.renew_deadline <= 0:
            raise ValueError(f"renew_deadline ({self.renew_deadline}s) must be greater than zero")
        if self.retry_period <= 0:
            raise ValueError(f"retry_period ({self.retry_period}s) must be greater than zero")
        if not callable(self.callbacks.on_started_leading):
            raise ValueError("callbacks.on_started_leading must be callable")
        if not callable(self.callbacks.on_stopped_leading):
            raise ValueError("callbacks.on_stopped_leading must be callable")
        if self.lock is None:
            raise ValueError("lock must not be None")
        if not self.lock.identity:
            raise ValueError("lock identity is empty")
        if not self.name:
            object.__setattr__(self, "name", self.lock.describe())
