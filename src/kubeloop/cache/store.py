"""The small interfaces the cache layers talk through.

``ReflectorStore`` is what a :class:`~kubeloop.cache.reflector.Reflector`
writes to; ``Store`` adds reads (any
:class:`~kubeloop.cache.indexer.Indexer`); the queues an informer pops from
are in :mod:`kubeloop.cache.queue`. ``KeyListerGetter`` is what a FIFO
reads the already-known objects from. Keeping them tiny lets every layer be
tested alone with a fake.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BookmarkStore",
    "KeyListerGetter",
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


@runtime_checkable
class BookmarkStore(Protocol):
    """A store that wants to know the resourceVersion a bookmark vouched for."""

    def bookmark(self, resource_version: str) -> None: ...
