"""The harness's concurrent writers: every item written, several at once,
and a failure raised, not dropped."""

from __future__ import annotations

import threading

import pytest
from tools.e2e.writers import concurrently


def test_every_item_is_written_by_several_threads_at_once() -> None:
    seen: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4, timeout=10)

    def write(i: int) -> None:
        if i < 4:
            barrier.wait()  # four writes in flight together, or this times out
        with lock:
            seen.append(i)

    concurrently(write, list(range(100)), 4)
    assert sorted(seen) == list(range(100))


def test_a_failed_write_is_raised() -> None:
    def write(i: int) -> None:
        if i == 7:
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        concurrently(write, list(range(20)), 3)
    with pytest.raises(ValueError):
        concurrently(write, [1], 0)
