"""Rate limiters: how long to wait before retrying an item that failed.

A rate limiter answers :meth:`RateLimiter.when` ("how long should this item
wait?") and remembers failures per item until :meth:`RateLimiter.forget`.
Small, composable pieces, as in client-go::

    limiter = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),   # per item
        BucketRateLimiter(qps=10, burst=100),               # overall
    )
    limiter.when("default/net-a")   # 0.005, then 0.01, 0.02, ...

All durations are seconds, as floats. Every limiter is safe to share between
threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from kubeloop._locks import YieldingLock
from kubeloop.clock import REAL_CLOCK, Clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "WithMaxWaitRateLimiter",
    "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[T_contra]):
    """Decides retry delays and tracks failures per item."""

    def when(self, item: T_contra) -> float:
        """Seconds ``item`` should wait; counts as one more failure."""
        ...

    def forget(self, item: T_contra) -> None:
        """Stop tracking ``item`` (it succeeded, or the caller gave up on it)."""
        ...

    def num_requeues(self, item: T_contra) -> int:
        """How many failures of ``item`` are being tracked."""
        ...


class _FailureCounter(Generic[T]):
    """Per-item failure counts: what the per-item limiters share."""

    def __init__(self) -> None:
        # Guards _failures. Yielding: every reconcile's forget() takes it (see kubeloop._locks).
        self._lock = YieldingLock()
        self._failures: dict[T, int] = {}

    def _count_failure(self, item: T) -> int:
        """Record one more failure of ``item``; how many there were before it."""
        with self._lock:
            before = self._failures.get(item, 0)
            self._failures[item] = before + 1
        return before

    def num_requeues(self, item: T) -> int:
        with self._lock:
            return self._failures.get(item, 0)

    def forget(self, item: T) -> None:
        with self._lock:
            self._failures.pop(item, None)


class ItemExponentialFailureRateLimiter(_FailureCounter[T]):
    """``base * 2**failures``, capped at ``max_delay``.

    Overflow-safe: a long-failing item (2**1100 is not a float) simply gets
    ``max_delay``, where client-go's nanosecond ``Duration`` would have wrapped.
    """

    def __init__(self, base_delay: float, max_delay: float) -> None:
        super().__init__()
        self._base_delay = base_delay
        self._max_delay = max_delay

    def when(self, item: T) -> float:
        exp = self._count_failure(item)
        try:
            backoff = math.ldexp(self._base_delay, exp)
        except OverflowError:
            return self._max_delay
        return min(backoff, self._max_delay)


class ItemFastSlowRateLimiter(_FailureCounter[T]):
    """``fast_delay`` for the first ``max_fast_attempts`` failures, then ``slow_delay``."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        super().__init__()
        self._fast_delay = fast_delay
        self._slow_delay = slow_delay
        self._max_fast_attempts = max_fast_attempts

    def when(self, item: T) -> float:
        failures = self._count_failure(item) + 1
        return self._fast_delay if failures <= self._max_fast_attempts else self._slow_delay


class BucketRateLimiter(Generic[T]):
    """An overall token bucket (``golang.org/x/time/rate``): ``qps`` refill, ``burst`` size.

    Not per item: it caps the retry rate of the whole queue, so a mass failure
    cannot turn into a retry storm against the API server. Each :meth:`when`
    reserves a token, going into debt if need be, and returns how long until
    that token exists. It tracks no failures.
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock = REAL_CLOCK) -> None:
        self._qps = qps
        self._burst = burst
        self._clock = clock
        # Guards _tokens and _last.
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: T) -> float:
        delay = self.reserve()
        assert delay is not None
        return delay

    def reserve(self, max_wait: float = math.inf) -> float | None:
        """Take the next token and return how long until it exists; or, if
        that is longer than ``max_wait``, take nothing and return None
        (x/time/rate's ``ReserveN`` with a ``maxFutureReserve``: a caller
        with a deadline does not leave a debt it never waited for)."""
        if math.isinf(self._qps):
            return 0.0
        if self._burst < 1:
            return None if math.isfinite(max_wait) else math.inf  # never granted
        with self._lock:
            now = self._clock.now()
            last = self._last if self._last is not None and self._last <= now else now
            tokens = min(self._tokens + (now - last) * self._qps, float(self._burst)) - 1
            delay = 0.0 if tokens >= 0 else (-tokens / self._qps if self._qps > 0 else math.inf)
            if delay > max_wait:
                return None
            self._tokens = tokens
            self._last = now
        return delay

    def num_requeues(self, item: T) -> int:
        return 0

    def forget(self, item: T) -> None:
        pass


class MaxOfRateLimiter(Generic[T]):
    """The longest delay of several limiters; every limiter sees every :meth:`when`.

    With a token bucket inside, the burst can appear exceeded when particular
    items were delayed longer by another limiter (client-go notes the same).
    """

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        self._limiters = limiters

    def when(self, item: T) -> float:
        # Not max(gen) short-cut: each limiter must count the failure.
        delays = [limiter.when(item) for limiter in self._limiters]
        return max(delays, default=0.0)

    def num_requeues(self, item: T) -> int:
        return max((limiter.num_requeues(item) for limiter in self._limiters), default=0)

    def forget(self, item: T) -> None:
        for limiter in self._limiters:
            limiter.forget(item)


class WithMaxWaitRateLimiter(Generic[T]):
    """Caps another limiter's delays at ``max_delay``."""

    def __init__(self, limiter: RateLimiter[T], max_delay: float) -> None:
        self._limiter = limiter
        self._max_delay = max_delay

    def when(self, item: T) -> float:
        return min(self._limiter.when(item), self._max_delay)

    def num_requeues(self, item: T) -> int:
        return self._limiter.num_requeues(item)

    def forget(self, item: T) -> None:
        self._limiter.forget(item)


def default_controller_rate_limiter(*, clock: Clock = REAL_CLOCK) -> MaxOfRateLimiter[T]:
    """client-go's default: per item 5 ms doubling to 1000 s, overall 10 qps with burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10, burst=100, clock=clock),
    )
