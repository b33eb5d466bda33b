"""A delaying queue whose retry delays come from a rate limiter.

The usual controller worker::

    q: RateLimitingQueue[str] = RateLimitingQueue(name="networks")

    item, shutdown = q.get()
    if not shutdown:
        try:
            reconcile(item)
            q.forget(item)             # success: reset its back-off
        except Exception:
            q.add_rate_limited(item)   # failure: retry after a growing delay
        finally:
            q.done(item)

:meth:`RateLimitingQueue.forget` only resets the limiter's memory of the item;
:meth:`Queue.done` must still be called.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.workqueue.default_rate_limiters import RateLimiter, default_controller_rate_limiter
from kubeloop.workqueue.delaying_queue import DelayingQueue
from kubeloop.workqueue.metrics import MetricsProvider

__all__ = ["RateLimitingQueue"]

T = TypeVar("T", bound=Hashable)


class RateLimitingQueue(DelayingQueue[T]):
    """A :class:`DelayingQueue` with per-item retry back-off.

    ``rate_limiter`` defaults to a fresh :func:`default_controller_rate_limiter`
    (on ``clock``). Remember to :meth:`forget` items that succeed, or their
    failures are tracked for ever.
    """

    def __init__(
        self,
        rate_limiter: RateLimiter[T] | None = None,
        name: str | None = None,
        *,
        metrics_provider: MetricsProvider | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, metrics_provider=metrics_provider, clock=clock)
        self.rate_limiter: RateLimiter[T] = (
            rate_limiter
            if rate_limiter is not None
            else default_controller_rate_limiter(clock=clock)
        )

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay the rate limiter gives it."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset the limiter's failures for ``item``; it stays in the queue if queued."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many times ``item`` has been rate-limited since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)
