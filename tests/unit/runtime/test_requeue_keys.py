"""``requeue_keys``: the keys a periodic requeue round reconciles (a sweep
of actual state), one round as soon as the workers start, then one every
``requeue_every``; without a period, the start round only. The controller's
requeue thread runs over a runner whose queue is read back; the stop event
stands in for the clock, so no test waits for a real period."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kubeloop.runtime import Controller, Result, Runner

WAIT = 10.0


class PeriodStop(threading.Event):
    """A stop event on which each timed wait "times out" at once (a period
    passed) until ``periods`` have passed, then stop is set. Each wait
    records its timeout and the keys queued before it."""

    def __init__(self, runner: Runner[object], periods: int) -> None:
        super().__init__()
        self.runner = runner
        self.periods = periods
        self.waits: list[float | None] = []
        self.rounds: list[set[str]] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        self.rounds.append(drain(self.runner))
        if timeout is not None and len(self.waits) <= self.periods:
            return False
        self.set()
        return True


def drain(runner: Runner[object]) -> set[str]:
    keys = set()
    while len(runner.queue):
        key, _ = runner.queue.get()
        assert key is not None
        runner.queue.done(key)
        keys.add(key)
    return keys


def reconcile(ctx: object, obj: object) -> Result:
    return Result.done()


@pytest.fixture
def runner() -> Iterator[Runner[object]]:
    r: Runner[object] = Runner("things", reconcile, lambda key: None)
    yield r
    r.stop(WAIT)


def controller(**options: object) -> Controller[object]:
    return Controller(("example.com/v1", "Foo"), reconcile, **options)  # type: ignore[arg-type]


def test_requeue_keys_run_at_start_then_every_period(runner: Runner[object]) -> None:
    rounds = iter([["ns/a"], ["ns/b"], ["ns/a", "ns/c"], ["ns/d"]])
    c = controller(requeue_every=2.0, requeue_keys=lambda: next(rounds))
    stop = PeriodStop(runner, periods=3)
    thread = c._start_requeue(runner, stop)
    assert thread is not None
    thread.join(WAIT)
    assert not thread.is_alive()
    assert stop.waits == [2.0] * 4
    # The start round is queued before the first wait; each period's after it.
    assert stop.rounds == [{"ns/a"}, {"ns/b"}, {"ns/a", "ns/c"}, {"ns/d"}]


def test_without_a_period_requeue_keys_run_once_at_start(runner: Runner[object]) -> None:
    calls: list[int] = []

    def keys() -> list[str]:
        calls.append(1)
        return ["ns/orphan"]

    c = controller(requeue_keys=keys)
    stop = threading.Event()
    thread = c._start_requeue(runner, stop)
    assert thread is not None
    thread.join(WAIT)  # ends by itself: no period to wait for, stop never set
    assert not thread.is_alive()
    assert calls == [1]
    assert drain(runner) == {"ns/orphan"}


def test_a_failing_round_is_logged_and_the_next_one_runs(
    runner: Runner[object], caplog: pytest.LogCaptureFixture
) -> None:
    results: Iterator[list[str]] = iter([["ns/a"]])

    def keys() -> list[str]:
        if not caplog.records:
            raise RuntimeError("backend down")
        return next(results)

    c = controller(requeue_every=1.0, requeue_keys=keys)
    stop = PeriodStop(runner, periods=1)
    thread = c._start_requeue(runner, stop)
    assert thread is not None
    thread.join(WAIT)
    assert "periodic requeue failed" in caplog.text
    assert stop.rounds == [set(), {"ns/a"}]


def test_no_period_and_no_keys_start_no_thread(runner: Runner[object]) -> None:
    assert controller()._start_requeue(runner, threading.Event()) is None
