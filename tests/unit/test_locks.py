"""kubeloop._locks: locks that yield the GIL instead of queueing."""

from __future__ import annotations

import threading
import time

import pytest

from kubeloop._locks import YieldingLock, acquire, acquire_contended


def run(target: object, n: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(n)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    return threads


def test_a_contended_lock_is_taken_once_its_holder_releases_it() -> None:
    lock = threading.Lock()
    lock.acquire()
    taken = threading.Event()

    def take() -> None:
        acquire_contended(lock)
        taken.set()

    (taker,) = run(take, 1)
    # Longer than the yields before blocking: the taker must be blocked, not gone.
    assert not taken.wait(0.1)
    lock.release()
    taker.join(10)
    assert taken.is_set()
    assert lock.locked()


def test_a_yielding_lock_excludes_other_threads() -> None:
    """Four threads do a read, a GIL hand-off and a write under the lock:
    without exclusion increments are lost."""
    lock = YieldingLock()
    count = [0]

    def bump() -> None:
        for _ in range(2000):
            with lock:
                seen = count[0]
                time.sleep(0)  # invites a switch inside the critical section
                count[0] = seen + 1

    threads = run(bump, 4)
    for t in threads:
        t.join(30)
    assert count[0] == 8000
    assert not lock.locked()


def test_non_blocking_and_timed_acquire_give_up_on_a_held_lock() -> None:
    lock = YieldingLock()
    assert lock.acquire()
    results: list[bool] = []

    def other() -> None:
        results.append(lock.acquire(False))
        results.append(lock.acquire(timeout=0.05))

    (t,) = run(other, 1)
    t.join(10)
    assert results == [False, False]
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_acquire_takes_an_rlock_and_stays_reentrant() -> None:
    rlock = threading.RLock()
    acquire(rlock)
    acquire(rlock)  # the same thread again: re-entrant, not a deadlock
    rlock.release()
    rlock.release()
    with pytest.raises(RuntimeError):
        rlock.release()
