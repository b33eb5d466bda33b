"""Event handlers: what an informer notifies about cache changes.

A handler is any object with ``on_add``, ``on_update`` and ``on_delete``
(:class:`ResourceEventHandler`), or a :class:`ResourceEventHandlerFuncs` built
from plain functions::

    informer.add_event_handler(ResourceEventHandlerFuncs(
        add_func=lambda obj: queue.add(key(obj)),
        update_func=lambda old, new: queue.add(key(new)),
        delete_func=lambda obj: queue.add(deletion_key(obj)),
    ))

``on_delete`` may receive a :class:`~kubeloop.cache.keys.DeletedFinalStateUnknown`
tombstone when the deletion itself was missed; unwrap ``.obj`` if needed.
Objects are shared with the cache and every other handler: never mutate them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ResourceEventHandler",
    "ResourceEventHandlerDetailedFuncs",
    "ResourceEventHandlerFuncs",
    "ResourceEventHandlerRegistration",
]


@runtime_checkable
class ResourceEventHandler(Protocol):
    def on_add(self, obj: Any, is_in_initial_list: bool) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


@dataclass(frozen=True, kw_only=True)
class _UpdateDeleteFuncs:
    update_func: Callable[[Any, Any], None] | None = None
    delete_func: Callable[[Any], None] | None = None

    def on_update(self, old: Any, new: Any) -> None:
        if self.update_func is not None:
            self.update_func(old, new)

    def on_delete(self, obj: Any) -> None:
        if self.delete_func is not None:
            self.delete_func(obj)


@dataclass(frozen=True, kw_only=True)
class ResourceEventHandlerFuncs(_UpdateDeleteFuncs):
    """A handler from optional functions; a missing one ignores its event.

    As in client-go, ``add_func`` takes only the object; use
    :class:`ResourceEventHandlerDetailedFuncs` to learn whether an add
    belongs to the initial list.
    """

    add_func: Callable[[Any], None] | None = None

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        if self.add_func is not None:
            self.add_func(obj)


@dataclass(frozen=True, kw_only=True)
class ResourceEventHandlerDetailedFuncs(_UpdateDeleteFuncs):
    """Like :class:`ResourceEventHandlerFuncs`, but ``add_func`` also gets
    ``is_in_initial_list``."""

    add_func: Callable[[Any, bool], None] | None = None

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        if self.add_func is not None:
            self.add_func(obj, is_in_initial_list)


class ResourceEventHandlerRegistration(Protocol):
    """Returned by ``add_event_handler``; pass it to ``remove_event_handler``."""

    def has_synced(self) -> bool:
        """True once the informer has synced and this handler has been
        delivered every object of the initial list."""
        ...
