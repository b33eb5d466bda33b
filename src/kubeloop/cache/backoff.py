"""How long a reflector waits before trying the API server again.

client-go's reflector backs off 0.8 s, doubling, with full jitter (a wait in
``[d, 2d)``), capped at 30 s, and starts over after 2 minutes without a
backoff. The goal is to cut traffic to an unhealthy API server by ~98 %
(the cap gives 0.22 QPS) while recovering fast from a single blip::

    backoff = ExponentialBackoffManager()
    stop.wait(backoff.backoff())

Internal errors (500) are not backed off but retried at once for a while
(:class:`RetryWindow`): etcd losing its leader is over in seconds.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import is_internal_error

__all__ = ["RETRY_WINDOW_RESET", "BackoffManager", "ExponentialBackoffManager", "RetryWindow"]


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


#: A spell this long without an internal error starts a new retry window
#: (client-go's reflector passes one minute).
RETRY_WINDOW_RESET = 60.0


@dataclass(frozen=True, slots=True)
class RetryWindow:
    """When the internal errors (500) of the current spell began and last came.

    A reflector re-watches after a 500 for up to ``max_duration`` from the
    first one of a spell (a relist would only add load), and a quiet spell
    of :data:`RETRY_WINDOW_RESET` starts a new window. A value, not a timer:
    the caller passes the time, so the rule is decided without a clock (the
    reflector's step function keeps one of these in its state)::

        window = RetryWindow().after(err, now)
        retry, window = window.should_retry(now, max_duration=30.0)
    """

    first: float | None = None
    last: float | None = None

    def after(self, err: BaseException | None, now: float) -> RetryWindow:
        """The window once ``err`` (any outcome of a watch) happened at ``now``."""
        if err is None or not is_internal_error(err):
            return self
        first = self.first
        if self.last is None or now - self.last >= RETRY_WINDOW_RESET:
            first = None
        return RetryWindow(now if first is None else first, now)

    def should_retry(self, now: float, max_duration: float) -> tuple[bool, RetryWindow]:
        """Whether to retry at ``now``, and the window after deciding (a
        window that ran out is forgotten)."""
        if max_duration <= 0:
            return False, self
        if self.first is not None and now - self.first <= max_duration:
            return True, self
        return False, RetryWindow()
