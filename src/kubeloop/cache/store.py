"""The small interfaces the cache layers talk through.

``ReflectorStore`` is what a :class:`~kubeloop.cache.reflector.Reflector`
writes to; ``Store`` adds reads (any
:class:`~kubeloop.cache.indexer.Indexer`); ``Queue`` is a ReflectorStore a
consumer pops from (the informer's :class:`~kubeloop.cache.real_fifo.RealFIFO`
or :class:`~kubeloop.cache.delta_fifo.DeltaFIFO`), and ``QueueWithBatch`` one
that can hand out several deltas at once. ``KeyListerGetter`` is what a FIFO
reads the already-known objects from. Keeping them tiny lets every layer be
tested alone with a fake.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kubeloop.cache.delta_fifo import Deltas, PopProcessFunc
    from kubeloop.cache.real_fifo import ProcessBatchFunc

__all__ = [
    "BookmarkStore",
    "KeyListerGetter",
    "Queue",
    "QueueWithBatch",
    "ReflectorStore",
    "Store",
]


class KeyListerGetter(Protocol):
    """Anything that lists its keys and looks objects up by key."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> tuple[Any, bool]: ...


class ReflectorStore(Protocol):
    """What a reflector writes to (client-go's ``ReflectorStore``)."""

    def add(self, obj: Any) -> None: ...

    def update(self, obj: Any) -> None: ...

    def delete(self, obj: Any) -> None: ...

    def replace(self, objs: builtins.list[Any], resource_version: str) -> None:
        """Replace the whole contents with ``objs``, listed at ``resource_version``."""
        ...

    def resync(self) -> None:
        """Meaningless for a plain store; a FIFO queues Sync deltas."""
        ...


class Store(ReflectorStore, Protocol):
    """A keyed collection of objects, as client-go's ``cache.Store``."""

    def list(self) -> builtins.list[Any]: ...

    def list_keys(self) -> builtins.list[str]: ...

    def get(self, obj: Any) -> tuple[Any, bool]: ...

    def get_by_key(self, key: str) -> tuple[Any, bool]: ...


class Queue(ReflectorStore, Protocol):
    """A ReflectorStore whose changes one consumer pops (client-go's ``Queue``)."""

    def pop(self, process: PopProcessFunc, timeout: float | None = None) -> Deltas:
        """Block for the next deltas, run ``process`` on them, return them."""
        ...

    def has_synced(self) -> bool:
        """True once the first ``replace`` was fully popped (or anything else came first)."""
        ...

    def close(self) -> None: ...

    def is_closed(self) -> bool: ...


@runtime_checkable
class QueueWithBatch(Queue, Protocol):
    """A Queue that can hand out several deltas, one per key, in one pop."""

    def pop_batch(
        self,
        process_batch: ProcessBatchFunc,
        process_single: PopProcessFunc,
        timeout: float | None = None,
    ) -> None: ...


@runtime_checkable
class BookmarkStore(Protocol):
    """A store that wants to know the resourceVersion a bookmark vouched for."""

    def bookmark(self, resource_version: str) -> None: ...
