"""The worker loop, written once: take a key, reconcile it, decide what next.

::

    runner = Runner("foos", reconcile, get=cache_get, queue=queue)
    runner.start(workers=2)
    ...
    runner.stop(timeout=30.0)      # stop taking work, let in-flight reconciles finish

One attempt (controller-runtime's ``reconcileHandler``):

- the object is read from the cache; when the key is absent the reconcile
  gets ``None`` and ``ctx.last_known``, the final state its Delete event
  carried (see :class:`LastKnownStates`);
- ``Result.done()`` / ``None``: forget the key's failures;
  ``Result.after(d)``: forget, then add the key again in ``d``;
  ``Result.backoff()``: add it again with its backoff, no error counted;
- an exception: add it again with its backoff (5 ms doubling to 1000 s,
  reset by the next success), logged as ``Reconciler error``;
- :class:`TerminalError`: forget, no retry, counted and logged apart;
- a reconcile that returns after the controller's timeout failed with
  :class:`ReconcileTimeoutError`, whatever it returned.

The workqueue never hands one key to two workers at once, so neither does
the runner. No exception leaves a worker thread: each is logged.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubeloop._locks import YieldingLock
from kubeloop.runtime.context import Context, EventRecorderLike
from kubeloop.runtime.klog import KeyValueLogger
from kubeloop.runtime.metrics import ReconcileMetrics, ResultLabel
from kubeloop.runtime.result import ReconcileTimeoutError, Result, TerminalError
from kubeloop.workqueue import REAL_CLOCK, Clock, RateLimitingQueue

__all__ = ["AsyncReconciler", "LastKnownStates", "Reconciler", "Runner"]

T = TypeVar("T")

Reconciler = Callable[[Context[T], T | None], Result | None]
"""``reconcile(ctx, obj) -> Result | None``: ``obj`` is the cached object,
``None`` when the key is gone (then ``ctx.last_known`` may hold its final state)."""

AsyncReconciler = Callable[[Context[T], T | None], Awaitable[Result | None]]
"""``async def reconcile(ctx, obj) -> Result | None``, the same contract,
run by :class:`~kubeloop.runtime.async_runner.AsyncRunner`."""


def is_async_reconciler(reconcile: object) -> bool:
    """Whether ``reconcile`` is an ``async def`` function, or an object whose
    ``__call__`` is one (a reconciler class)."""
    call = inspect.getattr_static(type(reconcile), "__call__", None)
    return inspect.iscoroutinefunction(reconcile) or inspect.iscoroutinefunction(call)


@dataclass(slots=True)
class Attempt(Generic[T]):
    """One reconcile of one key, as the runner starts it."""

    key: str
    ctx: Context[T]
    obj: T | None
    token: object | None
    log: KeyValueLogger
    started: float
    deadline: float | None


_log = logging.getLogger("kubeloop.runtime")


class LastKnownStates(Generic[T]):
    """Key -> the final state a Delete event carried, until the key's next
    successful reconcile.

    Each entry carries a token, and a reconcile clears only the entry it
    started with: a delete that arrives while the key is being reconciled
    leaves its entry for the reconcile that follows.
    """

    def __init__(self) -> None:
        # Guards _states (handler threads record, workers read and clear).
        # Yielding: every reconcile takes it twice (see kubeloop._locks).
        self._lock = YieldingLock()
        self._states: dict[str, tuple[object, T]] = {}

    def record(self, key: str, obj: T) -> None:
        with self._lock:
            self._states[key] = (object(), obj)

    def get(self, key: str) -> tuple[object | None, T | None]:
        """``(token, obj)`` of the entry, ``(None, None)`` without one."""
        entry = self._states.get(key)  # one dict read: atomic, no lock needed
        return entry if entry is not None else (None, None)

    def clear(self, key: str, token: object | None) -> None:
        """Drop the entry if it is still the one ``token`` names."""
        if token is None:
            return
        with self._lock:
            entry = self._states.get(key)
            if entry is not None and entry[0] is token:
                del self._states[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)


class Runner(Generic[T]):
    """Workers that reconcile the keys of one queue.

    ``get(key)`` reads the object from the cache (``None`` when absent).
    ``queue`` defaults to a rate-limiting queue named after the controller
    (client-go's default limiter); ``clock`` times reconciles and timeouts.
    """

    #: Whether this runner takes ``async def`` reconcilers (AsyncRunner).
    takes_coroutines = False

    def __init__(
        self,
        name: str,
        reconcile: Reconciler[T] | AsyncReconciler[T],
        get: Callable[[str], T | None],
        *,
        queue: RateLimitingQueue[str] | None = None,
        metrics: ReconcileMetrics | None = None,
        recorder: EventRecorderLike | None = None,
        timeout: float | None = None,
        clock: Clock = REAL_CLOCK,
        log: logging.Logger = _log,
    ) -> None:
        if is_async_reconciler(reconcile) and not self.takes_coroutines:
            raise TypeError(f"{name}: the threaded runner takes a plain function, not async def")
        if self.takes_coroutines and not is_async_reconciler(reconcile):
            raise TypeError(f"{name}: the async runner takes an async def reconcile")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"{name}: timeout must be positive, not {timeout!r}")
        self.name = name
        self.queue: RateLimitingQueue[str] = (
            queue if queue is not None else RateLimitingQueue(name=name, clock=clock)
        )
        self.last_known: LastKnownStates[T] = LastKnownStates()
        self.metrics = metrics if metrics is not None else ReconcileMetrics(name)
        self._reconcile: Any = reconcile
        self._get = get
        self._recorder = recorder
        #: ``(apiVersion, kind)`` of the objects, once known, for the Events
        #: of objects that do not carry them (items of a LIST).
        self.kind: tuple[str, str] | None = None
        self._timeout = timeout
        self._clock = clock
        self.log = KeyValueLogger(log, controller=name)
        # Set once stop() begins: workers hand back what they get unreconciled.
        self._stopping = threading.Event()
        # Guards _threads.
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- running ------------------------------------------------------------
    def start(self, workers: int) -> None:
        """Start ``workers`` threads (``kubeloop-worker-<name>-<i>``)."""
        if workers < 1:
            raise ValueError(f"{self.name}: workers must be at least 1, not {workers}")
        self.metrics.set_max_concurrent_reconciles(workers)
        with self._lock:
            if self._threads:
                raise RuntimeError(f"{self.name}: workers already started")
            self._threads = [
                threading.Thread(
                    target=self.run_worker, name=f"kubeloop-worker-{self.name}-{i}", daemon=True
                )
                for i in range(workers)
            ]
            for thread in self._threads:
                thread.start()
        self.log.info("Starting workers", workerCount=workers)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop taking work and wait up to ``timeout`` for in-flight
        reconciles; True when every worker has ended. Keys still queued are
        not reconciled (a new leader, or the next start, lists them again)."""
        self._stopping.set()
        self.queue.shut_down()
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout is None else REAL_CLOCK.now() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - REAL_CLOCK.now()))
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            self.log.error("Reconciles still running after the shutdown timeout", workers=alive)
            return False
        self.log.info("All workers finished")
        return True

    def run_worker(self) -> None:
        while self.process_next_work_item():
            pass

    def process_next_work_item(self) -> bool:
        """Take one key and reconcile it (unless stopping); False once the
        queue has shut down and is empty."""
        key, shutdown = self.queue.get()
        if shutdown or key is None:
            return False
        try:
            if not self._stopping.is_set():
                self.reconcile_handler(key)
        except Exception:  # a bug of ours: never kill the worker
            self.log.exception("runner failed handling key", key=key)
        finally:
            self.queue.done(key)
        return True

    # -- one attempt ----------------------------------------------------------
    def reconcile_handler(self, key: str) -> None:
        attempt = self.begin(key)
        # Not self.active(): a generator context manager cost 1.5 us per key,
        # and finish() counts the worker out under the metrics' one lock.
        self.metrics.started()
        try:
            outcome = checked_result(self._reconcile(attempt.ctx, attempt.obj))
        except Exception as err:
            outcome = Result.done(), err
        except BaseException:
            self.metrics.ended()
            raise
        self.finish(attempt, *outcome, ended=True)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Counts a reconcile in ``active_workers`` while it runs."""
        self.metrics.started()
        try:
            yield
        finally:
            self.metrics.ended()

    def begin(self, key: str) -> Attempt[T]:
        """Read the object and make the reconcile's context."""
        obj = self._get(key)
        token, last_known = self.last_known.get(key)
        namespace, _, name = key.rpartition("/")
        log = self.log.with_values(namespace=namespace, name=name, reconcileID=_reconcile_id())
        # With "Reconcile successful" (or the error) it brackets the
        # reconcile in the log: the chaos suite's sharded mode checks from
        # these that no key is handled by two replicas at once.
        if log.isEnabledFor(logging.DEBUG):  # checked first: a call less per reconcile
            log.debug("Reconcile started")
        started = self._clock.now()
        deadline = None if self._timeout is None else started + self._timeout
        ctx: Context[T] = Context(
            controller=self.name,
            key=key,
            reconcile_id=log.kvs["reconcileID"],
            log=log,
            obj=obj,
            last_known=last_known if obj is None else None,
            recorder=self._recorder,
            clock=self._clock,
            deadline=deadline,
            kind=self.kind,
        )
        return Attempt(key, ctx, obj, token, log, started, deadline)

    def finish(
        self,
        attempt: Attempt[T],
        result: Result,
        error: BaseException | None,
        *,
        ended: bool = False,
    ) -> None:
        """Decide what next for the key (see the module docstring) and count it
        (``ended``: and count the worker out of ``active_workers``)."""
        elapsed = self._clock.now() - attempt.started
        if error is None and attempt.deadline is not None and elapsed > (self._timeout or 0.0):
            error = ReconcileTimeoutError(
                f"reconcile took {elapsed:.3f}s, over the timeout of {self._timeout}s"
            )
        label: ResultLabel = "error"  # if _handle itself fails (a bug of ours)
        try:
            label = self._handle(attempt.key, attempt.log, result, error, attempt.token)
        finally:  # counted, and the worker counted out, whatever happens
            terminal = isinstance(error, TerminalError)
            self.metrics.observe(label, elapsed, terminal=terminal, ended=ended)

    def _handle(
        self,
        key: str,
        log: KeyValueLogger,
        result: Result,
        error: BaseException | None,
        token: object | None,
    ) -> ResultLabel:
        if isinstance(error, TerminalError):
            # Given up until the next change: nothing will read the entry.
            self.queue.forget(key)
            self.last_known.clear(key, token)
            log.error("Reconciler error (terminal: not retried)", error=str(error))
            return "error"
        if error is not None:
            self.queue.add_rate_limited(key)
            log.error(
                "Reconciler error",
                error=str(error) or type(error).__name__,
                errorType=type(error).__name__,
                requeues=self.queue.num_requeues(key),
            )
            return "error"
        if result.requeue_after is not None:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            self.last_known.clear(key, token)
            log.debug("Reconcile done, requeue after", after=result.requeue_after)
            return "requeue_after"
        if result.requeue:
            self.queue.add_rate_limited(key)
            log.debug("Reconcile asked for a requeue with backoff")
            return "requeue"
        self.queue.forget(key)
        self.last_known.clear(key, token)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Reconcile successful")
        return "success"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _reconcile_id() -> str:
    """16 hex digits naming one reconcile in its log lines.

    Only needs to be unlikely to repeat, not unguessable: ``uuid4`` asks the
    kernel for random bytes on every call (a system call per reconcile,
    7 % of the Network controller's samples in its profile).
    """
    return f"{random.getrandbits(64):016x}"


def checked_result(returned: object) -> tuple[Result, BaseException | None]:
    """What a reconcile returned, as ``(result, error)``: ``None`` is done;
    anything but a :class:`Result` is a TypeError, counted as a failure."""
    if returned is None:
        return Result.done(), None
    if not isinstance(returned, Result):
        return Result.done(), TypeError(
            f"reconcile returned {type(returned).__name__}, not a Result or None"
        )
    return returned, None
