"""Metric families registered once per ``prometheus_client`` registry.

A registry refuses a family name twice, yet several objects (two controllers,
two electors) may report into one registry. So each module builds its
families once per registry and every user of that registry shares them,
telling its series apart by label::

    _families = PerRegistry(_Families)      # _Families(registry) registers them
    families = _families(registry)
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from kubeloop._locks import YieldingLock

__all__ = ["BucketHistogram", "PerRegistry", "SeriesCollector", "registered"]

T = TypeVar("T")
K = TypeVar("K", bound=str | tuple[str, ...])  # sortable keys
S = TypeVar("S")
C = TypeVar("C", bound=Collector)


class PerRegistry(Generic[T]):
    """``build(registry)`` called at most once per registry; the result is kept
    as long as the registry lives.

    Every instance is listed in :meth:`all`, so that code which resets a
    registry (a test fixture unregistering what a test added to the default
    one) can make each cache forget it without knowing the modules."""

    _instances: weakref.WeakSet[PerRegistry[Any]] = weakref.WeakSet()

    def __init__(self, build: Callable[[CollectorRegistry], T]) -> None:
        self._build = build
        # Guards _built.
        self._lock = threading.Lock()
        self._built: weakref.WeakKeyDictionary[CollectorRegistry, T] = weakref.WeakKeyDictionary()
        PerRegistry._instances.add(self)

    @classmethod
    def all(cls) -> list[PerRegistry[Any]]:
        """Every per-registry cache in the process."""
        return list(cls._instances)

    def holds(self, registry: CollectorRegistry) -> bool:
        with self._lock:
            return registry in self._built

    def forget(self, registry: CollectorRegistry) -> None:
        """Drop what was built for ``registry`` (after its collectors were
        unregistered), so the next call builds and registers anew."""
        with self._lock:
            self._built.pop(registry, None)

    def __call__(self, registry: CollectorRegistry) -> T:
        with self._lock:
            built = self._built.get(registry)
            if built is None:
                built = self._built[registry] = self._build(registry)
            return built


class BucketHistogram:
    """One histogram series as plain numbers: cheaper per ``observe`` than
    ``prometheus_client.Histogram``, turned into a family's samples by a
    collector at scrape time (see ``snapshot``)."""

    def __init__(self, bounds: tuple[float, ...], lock: YieldingLock | None = None) -> None:
        self._bounds = bounds
        # prometheus_client's formatting of the bounds (repr, as Go would print them).
        self._labels = (*(repr(b) for b in bounds), "+Inf")
        # Guards counts and total, so a scrape sees them consistent. Yielding:
        # observed on hot paths by several threads (see kubeloop._locks). A
        # series that updates other numbers with each observation passes
        # its own lock and calls observe_locked under it: one lock, not two.
        self.lock = lock if lock is not None else YieldingLock()
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; last is +Inf
        self.total = 0.0

    def observe(self, amount: float) -> None:
        with self.lock:
            self.observe_locked(amount)

    def observe_locked(self, amount: float) -> None:
        """``observe``, for a caller that holds ``lock``."""
        self.counts[bisect.bisect_left(self._bounds, amount)] += 1  # bounds are inclusive ("le")
        self.total += amount

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` buckets and the sum, as HistogramMetricFamily takes them."""
        with self.lock:
            counts, total = list(self.counts), self.total
        cumulative, buckets = 0, []
        for label, count in zip(self._labels, counts, strict=True):
            cumulative += count
            buckets.append((label, float(cumulative)))
        return buckets, total


class SeriesCollector(Collector, Generic[K, S]):
    """A collector over plain-number series made on first use, one per key
    (a queue name, a controller, an informer identity): the hot path
    updates the series, and ``collect`` (the subclass's) reads
    :meth:`named` when the registry is scraped."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        # Guards _series (keys are added while a scrape may be iterating).
        self._lock = threading.Lock()
        self._series: dict[K, S] = {}

    def series(self, key: K) -> S:
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._make()
            return series

    def named(self) -> list[tuple[K, S]]:
        """Every ``(key, series)``, sorted by key, as one snapshot."""
        with self._lock:
            return sorted(self._series.items(), key=lambda item: item[0])


def registered(make: Callable[[], C]) -> PerRegistry[C]:
    """One collector from ``make`` per registry, registered in it on first use
    (a registry refuses the same family twice, so its users share it)."""

    def build(registry: CollectorRegistry) -> C:
        collector = make()
        registry.register(collector)
        return collector

    return PerRegistry(build)
