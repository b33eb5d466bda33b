"""The leader election loop (client-go's ``LeaderElector``).

::

    elector = LeaderElector(config)
    elector.run(stop)        # blocks: acquire, lead, renew; returns when stop is set
                             # or the lease could not be renewed in time

A candidate tries to acquire the lock every ``retry_period`` (jittered up to
1.2x, so candidates spread out). Once it holds the lock it runs
``on_started_leading`` in a thread and renews every ``retry_period``; if it
cannot renew within ``renew_deadline`` it stops leading. Nothing here fences
the work: a leader that stops renewing keeps running until its own deadline,
which is why ``renew_deadline < lease_duration`` is required. Every request
of an attempt shares the attempt's deadline, throttle wait and retries
included, so a renewal cannot outlive it. Work that can check before each
step (a sharded controller's reconcile gate) can also ask
:meth:`LeaderElector.held_until`, which does not depend on the renew loop
being on time.

Expiry is judged by the local monotonic time at which this candidate last saw
the record *change*, plus the holder's ``leaseDurationSeconds``, and never by
the record's ``renewTime``: the candidates' wall clocks need not agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from kubeloop.cache import on_stop
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import is_not_found
from kubeloop.leaderelection.config import JITTER_FACTOR, LeaderElectionConfig
from kubeloop.leaderelection.resource_lock import LeaderElectionRecord

__all__ = ["LeaderElector"]

_log = logging.getLogger(__name__)

# The shortest timeout given to a lock request when little of a deadline is left.
_MIN_REQUEST_TIMEOUT = 0.05


class LeaderElector:
    """Runs one candidate's side of a leader election.

    :meth:`is_leader` and :meth:`get_leader` may be called from any thread.
    :meth:`run` may be called again after it returns, but not concurrently.
    """

    def __init__(self, config: LeaderElectionConfig, *, clock: Clock = REAL_CLOCK) -> None:
        self.config = config
        self._clock = clock
        self._identity = config.lock.identity
        # Guards _observed_record, _observed_time, _leading and _running.
        self._state_lock = threading.Lock()
        self._observed_record = LeaderElectionRecord()
        # clock.now() when _observed_record last changed.
        self._observed_time = 0.0
        self._leading = False
        self._running = False
        # Only touched by the thread in run() (or a test driving try_acquire_or_renew):
        # the record as last read from the lock, to notice when it changes.
        self._observed_raw: LeaderElectionRecord | None = None
        self._reported_leader = ""
        self._notifier: ThreadPoolExecutor | None = None
        # clock.now() at the start of our last successful acquire or renewal.
        self._renewed_at = -math.inf

    # -- queries ------------------------------------------------------------
    def is_leader(self) -> bool:
        """Whether :meth:`run` is leading right now: it holds the lock and has
        not given up. False once run() stops renewing, even before it returns."""
        with self._state_lock:
            return self._leading and self._observed_record.holder_identity == self._identity

    def held_until(self) -> float:
        """The ``clock.now()`` until which this elector may act as the holder:
        ``renew_deadline`` after the start of its last successful acquire or
        renewal (in the past when it does not hold the lock).

        No other candidate can take the lock before ``lease_duration`` after
        that start (it sees the write only after it was sent), so work that
        stops starting steps at this time leaves ``lease_duration -
        renew_deadline`` for the steps under way, however late the renew
        loop itself notices a failure (a request stuck, a starved thread)::

            if clock.now() < elector.held_until():
                reconcile(key)
        """
        with self._state_lock:
            if not self._leading:
                return -math.inf
            return self._renewed_at + self.config.renew_deadline

    def get_leader(self) -> str:
        """The holder in the last record observed or written ("" for none)."""
        with self._state_lock:
            return self._observed_record.holder_identity

    def check(self, max_tolerable_expired_lease: float = 20.0) -> bool:
        """A liveness check (client-go's ``Check``): False if we believe we
        lead but have not renewed for ``lease_duration`` plus the tolerance,
        i.e. the renew loop is stuck. Always True while not leading."""
        with self._state_lock:
            if self._observed_record.holder_identity != self._identity:
                return True
            since = self._clock.now() - self._observed_time
        return since <= self.config.lease_duration + max_tolerable_expired_lease

    def observe(self, record: LeaderElectionRecord, observed_at: float) -> None:
        """Seed, before :meth:`run`, what another reader in this process
        saw of the lock: ``record``, unchanged since ``observed_at`` (this
        elector's clock). Expiry is then judged from ``observed_at`` rather
        than from this elector's first read, so a candidate started for a
        lock long unrenewed need not wait a whole lease duration more."""
        with self._state_lock:
            if self._running:
                raise RuntimeError(f"leader elector {self.config.name} is already running")
            self._observed_record = record
            self._observed_time = observed_at
        self._observed_raw = record

    # -- the loop -----------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Acquire, lead and renew until ``stop`` is set or renewal fails.

        ``on_stopped_leading`` is called whenever this returns, led or not.
        """
        with self._state_lock:
            if self._running:
                raise RuntimeError(f"leader elector {self.config.name} is already running")
            self._running = True
        self._notifier = ThreadPoolExecutor(1, thread_name_prefix="kubeloop-leader-notify")
        try:
            if self._acquire(stop):
                self._lead(stop)
        finally:
            with self._state_lock:
                self._leading = False
                self._running = False
            self._notifier.shutdown(wait=False)
            self._call("on_stopped_leading", self.config.callbacks.on_stopped_leading)

    def _acquire(self, stop: threading.Event) -> bool:
        desc = self.config.lock.describe()
        _log.info("attempting to acquire leader lease %s...", desc)
        retry = self.config.retry_period
        while not stop.is_set():
            acquired = self.try_acquire_or_renew(timeout=self.config.renew_deadline)
            self._maybe_report_transition()
            if acquired:
                _log.info("successfully acquired lease %s", desc)
                return True
            _log.debug("failed to acquire lease %s", desc)
            if self._clock.sleep(retry + random.random() * JITTER_FACTOR * retry, stop):
                break
        return False

    def _lead(self, stop: threading.Event) -> None:
        name = self.config.name
        stop_leading = threading.Event()
        with self._state_lock:
            self._leading = True
        self.config.metrics.leader_on(name)
        self.config.lock.record_event("became leader")
        work = threading.Thread(
            target=self._call,
            args=("on_started_leading", self.config.callbacks.on_started_leading, stop_leading),
            name=f"kubeloop-leader-{name}",
            daemon=True,
        )
        work.start()
        try:
            self._renew(stop)
        finally:
            with self._state_lock:
                self._leading = False
            self.config.metrics.leader_off(name)
            # The work stops before the lease can pass to someone else.
            stop_leading.set()
            work.join(self.config.renew_deadline)
            if work.is_alive():
                _log.warning(
                    "%s: on_started_leading still running %gs after leadership ended",
                    name,
                    self.config.renew_deadline,
                )
            self.config.lock.record_event("stopped leading")
            if self.config.release_on_cancel:
                self._release()

    def _renew(self, stop: threading.Event) -> None:
        """Renew every retry period until stopped or a renewal misses its deadline."""
        while not stop.is_set():
            renewed = self._renew_within_deadline(stop)
            if not renewed:
                if not stop.is_set():
                    _log.info(
                        "failed to renew lease %s: timed out after %gs",
                        self.config.lock.describe(),
                        self.config.renew_deadline,
                    )
                return
            if self._clock.sleep(self.config.retry_period, stop):
                return

    def _renew_within_deadline(self, stop: threading.Event) -> bool:
        """One renewal, retried every retry period until renew_deadline has
        passed (client-go's PollUntilContextTimeout with an immediate try).
        A new holder is reported as soon as it is seen, not when the poll ends."""
        deadline = self._clock.now() + self.config.renew_deadline
        while True:
            remaining = deadline - self._clock.now()
            renewed = self.try_acquire_or_renew(timeout=max(remaining, _MIN_REQUEST_TIMEOUT))
            self._maybe_report_transition()
            if renewed:
                return True
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                return False
            if self._clock.sleep(min(self.config.retry_period, remaining), stop):
                return False
            if self._clock.now() >= deadline:
                return False

    # -- one attempt --------------------------------------------------------
    def try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        """One attempt to take or keep the lock; what :meth:`run` does each
        retry period. Public for tests and tools; not to be called while
        :meth:`run` is running."""
        lock = self.config.lock
        now, wall = self._clock.now(), self._clock.wall()
        # One bound for the whole attempt, shared by its requests (each of
        # which the client bounds in total: throttle wait and retries).
        ends = None if timeout is None else now + timeout

        def left() -> float | None:
            return None if ends is None else max(ends - self._clock.now(), _MIN_REQUEST_TIMEOUT)

        record = LeaderElectionRecord(
            holder_identity=self._identity,
            lease_duration_seconds=int(self.config.lease_duration),
            acquire_time=wall,
            renew_time=wall,
        )

        # 1. The leader's fast path: update optimistically, assuming the record
        # it wrote last is still the current version.
        if self._observed_is_us() and self._lease_valid(now):
            old = self._get_observed_record()
            record = replace(
                record, acquire_time=old.acquire_time, leader_transitions=old.leader_transitions
            )
            try:
                lock.update(record, timeout=left())
            except Exception as err:
                _log.error(
                    "failed to update lock optimistically: %s, falling back to slow path", err
                )
            else:
                self._set_observed_record(record)
                self._held_since(now)
                return True

        # 2. Read the record, or create it.
        try:
            old = lock.get(timeout=left())
        except Exception as err:
            if not is_not_found(err):
                _log.error("error retrieving resource lock %s: %s", lock.describe(), err)
                return False
            return self._held_since(
                now, self._write(lock.create, record, left(), "creating the lock")
            )

        # 3. Restart the expiry clock only if the record changed since last read.
        if old != self._observed_raw:
            self._set_observed_record(old)
            self._observed_raw = old
        if old.holder_identity and self._lease_valid(now) and not self._observed_is_us():
            _log.debug("lock is held by %s and has not yet expired", old.holder_identity)
            return False

        # 4. Take it (expired or released) or renew it (ours, slow path).
        if self._observed_is_us():
            record = replace(
                record, acquire_time=old.acquire_time, leader_transitions=old.leader_transitions
            )
            self.config.metrics.slowpath_exercised(self.config.name)
        else:
            record = replace(record, leader_transitions=old.leader_transitions + 1)
        return self._held_since(now, self._write(lock.update, record, left(), "updating the lock"))

    def _held_since(self, started: float, written: bool = True) -> bool:
        """After an attempt that started at ``started``: when our write
        succeeded, we hold the lock from then on (see :meth:`held_until`)."""
        if written:
            with self._state_lock:
                self._renewed_at = started
        return written

    def _release(self) -> bool:
        """Hand the lock back: an empty holder with a 1 s lease, written
        conditionally on our last write (a lock taken meanwhile is left alone)."""
        if not self._observed_is_us():
            return True
        wall = self._clock.wall()
        record = LeaderElectionRecord(
            lease_duration_seconds=1,
            acquire_time=wall,
            renew_time=wall,
            leader_transitions=self._get_observed_record().leader_transitions,
        )
        released = self._write(
            self.config.lock.update, record, self.config.renew_deadline, "releasing the lock"
        )
        if released:
            _log.info("released lease %s", self.config.lock.describe())
        return released

    def _write(
        self,
        write: Callable[..., None],
        record: LeaderElectionRecord,
        timeout: float | None,
        what: str,
    ) -> bool:
        """Write ``record`` with the lock's create or update; on success it is
        what we observe, on failure the attempt fails (logged)."""
        try:
            write(record, timeout=timeout)
        except Exception as err:
            _log.error("%s %s failed: %s", what, self.config.lock.describe(), err)
            return False
        self._set_observed_record(record)
        return True

    # -- observed state -----------------------------------------------------
    def _get_observed_record(self) -> LeaderElectionRecord:
        with self._state_lock:
            return self._observed_record

    def _set_observed_record(self, record: LeaderElectionRecord) -> None:
        with self._state_lock:
            self._observed_record = record
            self._observed_time = self._clock.now()

    def _observed_is_us(self) -> bool:
        return self.get_leader() == self._identity

    def _lease_valid(self, now: float) -> bool:
        with self._state_lock:
            expires = self._observed_time + self._observed_record.lease_duration_seconds
        return expires > now

    def _maybe_report_transition(self) -> None:
        holder = self.get_leader()
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        on_new_leader = self.config.callbacks.on_new_leader
        # A released lock ("") is remembered, so the next holder is reported
        # even if it is the previous one, but "nobody" is not announced.
        if holder and on_new_leader is not None and self._notifier is not None:
            # One thread, so callbacks arrive in order and never delay renewal.
            self._notifier.submit(self._call, "on_new_leader", on_new_leader, holder)

    def _call(self, what: str, callback: Callable[..., Any], *args: object) -> None:
        try:
            if inspect.iscoroutinefunction(callback):
                self._await(callback, args)
            else:
                callback(*args)
        except Exception:
            _log.exception("%s: %s raised", self.config.name, what)

    def _await(self, callback: Callable[..., Awaitable[Any]], args: tuple[object, ...]) -> None:
        """Run a coroutine callback to its end, from this thread: on the
        config's loop, else on a loop of its own. A ``threading.Event``
        argument (stop_leading) reaches it as an ``asyncio.Event`` that is
        set when the threading one is."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            await callback(*(_mirrored(a, loop) for a in args))

        loop = self.config.loop
        if loop is None:
            asyncio.run(main())
        else:
            asyncio.run_coroutine_threadsafe(main(), loop).result()


def _mirrored(arg: object, loop: asyncio.AbstractEventLoop) -> object:
    """``arg``, or for a threading.Event an asyncio.Event on ``loop`` that is
    set as soon as it is."""
    if not isinstance(arg, threading.Event):
        return arg
    mirror = asyncio.Event()

    def set_mirror() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(mirror.set)

    on_stop(arg, set_mirror)
    return mirror
