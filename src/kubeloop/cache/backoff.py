"""How long a reflector waits before trying the API server again.

client-go's reflector backs off 0.8 s, doubling, with full jitter (a wait in
``[d, 2d)``), capped at 30 s, and starts over after 2 minutes without a
backoff. The goal is to cut traffic to an unhealthy API server by ~98 %
(the cap gives 0.22 QPS) while recovering fast from a single blip::

    backoff = ExponentialBackoffManager()
    stop.wait(backoff.backoff())
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Protocol

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import is_internal_error

__all__ = ["BackoffManager", "ExponentialBackoffManager", "RetryWithDeadline"]


class BackoffManager(Protocol):
    def backoff(self) -> float:
        """The number of seconds to wait now (advancing the backoff)."""
        ...


class ExponentialBackoffManager:
    """Exponential backoff with jitter and a reset after a quiet period."""

    def __init__(
        self,
        initial: float = 0.8,
        maximum: float = 30.0,
        reset_after: float = 120.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        clock: Clock = REAL_CLOCK,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._reset_after = reset_after
        self._factor = factor
        self._jitter = jitter
        self._clock = clock
        self._rand = rand
        # Guards _next and _last_backoff_start.
        self._lock = threading.Lock()
        self._next = initial
        self._last_backoff_start: float | None = None

    def backoff(self) -> float:
        with self._lock:
            now = self._clock.now()
            if (
                self._last_backoff_start is None
                or now - self._last_backoff_start > self._reset_after
            ):
                self._next = self._initial
            self._last_backoff_start = now
            duration = min(self._next, self._maximum)
            self._next = min(self._next * self._factor, self._maximum)
        if self._jitter > 0:
            duration += self._rand() * self._jitter * duration
        return duration


class RetryWithDeadline:
    """Retry internal errors for up to ``max_duration`` from the first one;
    a quiet spell of ``min_reset_period`` starts a new window."""

    def __init__(self, max_duration: float, clock: Clock, min_reset_period: float = 60.0) -> None:
        self._max = max_duration
        self._clock = clock
        self._min_reset_period = min_reset_period
        self._first_error: float | None = None
        self._last_error: float | None = None

    def after(self, err: BaseException | None) -> None:
        if err is None or not is_internal_error(err):
            return
        now = self._clock.now()
        if self._last_error is None or now - self._last_error >= self._min_reset_period:
            self._first_error = None
        if self._first_error is None:
            self._first_error = now
        self._last_error = now

    def should_retry(self) -> bool:
        if self._max <= 0:
            return False
        if self._first_error is not None and self._clock.now() - self._first_error <= self._max:
            return True
        self._first_error = self._last_error = None
        return False
