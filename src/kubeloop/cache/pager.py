"""Paged LIST, after client-go's tools/pager.

A LIST of a large collection is fetched in pages of 500 objects; the pages
are flattened into one list of references as they arrive, and each page
object is let go at once (peak memory stays close to the cached objects
alone). An informer's transform runs on each page as it arrives, so what it
drops (managedFields) never piles up over the whole list::

    items, resource_version, paginated = list_all(lw.list, stop, "0", 500, strip)

Continue requests carry resourceVersion "" (the server refuses a RV together
with a continue token), and the list's RV is the first page's. If the
continue token expires half way (410), one full, unpaged LIST at the RV
first asked for replaces the paging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubeloop.cache.delta_fifo import TransformFunc
from kubeloop.client.types import DEFAULT_PAGE_SIZE, ListOptions, ListPage
from kubeloop.errors import ApiError, is_gone

__all__ = ["DEFAULT_PAGE_SIZE", "list_all"]


def list_all(
    list_page: Callable[[ListOptions], ListPage[Any]],
    stop: threading.Event,
    resource_version: str,
    limit: int,
    transform: TransformFunc | None = None,
) -> tuple[list[Any], str, bool] | None:
    """LIST everything at ``resource_version`` in pages of ``limit`` (0: one
    request), passing each object through ``transform`` as its page
    arrives. Returns ``(items, list_rv, paginated)``, or None when ``stop``
    was set between pages."""
    options = ListOptions(resource_version=resource_version, limit=limit or None)
    items: list[Any] | None = None
    list_rv = ""
    paginated = False
    while True:
        if stop.is_set():
            return None
        try:
            page = list_page(options)
        except ApiError as err:
            if not is_gone(err) or not options.continue_:
                raise
            full = list_page(ListOptions(resource_version=resource_version))
            return _transformed(full.items, transform), full.resource_version, paginated
        _transformed(page.items, transform)
        if items is None:
            list_rv = page.resource_version
            items = page.items
        else:
            items.extend(page.items)
        if not page.continue_:
            return items, list_rv, paginated
        options = ListOptions(resource_version="", limit=limit or None, continue_=page.continue_)
        paginated = True


def _transformed(items: list[Any], transform: TransformFunc | None) -> list[Any]:
    """Transform ``items`` in place (the page is ours alone) and return it."""
    if transform is not None:
        for i, obj in enumerate(items):
            items[i] = transform(obj)
    return items
