"""The API client: configuration, transport, REST and watch.

Value types shared with the cache layer live in :mod:`kubeloop.client._types`
and are re-exported here.
"""

from kubeloop.client._types import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ListOptions,
    ListPage,
    WatchEvent,
    WatchStream,
)

__all__ = [
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "ERROR",
    "MODIFIED",
    "ListOptions",
    "ListPage",
    "WatchEvent",
    "WatchStream",
]
