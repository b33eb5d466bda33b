"""DelayingQueue: client-go's delaying_queue_test.go cases, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from kubeloop.clock import FakeClock
from kubeloop.workqueue import DelayingQueue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def settle(clock: FakeClock) -> None:
    """Wait until the timer thread has reacted to the last step and sleeps again."""
    assert clock.wait_for_waiters(1), "timer thread did not go back to waiting"


def test_simple_queue(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 0.050)
    settle(clock)
    assert len(q) == 0, "should not have added"

    clock.step(0.060)
    assert q.get() == ("foo", False)
    q.done("foo")

    clock.step(10)  # past client-go's heartbeat: nothing must appear
    settle(clock)
    assert len(q) == 0, "should not have added"
    q.shut_down()


def test_deduping(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 0.050)
    q.add_after("foo", 0.070)
    settle(clock)
    assert len(q) == 0, "should not have added"

    clock.step(0.060)  # past the first: we should receive it now
    assert q.get() == ("foo", False)
    q.done("foo")

    clock.step(0.020)  # past the second add: it was merged into the first
    settle(clock)
    assert len(q) == 0, "should not have added"

    # Again, but this time the earlier add comes second and overrides.
    q.add_after("foo", 0.050)
    q.add_after("foo", 0.030)
    settle(clock)
    assert len(q) == 0, "should not have added"

    clock.step(0.040)
    assert q.get() == ("foo", False)
    q.done("foo")

    clock.step(0.020)
    settle(clock)
    assert len(q) == 0, "should not have added"
    q.shut_down()


def test_add_two_fire_early(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 1)
    q.add_after("bar", 0.050)
    settle(clock)
    assert len(q) == 0, "should not have added"

    clock.step(0.060)
    assert q.get() == ("bar", False)

    q.add_after("baz", 2)
    clock.step(1)
    assert q.get() == ("foo", False)

    clock.step(2)
    assert q.get() == ("baz", False)
    q.shut_down()


def test_copy_shifting(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 1)
    q.add_after("bar", 0.500)
    q.add_after("baz", 0.250)
    settle(clock)
    assert len(q) == 0, "should not have added"

    clock.step(2)
    settle(clock)
    assert len(q) == 3
    assert [q.get()[0] for _ in range(3)] == ["baz", "bar", "foo"]
    q.shut_down()


def test_add_after_non_positive_delay_adds_at_once(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("zero", 0)
    q.add_after("negative", -1)
    assert len(q) == 2
    q.shut_down()


def test_items_due_at_the_same_time_keep_their_add_order(clock: FakeClock) -> None:
    q: DelayingQueue[int] = DelayingQueue(clock=clock)
    for i in range(5):
        q.add_after(i, 1)
    clock.step(1)
    settle(clock)
    assert [q.get()[0] for _ in range(5)] == [0, 1, 2, 3, 4]
    q.shut_down()


def test_add_after_shut_down_is_dropped(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.shut_down()
    q.add_after("late", 0)
    q.add_after("later", 1)
    clock.step(2)
    assert q.get() == (None, True)


def timer_threads(q: DelayingQueue[str]) -> list[threading.Thread]:
    """The timer threads of ``q`` itself (an unnamed queue's timer is named
    after the queue's id), whatever other threads the process runs."""
    return [t for t in threading.enumerate() if t.name == f"workqueue-delay-{id(q)}"]


def test_shut_down_stops_the_timer_thread(clock: FakeClock) -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 100)
    settle(clock)
    (timer,) = timer_threads(q)
    q.shut_down()
    assert not timer.is_alive()
    assert clock.waiters() == 0


def test_no_timer_thread_until_the_first_delayed_add() -> None:
    """A queue that never delays costs no thread; the first delayed add
    starts exactly one."""
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("now", 0)
    assert timer_threads(q) == []
    q.add_after("later", 100)
    q.add_after("later still", 200)
    (timer,) = timer_threads(q)
    q.shut_down()
    assert not timer.is_alive()


def test_real_clock_delay_is_honoured() -> None:
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("soon", 0.02)
    assert len(q) == 0
    assert q.get() == ("soon", False)  # blocks until the timer thread adds it
    q.shut_down()
