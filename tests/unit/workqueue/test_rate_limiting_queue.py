"""RateLimitingQueue: client-go's rate_limiting_queue_test.go case, on a fake clock."""

from __future__ import annotations

from kubeloop.clock import Clock, FakeClock
from kubeloop.workqueue import (
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimitingQueue,
)

MS = 0.001


class RecordingQueue(RateLimitingQueue[str]):
    """Records every add_after, as the upstream test reads the waitingForAdd channel."""

    def __init__(self, limiter: RateLimiter[str], clock: Clock) -> None:
        super().__init__(limiter, clock=clock)
        self.delays: list[tuple[str, float]] = []

    def add_after(self, item: str, seconds: float) -> None:
        self.delays.append((item, seconds))
        super().add_after(item, seconds)


def test_rate_limiting_queue() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(MS, 1)
    queue = RecordingQueue(limiter, clock=FakeClock())

    queue.add_rate_limited("one")
    queue.add_rate_limited("one")
    assert queue.delays == [("one", 1 * MS), ("one", 2 * MS)]
    assert queue.num_requeues("one") == 2

    queue.add_rate_limited("two")
    queue.add_rate_limited("two")
    assert queue.delays[2:] == [("two", 1 * MS), ("two", 2 * MS)]

    queue.forget("one")
    assert queue.num_requeues("one") == 0
    queue.add_rate_limited("one")
    assert queue.delays[4:] == [("one", 1 * MS)]
    queue.shut_down()


def test_add_rate_limited_hands_the_item_out_after_its_delay() -> None:
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(
        ItemExponentialFailureRateLimiter(1.0, 100.0), clock=clock
    )
    q.add("key")
    item, _ = q.get()
    assert item == "key"
    q.add_rate_limited("key")  # failure 1: 1 s
    q.done("key")
    assert clock.wait_for_waiters()
    assert len(q) == 0
    clock.step(0.5)
    assert clock.wait_for_waiters()
    assert len(q) == 0
    clock.step(0.5)
    assert q.get() == ("key", False)
    q.forget("key")  # success: back-off reset, but done is still needed
    assert q.num_requeues("key") == 0
    q.done("key")
    assert len(q) == 0
    q.shut_down()


def test_default_rate_limiter_is_fresh_per_queue() -> None:
    a: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock())
    b: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock())
    assert isinstance(a.rate_limiter, MaxOfRateLimiter)
    a.add_rate_limited("x")
    assert a.num_requeues("x") == 1
    assert b.num_requeues("x") == 0
    a.shut_down()
    b.shut_down()
