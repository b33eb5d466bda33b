"""What every resource client shares (sync and async, whatever its codec):
what it needs of the client under it (``Requester``), API paths, LIST
parameters and paging, and the patch types.

::

    for page in list_pages(nets.list_page, ListOptions(limit=500)):
        print(len(page.items), page.resource_version)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol, TypeVar

from kubeloop.client._config import Config
from kubeloop.client._watch import Watch
from kubeloop.client.types import ListOptions, ListPage

T = TypeVar("T")


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
        convert: Callable[[Any, str], Any] | None = None,
    ) -> Watch[Any]: ...


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


def page_options(
    label_selector: str | None,
    field_selector: str | None,
    limit: int | None,
    resource_version: str | None,
    resource_version_match: str | None,
) -> ListOptions:
    """The first page's options of a ``list``/``pages`` call."""
    return ListOptions(
        label_selector=label_selector,
        field_selector=field_selector,
        limit=limit,
        resource_version=resource_version,
        resource_version_match=resource_version_match,
    )


def next_page_options(first: ListOptions, page: ListPage[Any]) -> ListOptions | None:
    """The options of the page after ``page``, or None when it was the last.
    As in client-go's pager, continue requests carry no resourceVersion:
    the token pins the snapshot of the first page."""
    if not page.continue_:
        return None
    return dataclasses.replace(
        first, continue_=page.continue_, resource_version=None, resource_version_match=None
    )


def list_pages(
    list_page: Callable[[ListOptions], ListPage[T]], first: ListOptions
) -> Iterator[ListPage[T]]:
    """The pages of a LIST, following ``continue`` tokens."""
    options: ListOptions | None = first
    while options is not None:
        page = list_page(options)
        yield page
        options = next_page_options(first, page)


def join_pages(pages: Iterable[ListPage[T]]) -> ListPage[T]:
    """Every item of ``pages`` in one page, with the first page's resourceVersion."""
    joined: ListPage[T] = ListPage([], "")
    for page in pages:
        add_page(joined, page)
    return joined


def add_page(joined: ListPage[T], page: ListPage[T]) -> None:
    """Append ``page`` to ``joined`` (the async twin's join, one page at a time)."""
    joined.resource_version = joined.resource_version or page.resource_version
    joined.items.extend(page.items)
