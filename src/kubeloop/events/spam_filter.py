"""The per-object spam filter of client-go's tools/record
(``EventSourceObjectSpamFilter``): a token bucket per source and object.

A controller that fails on one object every few seconds would otherwise
write Events about it for as long as it fails. Each key (reporting
controller and instance, the object's kind, namespace, name, uid and
apiVersion, and the event type) gets a bucket of 25 tokens refilled at one
per 300 s: a burst of 25 writes, then one every five minutes, however many
objects the controller handles. Buckets are kept for the 4096 keys used
last, as client-go's LRU.

Example::

    spam = EventSourceObjectSpamFilter(clock=FakeClock())
    if spam.filter(key):      # True: over budget, do not write
        ...
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.events.occurrence import Occurrence

__all__ = [
    "DEFAULT_SPAM_BURST",
    "DEFAULT_SPAM_QPS",
    "EventSourceObjectSpamFilter",
    "PassiveTokenBucket",
    "spam_key",
]

DEFAULT_SPAM_BURST = 25
DEFAULT_SPAM_QPS = 1.0 / 300.0
MAX_LRU_CACHE_ENTRIES = 4096


class PassiveTokenBucket:
    """A token bucket that never waits: :meth:`try_accept` takes a token if
    one is there (client-go's ``TokenBucketPassiveRateLimiter``). Starts full."""

    __slots__ = ("_burst", "_clock", "_last", "_qps", "_tokens")

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self._qps = qps
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def try_accept(self) -> bool:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class EventSourceObjectSpamFilter:
    """``filter(key)`` is True when the key has spent its budget.

    Not thread-safe: the recorder's writer thread is its only user.
    """

    def __init__(
        self,
        *,
        burst: int = DEFAULT_SPAM_BURST,
        qps: float = DEFAULT_SPAM_QPS,
        cache_size: int = MAX_LRU_CACHE_ENTRIES,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._burst = burst
        self._qps = qps
        self._cache_size = cache_size
        self._clock = clock
        self._buckets: OrderedDict[Hashable, PassiveTokenBucket] = OrderedDict()

    def filter(self, key: Hashable) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = PassiveTokenBucket(self._qps, self._burst, self._clock)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._cache_size:
            self._buckets.popitem(last=False)
        return not bucket.try_accept()


def spam_key(occurrence: Occurrence, source: str, instance: str) -> tuple[str, ...]:
    """The default key (tools/record's ``getSpamKey``): the source, the
    object, and the type; not the reason nor the message, so an object
    cannot escape its budget by varying them."""
    ref = occurrence.reference()
    return (
        source,
        instance,
        ref.get("kind", ""),
        ref.get("namespace", ""),
        ref.get("name", ""),
        ref.get("uid", ""),
        ref.get("apiVersion", ""),
        occurrence.type,
    )
