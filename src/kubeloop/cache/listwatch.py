"""ListWatch: the two calls a reflector needs, LIST one page and WATCH.

Build one from the API client for a resource::

    lw = ListWatch.from_client(client.resource("v1", "pods", namespace="prod"),
                               label_selector="app=web")

or from two functions (how unit tests drive a reflector without a server)::

    lw = ListWatch(list_func=fake.list, watch_func=fake.watch)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from kubeloop.client.types import ListOptions, ListPage, WatchStream

__all__ = ["ListWatch", "ListerWatcher", "ResourceClientLike", "TweakListOptionsFunc"]

#: Adjusts the options of every LIST and WATCH (e.g. to add a selector).
TweakListOptionsFunc = Callable[[ListOptions], None]


class ListerWatcher(Protocol):
    """What a reflector lists and watches through."""

    def list(self, options: ListOptions) -> ListPage[Any]:
        """One LIST request (one page when ``options.limit`` is set)."""
        ...

    def watch(self, options: ListOptions) -> WatchStream[Any]: ...


class ResourceClientLike(Protocol):
    """The part of :class:`kubeloop.client.ResourceClient` the cache uses."""

    namespace: str | None

    def list_page(self, options: ListOptions) -> ListPage[Any]: ...

    def watch(self, options: ListOptions) -> WatchStream[Any]: ...


class ListWatch:
    """A :class:`ListerWatcher` made of two functions."""

    def __init__(
        self,
        list_func: Callable[[ListOptions], ListPage[Any]],
        watch_func: Callable[[ListOptions], WatchStream[Any]],
    ) -> None:
        self.list_func = list_func
        self.watch_func = watch_func

    def list(self, options: ListOptions) -> ListPage[Any]:
        return self.list_func(options)

    def watch(self, options: ListOptions) -> WatchStream[Any]:
        return self.watch_func(options)

    @classmethod
    def from_client(
        cls,
        resource_client: ResourceClientLike,
        label_selector: str | None = None,
        field_selector: str | None = None,
        tweak_list_options: TweakListOptionsFunc | None = None,
    ) -> ListWatch:
        """LIST and WATCH one resource through the API client.

        The namespace is the resource client's own. Selectors and
        ``tweak_list_options`` are applied to a copy of the reflector's
        options on every call, so the reflector's view of its options (the
        resourceVersion rules) is never altered behind its back.
        """

        def prepare(options: ListOptions) -> ListOptions:
            options = dataclasses.replace(options, extra=dict(options.extra))
            if label_selector is not None:
                options.label_selector = label_selector
            if field_selector is not None:
                options.field_selector = field_selector
            if tweak_list_options is not None:
                tweak_list_options(options)
            return options

        def list_func(options: ListOptions) -> ListPage[Any]:
            return resource_client.list_page(prepare(options))

        def watch_func(options: ListOptions) -> WatchStream[Any]:
            return resource_client.watch(prepare(options))

        return cls(list_func, watch_func)
