"""Rate limiters: client-go's default_rate_limiters_test.go cases, plus the token bucket."""

from __future__ import annotations

import pytest

from kubeloop.clock import FakeClock
from kubeloop.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)

MS = 0.001
MINUTE = 60.0
HOUR = 3600.0


def assert_counts_failures_per_item(
    limiter: RateLimiter[str], one: list[float], two: list[float]
) -> None:
    """The upstream script: five failures of "one", two of "two", then forget "one"."""
    assert [limiter.when("one") for _ in range(5)] == one
    assert limiter.num_requeues("one") == 5

    assert [limiter.when("two") for _ in range(2)] == two
    assert limiter.num_requeues("two") == 2

    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == one[0]


def test_item_exponential_failure_rate_limiter() -> None:
    assert_counts_failures_per_item(
        ItemExponentialFailureRateLimiter(MS, 1),
        one=[1 * MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS],
        two=[1 * MS, 2 * MS],
    )


def test_item_exponential_failure_rate_limiter_overflow() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(MS, 1000)
    for _ in range(5):
        limiter.when("one")
    assert limiter.when("one") == 32 * MS

    for _ in range(1000):
        limiter.when("overflow1")
    assert limiter.when("overflow1") == 1000

    limiter = ItemExponentialFailureRateLimiter(MINUTE, 1000 * HOUR)
    for _ in range(2):
        limiter.when("two")
    assert limiter.when("two") == 4 * MINUTE

    for _ in range(1000):
        limiter.when("overflow2")
    assert limiter.when("overflow2") == 1000 * HOUR


def test_item_exponential_failure_rate_limiter_past_float_range() -> None:
    # 2**1100 is not a float: the delay must still be the cap, not an error.
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(0.005, 1000)
    for _ in range(2000):
        limiter.when("stuck")
    assert limiter.when("stuck") == 1000
    assert limiter.num_requeues("stuck") == 2001


def test_item_fast_slow_rate_limiter() -> None:
    assert_counts_failures_per_item(
        ItemFastSlowRateLimiter(5 * MS, 10, 3),
        one=[5 * MS, 5 * MS, 5 * MS, 10, 10],
        two=[5 * MS, 5 * MS],
    )


def test_max_of_rate_limiter() -> None:
    assert_counts_failures_per_item(
        MaxOfRateLimiter(
            ItemFastSlowRateLimiter(5 * MS, 3, 3), ItemExponentialFailureRateLimiter(MS, 1)
        ),
        one=[5 * MS, 5 * MS, 5 * MS, 3, 3],
        two=[5 * MS, 5 * MS],
    )


class StepRateLimiter:
    """baseDelay for the first ``threshold`` calls (any item), then maxDelay."""

    def __init__(self, base_delay: float, max_delay: float, threshold: int) -> None:
        self.count = 0
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.threshold = threshold

    def when(self, item: int) -> float:
        self.count += 1
        return self.base_delay if self.count <= self.threshold else self.max_delay

    def num_requeues(self, item: int) -> int:
        return 0

    def forget(self, item: int) -> None:
        pass


def test_with_max_wait_rate_limiter() -> None:
    limiter: WithMaxWaitRateLimiter[int] = WithMaxWaitRateLimiter(
        StepRateLimiter(5 * MS, 1000, 100), 500
    )
    assert [limiter.when(i) for i in range(100)] == [5 * MS] * 100
    assert [limiter.when(i) for i in range(100, 200)] == [500] * 100


def test_bucket_rate_limiter() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=10, burst=2, clock=clock)
    # The burst is free; after it, each reservation waits one more token (0.1 s).
    assert [limiter.when("x") for _ in range(4)] == pytest.approx([0, 0, 0.1, 0.2])
    # 0.3 s refills 3 tokens and pays the debt of 2: one free reservation.
    clock.step(0.3)
    assert limiter.when("x") == 0
    assert limiter.when("x") == pytest.approx(0.1)
    # A long pause refills only up to the burst.
    clock.step(100)
    assert [limiter.when("x") for _ in range(3)] == pytest.approx([0, 0, 0.1])
    # Overall, not per item: nothing to count or forget.
    assert limiter.num_requeues("x") == 0
    limiter.forget("x")


def test_bucket_rate_limiter_infinite_qps_never_waits() -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=float("inf"), burst=0)
    assert [limiter.when("x") for _ in range(1000)] == [0] * 1000


def test_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter(clock=clock)
    # Per item: 5 ms doubling; the bucket's burst of 100 absorbs the first 100.
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.010, 0.020]
    assert limiter.num_requeues("a") == 3
    for i in range(97):
        assert limiter.when(f"item-{i}") == 0.005
    # The 101st retry overall waits for the 10 qps bucket: max-of picks it.
    assert limiter.when("b") == pytest.approx(0.1)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    # Per item 5 ms..1000 s.
    for _ in range(100):
        limiter.when("c")
    clock.step(10_000)
    assert limiter.when("c") == 1000
