"""Value types the client hands up to the cache layer: list pages, watch
events and their types, list options, the watch stream protocol.

They are deliberately small and free of transport details, so that the
reflector can be driven by the real client or by a fake ListerWatcher in unit
tests with the same types. Public (``kubeloop.client.types``, and re-exported
from ``kubeloop.client``) because the layers above name them.

Example::

    from kubeloop.client.types import EventType, ListOptions
    for event in nets.watch(ListOptions(resource_version="0")):
        if event.type is EventType.DELETED:
            ...
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

#: Items per LIST page when paging (client-go's tools/pager default), for
#: the resource clients' ``list`` and the reflector alike.
DEFAULT_PAGE_SIZE = 500

#: What a resource client holds: a dict (``Object``), a model, metadata.
T = TypeVar("T")

#: An object as plain JSON (client-go's ``unstructured.Unstructured``).
Object = dict[str, Any]


class EventType(enum.StrEnum):
    """A watch event's type, as the API server spells it (metav1
    ``watch.EventType``). A ``StrEnum``: equal to the wire string, so
    ``event.type == "ADDED"`` holds too. A watch line with any other type is
    a decode error, as client-go's decoder refuses it."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    #: Never yielded by a :class:`~kubeloop.client.Watch`: it raises the
    #: Status's :class:`~kubeloop.errors.ApiError` instead.
    ERROR = "ERROR"


@dataclass(slots=True)
class ListPage(Generic[T]):
    """One page of a LIST: its items (``T``: dicts or models), the list's
    resourceVersion and the continue token (``""`` on the last page)."""

    items: list[T]
    resource_version: str
    continue_: str = ""
    remaining_item_count: int | None = None


@dataclass(slots=True)
class WatchEvent(Generic[T]):
    """One watch event. ``object`` is the decoded object (a dict unless a
    typed decoder is used; a typed watch's BOOKMARK carries a
    :class:`~kubeloop.typed.PartialObjectMetadata`, hence ``Any`` for those).
    ERROR events are never yielded: the stream raises the corresponding
    :class:`kubeloop.errors.ApiError` instead."""

    type: EventType
    object: T


@dataclass(slots=True)
class ListOptions:
    """Options for LIST and WATCH, named after metav1.ListOptions."""

    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None
    continue_: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None
    timeout_seconds: int | None = None
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    extra: dict[str, str] = field(default_factory=dict)


class WatchStream(Protocol[T]):
    """An open watch: iterate it for events; ``stop()`` may be called from any
    thread and makes iteration end promptly (without an error)."""

    def __iter__(self) -> Iterator[WatchEvent[T]]: ...

    def stop(self) -> None: ...
