"""The small interfaces the cache layers talk through.

``Store`` is what a :class:`~kubeloop.cache.reflector.Reflector` writes to
(the :class:`~kubeloop.cache.delta_fifo.DeltaFIFO` in an informer, or any
:class:`~kubeloop.cache.indexer.Indexer` when used alone), and
``KeyListerGetter`` is what a DeltaFIFO reads the already-known objects from.
Keeping them tiny lets every layer be tested alone with a fake.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

__all__ = ["KeyListerGetter", "Store"]


class KeyListerGetter(Protocol):
    """Anything that lists its keys and looks objects up by key."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> tuple[Any, bool]: ...


class Store(Protocol):
    """A keyed collection of objects, as client-go's ``cache.Store``."""

    def add(self, obj: Any) -> None: ...

    def update(self, obj: Any) -> None: ...

    def delete(self, obj: Any) -> None: ...

    def list(self) -> builtins.list[Any]: ...

    def list_keys(self) -> builtins.list[str]: ...

    def get(self, obj: Any) -> tuple[Any, bool]: ...

    def get_by_key(self, key: str) -> tuple[Any, bool]: ...

    def replace(self, objs: builtins.list[Any], resource_version: str) -> None:
        """Replace the whole contents with ``objs``, listed at ``resource_version``."""
        ...

    def resync(self) -> None:
        """Meaningless for a plain store; a DeltaFIFO queues Sync deltas."""
        ...
