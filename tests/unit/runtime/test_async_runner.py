"""The async runner on fakes: the sync runner's contract for ``async def``
reconcilers (one attempt is shared code: begin/finish), plus what tasks
allow: at most ``workers`` in flight, a reconcile cancelled at its
timeout, stop draining in-flight tasks, and a clear error for the wrong
kind of function."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.runtime import (
    AsyncRunner,
    Context,
    ReconcileMetrics,
    Result,
    Runner,
    TerminalError,
)
from kubeloop.runtime.loop import LoopThread
from kubeloop.workqueue import RateLimitingQueue

WAIT = 10.0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    thread = LoopThread("kubeloop-test-loop")
    yield thread.loop
    thread.stop()


class Harness:
    def __init__(self, reconcile: Any, loop: asyncio.AbstractEventLoop, **kw: Any) -> None:
        self.registry = CollectorRegistry()
        self.queue: RateLimitingQueue[str] = RateLimitingQueue()
        self.cache: dict[str, Any] = {}
        self.runner: AsyncRunner[Any] = AsyncRunner(
            "things",
            reconcile,
            self.cache.get,
            loop=loop,
            queue=self.queue,
            metrics=ReconcileMetrics("things", self.registry),
            **kw,
        )

    def total(self, result: str) -> float:
        labels = {"controller": "things", "result": result}
        return self.registry.get_sample_value("controller_runtime_reconcile_total", labels) or 0.0


class Log:
    """What the reconciles did, with a condition to wait on from the test thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.entries: list[str] = []

    def add(self, entry: str) -> None:
        with self.cond:
            self.entries.append(entry)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.entries) >= count, WAIT), self.entries
            return list(self.entries)


def test_a_plain_function_is_refused_and_so_is_async_def_by_the_threaded_runner(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def areconcile(ctx: Context[Any], obj: Any) -> None:
        return None

    with pytest.raises(TypeError, match="takes an async def"):
        AsyncRunner("x", lambda ctx, obj: None, {}.get, loop=loop)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="not async def"):
        Runner("x", areconcile, {}.get)


def test_results_and_errors_follow_the_sync_contract(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()

    async def reconcile(ctx: Context[Any], obj: Any) -> Result | None:
        log.add(ctx.key)
        await asyncio.sleep(0)
        if ctx.key == "ns/after":
            return Result.after(3600)
        if ctx.key == "ns/fails" and log.entries.count("ns/fails") == 1:
            raise RuntimeError("first try fails")
        if ctx.key == "ns/terminal":
            raise TerminalError("never retried")
        return None

    h = Harness(reconcile, loop)
    h.runner.start(2)
    for key in ("ns/after", "ns/fails", "ns/terminal", "ns/ok"):
        h.queue.add(key)
    entries = log.wait_for(5)  # the failed key again, after its 5 ms backoff
    assert h.runner.stop(WAIT)
    assert sorted(entries) == sorted(["ns/after", "ns/fails", "ns/fails", "ns/terminal", "ns/ok"])
    assert h.total("requeue_after") == 1 and h.total("error") == 2 and h.total("success") == 2
    assert h.queue.num_requeues("ns/fails") == 0  # forgotten after the success
    assert h.queue.num_requeues("ns/terminal") == 0


def test_at_most_workers_reconciles_run_at_once_all_on_the_loop_thread(
    loop: asyncio.AbstractEventLoop,
) -> None:
    workers, keys = 3, 10
    state = {"now": 0, "most": 0}
    threads: set[str] = set()
    log = Log()
    gate = asyncio.Event()

    async def reconcile(ctx: Context[Any], obj: Any) -> None:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        threads.add(threading.current_thread().name)
        if state["now"] == workers:
            gate.set()
        await gate.wait()
        state["now"] -= 1
        log.add(ctx.key)

    h = Harness(reconcile, loop)
    for i in range(keys):
        h.queue.add(f"ns/k{i}")
    h.runner.start(workers)
    log.wait_for(keys)
    assert h.runner.stop(WAIT)
    assert state["most"] == workers
    assert threads == {"kubeloop-test-loop"}


def test_a_reconcile_that_outlives_its_timeout_is_cancelled_and_retried(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log = Log()

    async def reconcile(ctx: Context[Any], obj: Any) -> None:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            log.add("cancelled")
            raise

    h = Harness(reconcile, loop, timeout=0.05)
    h.runner.start(1)
    h.queue.add("ns/slow")
    log.wait_for(1)
    assert h.runner.stop(WAIT)
    assert h.total("error") >= 1
    assert h.queue.num_requeues("ns/slow") >= 1


def test_stop_waits_for_in_flight_reconciles_and_reports_one_past_the_timeout(
    loop: asyncio.AbstractEventLoop,
) -> None:
    started = threading.Event()
    release = asyncio.Event()

    async def reconcile(ctx: Context[Any], obj: Any) -> None:
        started.set()
        await release.wait()

    h = Harness(reconcile, loop)
    h.runner.start(1)
    h.queue.add("ns/busy")
    assert started.wait(WAIT)
    assert not h.runner.stop(0.05)  # still in flight
    loop.call_soon_threadsafe(release.set)
    assert h.runner.stop(WAIT)  # drained
    assert h.total("success") == 1
