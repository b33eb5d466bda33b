"""The runner on fakes: a fake clock, a dict as the cache, every branch of
one reconcile attempt, and the worker threads' stop and exclusivity."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.runtime import (
    Context,
    ReconcileMetrics,
    ReconcileTimeoutError,
    Result,
    Runner,
    TerminalError,
)
from kubeloop.workqueue import FakeClock, RateLimitingQueue

WAIT = 10.0


class Harness:
    """A runner over a dict cache, a fake-clock queue and its own registry."""

    def __init__(self, reconcile: Any, *, timeout: float | None = None) -> None:
        self.clock = FakeClock()
        self.cache: dict[str, Any] = {}
        self.registry = CollectorRegistry()
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(clock=self.clock)
        self.runner: Runner[Any] = Runner(
            "things",
            reconcile,
            self.cache.get,
            queue=self.queue,
            metrics=ReconcileMetrics("things", self.registry),
            clock=self.clock,
            timeout=timeout,
        )

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"controller": "things", **labels})
        return value or 0.0

    def total(self, result: str) -> float:
        return self.sample("controller_runtime_reconcile_total", result=result)

    def run_one(self, key: str = "ns/a") -> None:
        """Add ``key`` and process exactly one item, in this thread."""
        self.queue.add(key)
        assert self.runner.process_next_work_item()

    def step_until_queued(self, seconds: float) -> None:
        """Move the fake clock and wait until the delay timer has reacted."""
        self.clock.step(seconds)
        assert self.clock.wait_for_waiters(1, WAIT)


@pytest.fixture
def calls() -> list[tuple[Context[Any], Any]]:
    return []


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        h.runner.stop(WAIT)


def make(harnesses: list[Harness], reconcile: Any, **kw: Any) -> Harness:
    h = Harness(reconcile, **kw)
    harnesses.append(h)
    return h


def test_done_forgets_the_key_and_counts_success(harnesses: list[Harness]) -> None:
    seen: list[Any] = []
    h = make(harnesses, lambda ctx, obj: seen.append((ctx.key, ctx.namespace, ctx.name, obj)))
    h.cache["ns/a"] = {"metadata": {"name": "a"}}
    h.run_one()
    assert seen == [("ns/a", "ns", "a", {"metadata": {"name": "a"}})]
    assert h.queue.num_requeues("ns/a") == 0 and len(h.queue) == 0
    assert h.total("success") == 1 and h.total("error") == 0
    assert h.sample("controller_runtime_reconcile_time_seconds_count") == 1


def test_requeue_after_adds_the_key_back_once_the_delay_has_passed(
    harnesses: list[Harness],
) -> None:
    h = make(harnesses, lambda ctx, obj: Result.after(10.0))
    h.run_one()
    assert h.total("requeue_after") == 1
    h.step_until_queued(9.5)
    assert len(h.queue) == 0
    h.step_until_queued(0.5)
    assert len(h.queue) == 1
    assert h.queue.num_requeues("ns/a") == 0  # not a failure


def test_backoff_result_requeues_with_rate_limit_without_an_error(
    harnesses: list[Harness],
) -> None:
    h = make(harnesses, lambda ctx, obj: Result.backoff())
    h.run_one()
    assert h.queue.num_requeues("ns/a") == 1
    assert h.total("requeue") == 1
    assert h.sample("controller_runtime_reconcile_errors_total") == 0


def test_an_exception_backs_off_per_key_and_a_success_resets_it(
    harnesses: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    outcomes = [RuntimeError("backend down"), RuntimeError("still down"), None]

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    h = make(harnesses, reconcile)
    caplog.set_level(logging.ERROR, logger="kubeloop.runtime")
    h.run_one()
    assert h.queue.num_requeues("ns/a") == 1
    assert len(h.queue) == 0  # waits 5 ms first
    h.step_until_queued(0.005)
    assert h.runner.process_next_work_item()
    assert h.queue.num_requeues("ns/a") == 2
    h.step_until_queued(0.010)  # doubled
    assert h.runner.process_next_work_item()
    assert h.queue.num_requeues("ns/a") == 0
    assert (h.total("error"), h.total("success")) == (2, 1)
    assert h.sample("controller_runtime_reconcile_errors_total") == 2
    errors = [r for r in caplog.records if r.getMessage() == "Reconciler error"]
    assert [r.kvs["error"] for r in errors] == ["backend down", "still down"]  # type: ignore[attr-defined]
    assert errors[0].kvs["name"] == "a" and errors[0].kvs["controller"] == "things"  # type: ignore[attr-defined]


def test_a_terminal_error_is_not_retried_and_is_counted_apart(
    harnesses: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    def reconcile(ctx: Context[Any], obj: Any) -> None:
        raise TerminalError("spec.cidr is not a CIDR")

    h = make(harnesses, reconcile)
    caplog.set_level(logging.ERROR, logger="kubeloop.runtime")
    h.run_one()
    assert h.queue.num_requeues("ns/a") == 0
    h.clock.step(2000.0)  # past any backoff
    assert len(h.queue) == 0
    assert h.total("error") == 1
    assert h.sample("controller_runtime_reconcile_errors_total") == 1
    assert h.sample("controller_runtime_terminal_reconcile_errors_total") == 1
    assert [r.getMessage() for r in caplog.records] == ["Reconciler error (terminal: not retried)"]


def test_an_absent_key_gets_none_and_the_last_known_state_until_a_success(
    harnesses: list[Harness],
) -> None:
    seen: list[tuple[Any, Any]] = []
    fail = [True]

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        seen.append((obj, ctx.last_known))
        if fail.pop(0) if fail else False:
            raise RuntimeError("cleanup failed")

    h = make(harnesses, reconcile)
    final = {"metadata": {"name": "a", "uid": "u1"}}
    h.runner.last_known.record("ns/a", final)
    h.run_one()  # fails: the state is kept for the retry
    h.run_one()  # succeeds: the state is dropped
    h.run_one()
    assert seen == [(None, final), (None, final), (None, None)]
    assert len(h.runner.last_known) == 0


def test_a_delete_recorded_during_a_reconcile_survives_its_success(
    harnesses: list[Harness],
) -> None:
    newer = {"metadata": {"name": "a", "uid": "u2"}}
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        h.runner.last_known.record("ns/a", newer)  # the Delete event arrives now

    h = make(harnesses, reconcile)
    h.runner.last_known.record("ns/a", {"metadata": {"name": "a", "uid": "u1"}})
    h.run_one()
    assert h.runner.last_known.get("ns/a")[1] is newer


def test_a_present_key_gets_no_last_known_state_and_clears_it(harnesses: list[Harness]) -> None:
    seen: list[Any] = []
    h = make(harnesses, lambda ctx, obj: seen.append(ctx.last_known))
    h.cache["ns/a"] = {"metadata": {"name": "a", "uid": "u2"}}
    h.runner.last_known.record("ns/a", {"metadata": {"name": "a", "uid": "u1"}})
    h.run_one()
    assert seen == [None] and len(h.runner.last_known) == 0


def test_a_terminal_error_drops_the_last_known_state(harnesses: list[Harness]) -> None:
    def reconcile(ctx: Context[Any], obj: Any) -> None:
        raise TerminalError("no")

    h = make(harnesses, reconcile)
    h.runner.last_known.record("ns/a", {"metadata": {"name": "a"}})
    h.run_one()
    assert len(h.runner.last_known) == 0


def test_a_reconcile_past_its_timeout_fails_whatever_it_returned(
    harnesses: list[Harness],
) -> None:
    remaining: list[float | None] = []
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> Result:
        remaining.append(ctx.remaining())
        h.clock.step(4.0)
        remaining.append(ctx.remaining())
        ctx.check_deadline()  # 1 s left: fine
        h.clock.step(2.0)
        return Result.after(60.0)

    h = make(harnesses, reconcile, timeout=5.0)
    h.run_one()
    assert remaining == [5.0, 1.0]
    assert h.total("error") == 1 and h.total("requeue_after") == 0
    assert h.queue.num_requeues("ns/a") == 1


def test_check_deadline_raises_once_the_timeout_has_passed(harnesses: list[Harness]) -> None:
    errors: list[BaseException] = []
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        h.clock.step(5.0)
        try:
            ctx.check_deadline()
        except ReconcileTimeoutError as err:
            errors.append(err)
            raise

    h = make(harnesses, reconcile, timeout=5.0)
    h.run_one()
    assert len(errors) == 1 and h.total("error") == 1


def test_without_a_timeout_nothing_expires(harnesses: list[Harness]) -> None:
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        h.clock.step(10_000.0)
        assert ctx.remaining() is None
        ctx.check_deadline()

    h = make(harnesses, reconcile)
    h.run_one()
    assert h.total("success") == 1


def test_a_return_value_that_is_not_a_result_is_an_error(harnesses: list[Harness]) -> None:
    h = make(harnesses, lambda ctx, obj: "ok")
    h.run_one()
    assert h.total("error") == 1 and h.queue.num_requeues("ns/a") == 1


def test_result_refuses_a_delay_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Result.after(0)
    assert Result.done() == Result() and Result.after(2).requeue_after == 2.0


def test_an_async_reconcile_is_refused_by_the_threaded_runner() -> None:
    async def reconcile(ctx: Context[Any], obj: Any) -> None:
        return None

    with pytest.raises(TypeError, match="async"):
        Runner("things", reconcile, dict().get)  # type: ignore[arg-type]


def test_a_failing_cache_read_is_logged_and_the_worker_goes_on(
    harnesses: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = make(harnesses, lambda ctx, obj: None)

    def broken(key: str) -> Any:
        raise KeyError(key)

    h.runner._get = broken
    caplog.set_level(logging.ERROR, logger="kubeloop.runtime")
    h.run_one()
    assert "runner failed handling key" in caplog.text


def test_the_event_helper_records_on_the_object_or_its_last_known_state(
    harnesses: list[Harness],
) -> None:
    events: list[tuple[Any, str, str, str]] = []

    class Recorder:
        def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
            events.append((obj, event_type, reason, message))

    h = make(harnesses, lambda ctx, obj: ctx.event("Normal", "Seen", ctx.key))
    h.runner._recorder = Recorder()
    h.cache["ns/a"] = live = {"metadata": {"name": "a"}}
    final = {"metadata": {"name": "b"}}
    h.runner.last_known.record("ns/b", final)
    h.run_one("ns/a")
    h.run_one("ns/b")
    assert events == [(live, "Normal", "Seen", "ns/a"), (final, "Normal", "Seen", "ns/b")]


# -- threads ------------------------------------------------------------------


def test_active_workers_and_max_concurrent_reconciles(harnesses: list[Harness]) -> None:
    inside = threading.Event()
    release = threading.Event()
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        inside.set()
        assert release.wait(WAIT)

    h = make(harnesses, reconcile)
    h.runner.start(3)
    assert h.sample("controller_runtime_max_concurrent_reconciles") == 3
    h.queue.add("ns/a")
    assert inside.wait(WAIT)
    assert h.sample("controller_runtime_active_workers") == 1
    release.set()
    assert h.runner.stop(WAIT)
    assert h.sample("controller_runtime_active_workers") == 0


def test_stop_finishes_the_reconcile_in_flight_and_takes_no_new_work(
    harnesses: list[Harness],
) -> None:
    inside = threading.Event()
    reconciled: list[str] = []
    h: Harness

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        inside.set()
        assert h.runner._stopping.wait(WAIT)  # still in flight when stop begins
        reconciled.append(ctx.key)

    h = make(harnesses, reconcile)
    h.runner.start(1)
    h.queue.add("ns/a")
    assert inside.wait(WAIT)
    h.queue.add("ns/b")  # queued behind the one in flight
    assert h.runner.stop(WAIT) is True
    assert reconciled == ["ns/a"]
    assert h.total("success") == 1


def test_stop_reports_a_reconcile_that_outlives_the_timeout(harnesses: list[Harness]) -> None:
    inside = threading.Event()
    release = threading.Event()

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        inside.set()
        assert release.wait(WAIT)

    h = make(harnesses, reconcile)
    h.runner.start(1)
    h.queue.add("ns/a")
    assert inside.wait(WAIT)
    assert h.runner.stop(0.01) is False
    release.set()
    assert h.runner.stop(WAIT) is True


def test_one_key_is_never_in_two_reconciles_at_once(harnesses: list[Harness]) -> None:
    lock = threading.Lock()
    active = 0
    most = 0
    log: list[str] = []
    first_inside = threading.Event()
    release = threading.Event()
    second_done = threading.Event()

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
            log.append("start")
            first = len(log) == 1
        if first:
            first_inside.set()
            assert release.wait(WAIT)
        with lock:
            active -= 1
            log.append("end")
        if not first:
            second_done.set()

    h = make(harnesses, reconcile)
    h.runner.start(4)
    h.queue.add("ns/a")
    assert first_inside.wait(WAIT)
    h.queue.add("ns/a")  # changed again while being reconciled
    release.set()
    assert second_done.wait(WAIT)
    assert log == ["start", "end", "start", "end"] and most == 1


def test_events_of_list_items_name_the_kind_the_controller_knows(
    harnesses: list[Harness],
) -> None:
    events: list[Any] = []

    class Recorder:
        def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
            events.append(obj)

    h = make(harnesses, lambda ctx, obj: ctx.event("Normal", "Seen", "seen"))
    h.runner._recorder = Recorder()
    h.runner.kind = ("apps/v1", "Deployment")
    h.cache["ns/a"] = item = {"metadata": {"name": "a"}}  # as a LIST item: no kind
    h.run_one()
    assert events == [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}]
    assert "kind" not in item  # the cached object is left alone


def test_a_failure_after_the_reconcile_still_counts_the_worker_out(
    harnesses: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """The worker leaves active_workers in the same step that counts the
    result; if deciding what next fails (a bug of ours), it still leaves,
    and the attempt counts as an error."""
    h = Harness(lambda ctx, obj: None)
    harnesses.append(h)

    def broken_forget(key: str) -> None:
        raise RuntimeError("forget failed")

    h.queue.forget = broken_forget  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="kubeloop.runtime"):
        h.run_one()
    assert "runner failed handling key" in caplog.text
    assert h.sample("controller_runtime_active_workers") == 0
    assert h.total("error") == 1
    assert h.total("success") == 0
