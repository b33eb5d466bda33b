"""Waiting for informer caches to fill.

Controllers must not start workers before their caches have synced: a worker
reading an empty lister would conclude that every object is gone::

    if not wait_for_cache_sync(stop, pods.has_synced, nets.has_synced):
        raise RuntimeError("caches did not sync")

An async program awaits the same, without blocking its loop::

    if not await wait_for_cache_sync_async(pods.has_synced, stop=stopping):
        return
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

__all__ = ["wait_for_cache_sync", "wait_for_cache_sync_async"]

_log = logging.getLogger(__name__)

#: client-go polls every 100 ms.
SYNCED_POLL_PERIOD = 0.1


def wait_for_cache_sync(stop: threading.Event, *has_synced_funcs: Callable[[], bool]) -> bool:
    """Wait until every function returns True (True) or ``stop`` is set (False).

    ``has_synced`` functions are plain predicates with nothing to wait on,
    so, as in client-go, they are polled every 100 ms.
    """
    while True:
        if all(f() for f in has_synced_funcs):
            return True
        if stop.wait(SYNCED_POLL_PERIOD):
            _log.info("stop requested before caches synced")
            return False


async def wait_for_cache_sync_async(
    *has_synced_funcs: Callable[[], bool], stop: asyncio.Event | None = None
) -> bool:
    """:func:`wait_for_cache_sync` awaited: True once every function returns
    True, False if ``stop`` is set first. Polled every 100 ms, as there is
    nothing to wait on; the functions are cheap reads, safe from the loop."""
    stop = stop or asyncio.Event()
    while True:
        if all(f() for f in has_synced_funcs):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SYNCED_POLL_PERIOD)
        if stop.is_set():
            _log.info("stop requested before caches synced")
            return False
