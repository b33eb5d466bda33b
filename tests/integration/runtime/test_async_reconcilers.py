"""Async reconcilers on testenv: ``async def reconcile`` using only
AsyncClient calls, run by ``await manager.run_async()`` (asyncio's loop and
uvloop) and by the blocking ``run()`` (a loop the manager owns), as at most
``workers`` tasks at once, on the loop's thread (no thread per reconcile),
with the sync reconcilers' contract (requeue_after, errors retried)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from kubeloop.client import AsyncClient, load_config
from kubeloop.runtime import Context, Manager, Result
from tests.integration.runtime.conftest import configmap, running

pytestmark = pytest.mark.integration

WORKERS = 3
OBJECTS = 9  # all queued at once by the initial list: more than WORKERS can take

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


class Gauge:
    """How many reconciles are in flight, the most there ever were, and a
    gate that holds them until ``WORKERS`` are in flight at once."""

    def __init__(self, total: int) -> None:
        self.current = 0
        self.most = 0
        self.total = total
        self.threads: set[str] = set()
        self.done: set[str] = set()
        self.gate = asyncio.Event()
        self.all_done = asyncio.Event()

    async def enter(self) -> None:
        self.current += 1
        self.most = max(self.most, self.current)
        self.threads.add(threading.current_thread().name)
        if self.current == WORKERS:
            self.gate.set()  # WORKERS at once: from now on they run freely
        await self.gate.wait()

    def leave(self) -> None:
        self.current -= 1

    def reconciled(self, name: str) -> None:
        self.done.add(name)
        if len(self.done) == self.total:
            self.all_done.set()


def seed(kubeconfig: str, namespace: str) -> None:
    async def main() -> None:
        async with AsyncClient(load_config(kubeconfig=kubeconfig)) as client:
            cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
            for i in range(OBJECTS):
                await cms.create(configmap(f"cm{i}"))

    asyncio.run(main())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_run_async_runs_async_reconcilers_as_at_most_workers_tasks_on_its_loop(
    loop: str, make_manager: Callable[..., Manager], kubeconfig: str, namespace: str
) -> None:
    seed(kubeconfig, namespace)

    async def main() -> tuple[int, Gauge, str, list[str], list[str]]:
        gauge = Gauge(OBJECTS)
        failed_once: list[str] = []
        async with AsyncClient(load_config(kubeconfig=kubeconfig)) as client:
            cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)

            async def reconcile(ctx: Context[Any], obj: Any) -> Result | None:
                if obj is None:
                    return None
                name = obj["metadata"]["name"]
                await gauge.enter()
                try:
                    if name == "cm0" and not failed_once:
                        failed_once.append(name)
                        raise RuntimeError("first try fails: retried with backoff")
                    await cms.patch(name, {"metadata": {"annotations": {"seen": "yes"}}})
                    live = await cms.get(name)
                    assert live["metadata"]["annotations"]["seen"] == "yes"
                    gauge.reconciled(name)
                finally:
                    gauge.leave()
                return Result.after(3600)  # requeue_after: no other retry for it

            manager = make_manager()
            manager.controller(("v1", "ConfigMap"), reconcile, workers=WORKERS)
            stop = asyncio.Event()
            run = asyncio.create_task(manager.run_async(stop))
            await asyncio.wait_for(gauge.all_done.wait(), 60)
            stop.set()
            code = await asyncio.wait_for(run, 60)
            annotated = [
                o["metadata"]["name"]
                for o in (await cms.list()).items
                if (o["metadata"].get("annotations") or {}).get("seen") == "yes"
            ]
        return code, gauge, threading.current_thread().name, annotated, failed_once

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        code, gauge, loop_thread, annotated, failed_once = runner.run(main())
    assert code == 0
    assert gauge.most == WORKERS  # reached, never passed
    assert gauge.threads == {loop_thread}  # every reconcile on the awaiting loop's thread
    assert sorted(annotated) == sorted(f"cm{i}" for i in range(OBJECTS))
    assert failed_once == ["cm0"]  # and cm0 was then retried to success


def test_the_blocking_run_gives_async_reconcilers_a_loop_of_the_managers(
    make_manager: Callable[..., Manager], kubeconfig: str, namespace: str
) -> None:
    seed(kubeconfig, namespace)
    threads: set[str] = set()
    seen: set[str] = set()
    cond = threading.Condition()
    client = AsyncClient(load_config(kubeconfig=kubeconfig))  # used on the manager's loop
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    loops: list[asyncio.AbstractEventLoop] = []

    async def reconcile(ctx: Context[Any], obj: Any) -> None:
        if obj is None:
            return
        loops.append(asyncio.get_running_loop())
        got = await cms.get(obj["metadata"]["name"])
        with cond:
            threads.add(threading.current_thread().name)
            seen.add(got["metadata"]["name"])
            cond.notify_all()

    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconcile, workers=WORKERS)
    with running(manager), cond:
        assert cond.wait_for(lambda: len(seen) == OBJECTS, 60), seen
        # The client's connections belong to the manager's loop: close it there.
        asyncio.run_coroutine_threadsafe(client.aclose(), loops[0]).result(10)
    assert threads == {"kubeloop-reconcile-loop"}
    assert len(set(loops)) == 1


def test_cancelling_run_async_stops_the_manager_and_waits_for_it(
    make_manager: Callable[..., Manager], kubeconfig: str, namespace: str
) -> None:
    seed(kubeconfig, namespace)

    async def main() -> None:
        reconciled = asyncio.Event()

        async def reconcile(ctx: Context[Any], obj: Any) -> None:
            reconciled.set()

        manager = make_manager()
        manager.controller(("v1", "ConfigMap"), reconcile, workers=WORKERS)
        run = asyncio.create_task(manager.run_async(asyncio.Event()))
        await asyncio.wait_for(reconciled.wait(), 60)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert manager.client._closed.is_set()  # it ran its whole shutdown first

    asyncio.run(main())
