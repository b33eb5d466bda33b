"""Client-side request throttling (client-go's flowcontrol token bucket).

client-go limits every client to ``qps`` requests per second with bursts of
``burst``, so a hot loop in a controller cannot flood the API server; the
defaults there are 5 and 10. A ``qps`` of 0 or less disables the limit.
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

    async def acquire(self) -> None:
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
