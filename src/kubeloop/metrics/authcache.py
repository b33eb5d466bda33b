"""A bounded LRU whose entries expire: the TokenReview and SubjectAccessReview caches.

::

    cache: ExpiringLRU[str, bool] = ExpiringLRU(1024, clock=FakeClock())
    cache.set("k", True, ttl=30.0)
    cache.get("k")          # True until the clock passes 30 s, then None

Why both a bound and a TTL (k8s.io/apiserver's ``LRUExpireCache``, which the
delegating authenticator and authorizer of controller-runtime's secure
metrics use): the TTL bounds how long a revoked token or a removed
RoleBinding still scrapes; the bound keeps a flood of made-up tokens from
growing the process without limit, since every distinct bad token is a miss.
Time comes from a :class:`kubeloop.clock.Clock`, so tests move it by hand.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from kubeloop.clock import REAL_CLOCK, Clock

__all__ = ["ExpiringLRU"]

K = TypeVar("K")
V = TypeVar("V")


class ExpiringLRU(Generic[K, V]):
    """At most ``max_size`` entries; the least recently used goes first."""

    def __init__(self, max_size: int = 1024, *, clock: Clock = REAL_CLOCK) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.clock = clock
        # Guards _entries (every scrape's thread reads and writes it).
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value, if present and not expired (an expired one is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires = entry
            if self.clock.now() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: K, value: V, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (value, self.clock.now() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
