"""Metric families registered once per ``prometheus_client`` registry.

A registry refuses a family name twice, yet several objects (two controllers,
two electors) may report into one registry. So each module builds its
families once per registry and every user of that registry shares them,
telling its series apart by label::

    _families = PerRegistry(_Families)      # _Families(registry) registers them
    families = _families(registry)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

__all__ = ["PerRegistry"]

T = TypeVar("T")


class PerRegistry(Generic[T]):
    """``build(registry)`` called at most once per registry; the result is kept
    as long as the registry lives."""

    def __init__(self, build: Callable[[CollectorRegistry], T]) -> None:
        self._build = build
        # Guards _built.
        self._lock = threading.Lock()
        self._built: weakref.WeakKeyDictionary[CollectorRegistry, T] = weakref.WeakKeyDictionary()

    def __call__(self, registry: CollectorRegistry) -> T:
        with self._lock:
            built = self._built.get(registry)
            if built is None:
                built = self._built[registry] = self._build(registry)
            return built
