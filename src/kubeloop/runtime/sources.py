"""What a controller watches, and how each event becomes keys on its queue.

Three roles, as in controller-runtime's builder:

- ``for``: the primary kind; an event enqueues the object's own key, and a
  delete also keeps its final state for the reconcile (``ctx.last_known``);
- ``owns``: an event of an owned object enqueues its controller, the
  ``ownerReference`` with ``controller: true`` whose group and kind are the
  primary's (``EnqueueRequestForOwner`` with ``OnlyControllerOwner``);
- ``watches``: an event of any object enqueues what its mapper returns
  (``EnqueueRequestsFromMapFunc``).

An update maps both the old and the new object, so moving an object from
one owner (or mapped key) to another wakes both. Event filters decide first
whether the event counts at all.

Where they run: ``for`` and ``owns`` handlers are registered synchronous
(:meth:`kubeloop.cache.SharedIndexInformer.add_event_handler`), on the thread
that updates the informer's cache, because their mapping is ours and only
adds keys to the queue; so their event filters must not block either (they
are meant to be pure checks of the objects). A ``watches`` handler runs the
user's mapper and gets its own buffer and thread, as client-go's do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubeloop.cache import DeletedFinalStateUnknown, get_namespace, meta_namespace_key_func
from kubeloop.runtime.kinds import Kind
from kubeloop.runtime.owners import controller_of
from kubeloop.runtime.predicates import EventFilter

__all__ = ["Mapper", "Role", "Scope", "Source", "SourceHandler", "owner_key"]

_log = logging.getLogger("kubeloop.runtime")

Role = Literal["for", "owns", "watches"]

Mapper = Callable[[Any], Iterable[str]]
"""``watches``: an object to the keys (``"namespace/name"``) to reconcile."""


@dataclass(frozen=True)
class Scope:
    """Which objects of a kind the cache holds (controller-runtime's
    ``cache.ByObject``): one namespace, and label/field selectors, applied
    by the API server to every LIST and WATCH. Sources of one kind and one
    scope share one informer."""

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None

    def __str__(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("namespace", self.namespace),
                ("labels", self.label_selector),
                ("fields", self.field_selector),
            )
            if value
        ]
        return ", ".join(parts) or "all"


@dataclass(frozen=True)
class Source:
    """One watched kind of one controller. ``metadata_only``: its informer
    may cache the objects' metadata alone (``owns``: the mapping reads only
    ``ownerReferences``); the cache shares a full informer of the kind
    instead when it has one."""

    kind: Kind
    role: Role
    filters: tuple[EventFilter, ...]
    scope: Scope = Scope()
    transform: Callable[[Any], Any] | None = None
    mapper: Mapper | None = None
    metadata_only: bool = False


def owner_key(obj: Any, owner: Kind) -> str | None:
    """The key of ``obj``'s controller if it is of kind ``owner``, else None.

    A namespaced owner lives in the object's namespace (ownerReferences
    never cross namespaces); a cluster-scoped one has no namespace in its key.
    """
    ref = controller_of(obj)
    if ref is None or ref.kind != owner.kind or ref.group != owner.group:
        return None
    namespace = get_namespace(obj) if owner.namespaced else ""
    return f"{namespace}/{ref.name}" if namespace else ref.name


class SourceHandler:
    """The informer event handler of one source: filter, map, enqueue.

    ``keys_of(obj)`` maps an object to keys; ``enqueue`` adds one;
    ``on_deleted(key, obj)`` (the primary's) is told a key's final state
    before the key is enqueued. Nothing raised by a filter or mapper
    leaves the handler: it is logged and the event dropped.
    """

    def __init__(
        self,
        source: Source,
        controller: str,
        keys_of: Mapper,
        enqueue: Callable[[str], None],
        on_deleted: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.source = source
        self._controller = controller
        self._keys_of = keys_of
        self._add = enqueue
        self._on_deleted = on_deleted

    def _enqueue(self, key: str) -> None:
        # At -v 4, which event queued which key: a retry that no event asked
        # for is then visibly the backoff's.
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: Enqueued '%s' (%s)", self._controller, key, self.source.role)
        self._add(key)

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        # The hot path of an initial list (one call per object and source):
        # written out rather than through _guarded and _emit, which cost a
        # closure, a generator and a dict per event.
        try:
            for f in self.source.filters:
                if not f.create(obj):
                    return
            self._add_keys(self._keys_of(obj))
        except Exception:
            self._dropped("add", obj)

    def on_update(self, old: Any, new: Any) -> None:
        # Written out as on_add is: the hot path of an update storm.
        try:
            for f in self.source.filters:
                if not f.update(old, new):
                    return
            if self.source.role == "for":  # the new object's key is the old one's
                self._add_keys(self._keys_of(new))
            else:  # both owners (or mapped keys): a move wakes the old one too
                self._add_keys([*self._keys_of(old), *self._keys_of(new)])
        except Exception:
            self._dropped("update", new)

    def _add_keys(self, keys: Iterable[str]) -> None:
        if type(keys) is list and len(keys) < 2:  # For, and Owns of one object
            for key in keys:
                self._enqueue(key)
        else:  # may repeat a key
            for key in dict.fromkeys(keys):
                self._enqueue(key)

    def on_delete(self, obj: Any) -> None:
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else None
        last = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj

        def deleted() -> None:
            if not all(f.delete(last) for f in self.source.filters):
                return
            if self._on_deleted is not None:
                own = key if key is not None else meta_namespace_key_func(last)
                self._on_deleted(own, last)
                self._enqueue(own)
                return
            self._emit(last, (), "delete", last, check=False)

        self._guarded("delete", last, deleted)

    def _emit(
        self, obj: Any, previous: tuple[Any, ...], event: str, *args: Any, check: bool = True
    ) -> None:
        if check and not all(getattr(f, event)(*args) for f in self.source.filters):
            return
        keys: dict[str, None] = {}
        for o in (*previous, obj):
            keys.update(dict.fromkeys(self._keys_of(o)))
        for key in keys:
            self._enqueue(key)

    def _guarded(self, event: str, obj: Any, handle: Callable[[], None]) -> None:
        try:
            handle()
        except Exception:
            self._dropped(event, obj)

    def _dropped(self, event: str, obj: Any) -> None:
        """Log the exception being handled: a filter or mapper raised."""
        _log.exception(
            "%s: %s event of %s %r dropped: its filter or mapper raised",
            self._controller,
            event,
            self.source.kind,
            _describe(obj),
        )

    def __repr__(self) -> str:
        return f"SourceHandler({self._controller}, {self.source.role} {self.source.kind})"


def _describe(obj: Any) -> str:
    try:
        return meta_namespace_key_func(obj)
    except Exception:
        return type(obj).__name__
