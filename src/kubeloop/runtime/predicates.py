"""Event filters: which informer events may enqueue a key
(controller-runtime's predicates).

::

    mgr.controller(Foo, reconcile, filters=[generation_changed])        # spec changes only
    controller.owns(Deployment, filters=[any_of(generation_changed, labels_changed)])
    controller.watches(CONFIGMAPS, mapper, filters=[lambda old, new: old["data"] != new["data"]])

A filter sees every add, update and delete of its source and says whether
it counts; all filters of a source must agree. A plain function
``(old, new) -> bool`` filters updates only (adds and deletes pass), which
is what almost every filter means. The default is
:data:`resource_version_changed`: it drops the informer's periodic resyncs
(updates whose resourceVersion did not change), as the sample-controller's
handlers do by hand.

Deletes reach the filter unwrapped: a tombstone's last known object, never
the tombstone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kubeloop.cache import get_annotations, get_labels, get_resource_version
from kubeloop.cache.accessor import get_metadata

__all__ = [
    "DEFAULT_FILTERS",
    "EventFilter",
    "FilterLike",
    "Predicate",
    "all_of",
    "annotations_changed",
    "any_of",
    "as_filter",
    "generation_changed",
    "get_generation",
    "labels_changed",
    "resource_version_changed",
]


@runtime_checkable
class EventFilter(Protocol):
    """Whether an event counts (controller-runtime's ``predicate.Predicate``)."""

    def create(self, obj: Any) -> bool: ...

    def update(self, old: Any, new: Any) -> bool: ...

    def delete(self, obj: Any) -> bool: ...


def _always(*_: Any) -> bool:
    return True


@dataclass(frozen=True)
class Predicate:
    """A filter from optional functions; a missing one lets its events pass::

    Predicate(create=lambda obj: get_labels(obj).get("tier") == "web")
    """

    create_func: Callable[[Any], bool] = _always
    update_func: Callable[[Any, Any], bool] = _always
    delete_func: Callable[[Any], bool] = _always
    name: str = ""

    def create(self, obj: Any) -> bool:
        return self.create_func(obj)

    def update(self, old: Any, new: Any) -> bool:
        return self.update_func(old, new)

    def delete(self, obj: Any) -> bool:
        return self.delete_func(obj)

    def __repr__(self) -> str:
        return self.name or super().__repr__()


FilterLike = EventFilter | Callable[[Any, Any], bool]
"""An :class:`EventFilter`, or a function ``(old, new) -> bool`` for updates."""


def as_filter(f: FilterLike) -> EventFilter:
    if isinstance(f, EventFilter):
        return f
    if callable(f):
        return Predicate(update_func=f, name=getattr(f, "__name__", "") or repr(f))
    raise TypeError(f"{f!r} is neither an EventFilter nor a function (old, new) -> bool")


def get_generation(obj: Any) -> int:
    """``metadata.generation`` (0 when unset), of a dict or a typed model."""
    md = get_metadata(obj)
    value = md.get("generation") if isinstance(md, dict) else getattr(md, "generation", 0)
    return int(value or 0)


resource_version_changed = Predicate(
    update_func=lambda old, new: get_resource_version(old) != get_resource_version(new),
    name="resource_version_changed",
)
"""Updates whose resourceVersion changed: every real change, no resyncs."""

generation_changed = Predicate(
    update_func=lambda old, new: get_generation(old) != get_generation(new),
    name="generation_changed",
)
"""Updates that bumped ``metadata.generation``: spec changes, not status or
metadata writes (so a controller's own status writes do not wake it)."""

labels_changed = Predicate(
    update_func=lambda old, new: get_labels(old) != get_labels(new), name="labels_changed"
)
annotations_changed = Predicate(
    update_func=lambda old, new: get_annotations(old) != get_annotations(new),
    name="annotations_changed",
)

#: What a source filters with unless told otherwise.
DEFAULT_FILTERS: tuple[EventFilter, ...] = (resource_version_changed,)


def _combine(
    name: str, join: Callable[[Iterable[bool]], bool], filters: Sequence[FilterLike]
) -> EventFilter:
    fs = [as_filter(f) for f in filters]
    return Predicate(
        create_func=lambda obj: join(f.create(obj) for f in fs),
        update_func=lambda old, new: join(f.update(old, new) for f in fs),
        delete_func=lambda obj: join(f.delete(obj) for f in fs),
        name=f"{name}({', '.join(map(repr, fs))})",
    )


def any_of(*filters: FilterLike) -> EventFilter:
    """Passes an event that any of ``filters`` passes (controller-runtime ``predicate.Or``)."""
    return _combine("any_of", any, filters)


def all_of(*filters: FilterLike) -> EventFilter:
    """Passes an event that every one of ``filters`` passes (``predicate.And``)."""
    return _combine("all_of", all, filters)


def normalize_filters(filters: Sequence[FilterLike] | None) -> tuple[EventFilter, ...]:
    """``None``: the default; anything else as given (``[]`` passes every event)."""
    if filters is None:
        return DEFAULT_FILTERS
    return tuple(as_filter(f) for f in filters)
