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

import asyncio
import time


class TokenBucket:
    """An asyncio token bucket: ``await acquire()`` waits for one token."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        # Guards nothing across threads (one event loop owns the bucket); it
        # serialises waiters so tokens go out in arrival order.
        self._lock = asyncio.Lock()

    async def acquire(self, path: str = "") -> None:
        """Wait for one token (``path`` is for per-group limiters; unused)."""
        if self.qps <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.qps
                await asyncio.sleep(wait)
                self._last = time.monotonic()
                self._tokens = 0.0
            else:
                self._tokens -= 1


def api_group_of_path(path: str) -> str:
    """The API group a request path addresses: ``""`` for ``/api/...``
    (core) and for paths outside the API (``/version``)."""
    parts = path.split("/", 4)
    return parts[2] if len(parts) > 2 and parts[1] == "apis" else ""


class PerGroupTokenBuckets:
    """One :class:`TokenBucket` of ``qps``/``burst`` per API group."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = burst
        # Only the event loop thread touches it (see TokenBucket).
        self._buckets: dict[str, TokenBucket] = {}

    def bucket_for(self, path: str) -> TokenBucket:
        group = api_group_of_path(path)
        bucket = self._buckets.get(group)
        if bucket is None:
            bucket = self._buckets[group] = TokenBucket(self.qps, self.burst)
        return bucket

    async def acquire(self, path: str = "") -> None:
        await self.bucket_for(path).acquire()
