"""Writes issued by several threads at once, for the harness's bulk work.

One writer waits a round trip per object: 10,000 Networks one after another
take minutes; sixteen writers take the API server's time instead (about 30 s
on a 2-core machine). The first error is raised once every write has
returned, so a failed bulk step fails the run that needed it::

    concurrently(lambda op: nets.create(body(op), namespace=op.namespace), ops, 16)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def concurrently(write: Callable[[T], object], items: Sequence[T], writers: int) -> None:
    """``write(item)`` for every item, ``writers`` at a time."""
    if writers < 1:
        raise ValueError(f"writers must be at least 1, got {writers}")
    with ThreadPoolExecutor(writers, thread_name_prefix="harness-writer") as pool:
        for _ in pool.map(write, items):
            pass
