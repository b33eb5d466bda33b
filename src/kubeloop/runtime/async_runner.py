"""The runner for ``async def`` reconcilers: the same contract as
:class:`~kubeloop.runtime.runner.Runner` (requeue, requeue_after, errors
with per-key backoff, terminal errors, drain on shutdown; one attempt is
``Runner.begin``/``finish``, shared), with reconciles as tasks on an event
loop instead of worker threads.

::

    runner = AsyncRunner("foos", reconcile, get=cache_get, loop=manager_loop)
    runner.start(workers=8)        # at most 8 reconciles at once, as tasks
    ...
    runner.stop(timeout=30.0)      # from another thread: drain, then return

How it runs: one dispatcher task takes a slot (at most ``workers``), then
the next key from the workqueue (its blocking ``get`` runs in one thread
of the runner's, the only thread it adds), and starts that key's reconcile
as a task, which frees the slot when it ends. So there is no thread per
reconcile, never more than ``workers`` keys are out of the queue at once,
and the workqueue still never hands one key to two tasks. A reconcile that
outlives the controller's ``timeout`` is cancelled and fails with
:class:`ReconcileTimeoutError` (a thread cannot be cancelled; a task can).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kubeloop.runtime.loop import LoopThread
from kubeloop.runtime.result import ReconcileTimeoutError, Result
from kubeloop.runtime.runner import AsyncReconciler, Runner, checked_result

__all__ = ["AsyncRunner"]

T = TypeVar("T")


class AsyncRunner(Runner[T]):
    """Reconciles the keys of one queue as at most ``workers`` tasks on
    ``loop`` (the manager's; without one, a loop thread of its own)."""

    takes_coroutines = True

    def __init__(
        self,
        name: str,
        reconcile: AsyncReconciler[T],
        get: Any,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name, reconcile, get, **options)
        self._loop = loop
        self._own_loop: LoopThread | None = None
        self._dispatched: concurrent.futures.Future[None] | None = None

    def start(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"{self.name}: workers must be at least 1, not {workers}")
        if self._dispatched is not None:
            raise RuntimeError(f"{self.name}: workers already started")
        loop = self._loop
        if loop is None:
            self._own_loop = LoopThread(f"kubeloop-loop-{self.name}")
            loop = self._own_loop.loop
        self.metrics.set_max_concurrent_reconciles(workers)
        self._dispatched = asyncio.run_coroutine_threadsafe(self._dispatch(workers), loop)
        self.log.info("Starting workers", workerCount=workers, tasks=True)

    def stop(self, timeout: float | None = None) -> bool:
        """As :meth:`Runner.stop`; call it from a thread other than the loop's."""
        self._stopping.set()
        self.queue.shut_down()
        if self._dispatched is None:
            return True
        try:
            self._dispatched.result(timeout)
        except concurrent.futures.TimeoutError:
            self.log.error("Reconciles still running after the shutdown timeout")
            return False
        except Exception:  # a bug of ours: say so, do not hang the shutdown
            self.log.exception("runner dispatch failed")
            return False
        finally:
            if self._own_loop is not None and self._dispatched.done():
                self._own_loop.stop()
        self.log.info("All workers finished")
        return True

    async def _dispatch(self, workers: int) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(workers)
        tasks: set[asyncio.Task[None]] = set()
        with ThreadPoolExecutor(1, thread_name_prefix=f"kubeloop-queue-{self.name}") as getter:
            while True:
                await slots.acquire()
                key, shutdown = await loop.run_in_executor(getter, self.queue.get)
                if shutdown or key is None:
                    slots.release()
                    break
                task = loop.create_task(self._process(key, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    async def _process(self, key: str, slots: asyncio.Semaphore) -> None:
        try:
            if not self._stopping.is_set():
                await self.reconcile_async(key)
        except Exception:  # a bug of ours: never kill the dispatcher
            self.log.exception("runner failed handling key", key=key)
        finally:
            self.queue.done(key)
            slots.release()

    async def reconcile_async(self, key: str) -> None:
        """One attempt for ``key`` (the async twin of ``reconcile_handler``)."""
        attempt = self.begin(key)
        with self.active():
            outcome: tuple[Result, BaseException | None]
            try:
                async with asyncio.timeout(self._timeout) as scope:
                    outcome = checked_result(await self._reconcile(attempt.ctx, attempt.obj))
            except TimeoutError as err:
                expired = ReconcileTimeoutError(
                    f"reconcile cancelled at the timeout of {self._timeout}s"
                )
                outcome = Result.done(), expired if scope.expired() else err
            except Exception as err:
                outcome = Result.done(), err
        self.finish(attempt, *outcome)
