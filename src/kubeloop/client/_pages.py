"""What every resource client shares (dict, typed and metadata-only): what
it needs of the client under it (``Requester``), API paths, LIST parameters
and paging, and the patch types.

::

    for page in list_pages(client.list_page, ListOptions(limit=500)):
        print(len(page.items), page.resource_version)
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, Protocol, TypeVar

from kubeloop.client._config import Config
from kubeloop.client._watch import Watch
from kubeloop.client.types import DEFAULT_PAGE_SIZE, ListOptions, ListPage


class Requester(Protocol):
    """What a resource client needs of the :class:`~kubeloop.client.Client`
    under it: its config, one request, one watch. Written as a protocol so
    that the resource clients sit below the client that makes them, with no
    import of it (no circle)."""

    @property
    def config(self) -> Config: ...

    def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str | None = None,
    ) -> bytes: ...

    def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: type[Any] | None = None,
        *,
        accept: str | None = None,
    ) -> Watch: ...


PatchType = Literal["merge", "json", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def group_version_path(api_version: str) -> str:
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def list_params(options: ListOptions) -> dict[str, str]:
    """metav1.ListOptions as query parameters (only those that are set)."""
    params: dict[str, str] = {}
    if options.label_selector:
        params["labelSelector"] = options.label_selector
    if options.field_selector:
        params["fieldSelector"] = options.field_selector
    if options.limit:
        params["limit"] = str(options.limit)
    if options.continue_:
        params["continue"] = options.continue_
    if options.resource_version is not None:
        params["resourceVersion"] = options.resource_version
    if options.resource_version_match:
        params["resourceVersionMatch"] = options.resource_version_match
    if options.timeout_seconds is not None:
        params["timeoutSeconds"] = str(options.timeout_seconds)
    if options.allow_watch_bookmarks:
        params["allowWatchBookmarks"] = "true"
    if options.send_initial_events is not None:
        params["sendInitialEvents"] = "true" if options.send_initial_events else "false"
    params.update(options.extra)
    return params


def list_pages(
    list_page: Callable[[ListOptions], ListPage], first: ListOptions
) -> Iterator[ListPage]:
    """The pages of a LIST, following ``continue`` tokens.

    As in client-go's pager, continue requests carry no resourceVersion:
    the token pins the snapshot of the first page.
    """
    options = first
    while True:
        page = list_page(options)
        yield page
        if not page.continue_:
            return
        options = dataclasses.replace(
            first, continue_=page.continue_, resource_version=None, resource_version_match=None
        )


M = TypeVar("M")


class Pages(Generic[M]):
    """``list`` and ``list_items`` over a client's ``list_page``
    (one LIST request whose items are ``M``), for every resource client."""

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage:
        raise NotImplementedError

    def list(
        self,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> Iterator[ListPage]:
        """Iterate over the pages of a LIST (see :func:`list_pages`)."""
        return list_pages(
            self.list_page,
            ListOptions(
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                resource_version=resource_version,
                resource_version_match=resource_version_match,
            ),
        )

    def list_items(self, **kw: Any) -> builtins.list[M]:
        """Every object over all pages (keyword arguments as :meth:`list`)."""
        items: builtins.list[M] = []
        for page in self.list(**kw):
            items.extend(page.items)
        return items
