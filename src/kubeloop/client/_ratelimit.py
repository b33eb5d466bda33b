"""Client-side request throttling (client-go's flowcontrol token bucket).

client-go limits every client to ``qps`` requests per second with bursts of
``burst``, so a hot loop in a controller cannot flood the API server; the
defaults there are 5 and 10. A ``qps`` of 0 or less disables the limit.

With QPS unset, client-go gives each typed API-group client (CoreV1,
AppsV1, ...) a bucket of its own, so a controller's Deployment writes do not
wait behind its Pod reads; :class:`PerGroupTokenBuckets` does the same for
one kubeloop client, keyed by the group in the request path.
"""

from __future__ import annotations

import math
import threading

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import TransportError
from kubeloop.workqueue.default_rate_limiters import BucketRateLimiter


class TokenBucket:
    """A thread-safe token bucket: :meth:`acquire` waits for one token.

    Tokens are reserved in arrival order (golang.org/x/time/rate, as
    client-go's ``tokenBucketRateLimiter``): each caller takes the next
    token, going into debt if need be, and sleeps until it exists.
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock = REAL_CLOCK) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._bucket: BucketRateLimiter[None] = BucketRateLimiter(qps, self.burst, clock=clock)

    def acquire(
        self, path: str = "", stop: threading.Event | None = None, max_wait: float | None = None
    ) -> bool:
        """Wait for one token (``path`` is for per-group limiters; unused).
        False, at once and with no token taken, if it would exist only after
        ``max_wait`` seconds (a request with a timeout: client-go's
        ``Wait(ctx)`` fails the same way). ``stop`` set while waiting (the
        client closed) raises :class:`TransportError`."""
        delay = self.reserve(path, max_wait)
        if delay is None:
            return False
        if delay > 0 and self._clock.sleep(delay, stop or threading.Event()):
            raise TransportError("the client was closed while waiting for the rate limiter")
        return True

    def reserve(self, path: str = "", max_wait: float | None = None) -> float | None:
        """Take the next token and return how long to wait until it exists
        (0: now), or None if longer than ``max_wait`` (nothing taken); an
        async caller awaits the delay itself (``AsyncRest``)."""
        if self.qps <= 0:
            return 0.0
        return self._bucket.reserve(math.inf if max_wait is None else max(max_wait, 0.0))


def api_group_of_path(path: str) -> str:
    """The API group a request path addresses: ``""`` for ``/api/...``
    (core) and for paths outside the API (``/version``)."""
    parts = path.split("/", 4)
    return parts[2] if len(parts) > 2 and parts[1] == "apis" else ""


class PerGroupTokenBuckets:
    """One :class:`TokenBucket` of ``qps``/``burst`` per API group."""

    def __init__(self, qps: float, burst: int, *, clock: Clock = REAL_CLOCK) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()  # guards _buckets
        self._buckets: dict[str, TokenBucket] = {}

    def bucket_for(self, path: str) -> TokenBucket:
        group = api_group_of_path(path)
        bucket = self._buckets.get(group)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.get(group)
                if bucket is None:
                    bucket = TokenBucket(self.qps, self.burst, clock=self._clock)
                    self._buckets[group] = bucket
        return bucket

    def acquire(
        self, path: str = "", stop: threading.Event | None = None, max_wait: float | None = None
    ) -> bool:
        return self.bucket_for(path).acquire(stop=stop, max_wait=max_wait)

    def reserve(self, path: str = "", max_wait: float | None = None) -> float | None:
        return self.bucket_for(path).reserve(max_wait=max_wait)
