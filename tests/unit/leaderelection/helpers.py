"""An in-memory lock shared by fake candidates, callbacks that record what
happened, and a runner for an elector thread on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kubeloop.clock import FakeClock
from kubeloop.errors import AlreadyExists, Conflict, NotFound
from kubeloop.leaderelection import (
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElectionRecord,
    LeaderElector,
)


class LockStore:
    """The one lock object all candidates see, as a Lease on the server: a
    record and a version that every write bumps."""

    def __init__(self, record: LeaderElectionRecord | None = None) -> None:
        # Guards every attribute.
        self.lock = threading.Lock()
        self.record = record
        self.version = 1 if record is not None else 0
        self.error: Exception | None = None
        self.calls: list[tuple[str, str]] = []  # (identity, verb)
        # verb -> run once at the start of the next call of that verb, to stage a race.
        self.before: dict[str, Callable[[], None]] = {}

    def put(self, record: LeaderElectionRecord) -> None:
        """A write by someone outside the election under test."""
        with self.lock:
            self.record = record
            self.version += 1

    def current(self) -> LeaderElectionRecord:
        with self.lock:
            assert self.record is not None
            return self.record

    def count(self, verb: str, identity: str | None = None) -> int:
        with self.lock:
            return sum(1 for i, v in self.calls if v == verb and identity in (None, i))


class FakeLock:
    """A :class:`ResourceLock` on a :class:`LockStore`, with the Lease lock's
    optimistic concurrency: an update based on a stale version conflicts."""

    def __init__(self, store: LockStore, identity: str) -> None:
        self.store = store
        self._identity = identity
        self._version: int | None = None
        self.events: list[str] = []

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return "fake/lock"

    def record_event(self, message: str) -> None:
        self.events.append(message)

    def _call(self, verb: str) -> None:
        # Caller holds store.lock.
        self.store.calls.append((self._identity, verb))
        if self.store.error is not None:
            raise self.store.error

    def _before(self, verb: str) -> None:
        hook = self.store.before.pop(verb, None)
        if hook is not None:
            hook()

    def get(self, *, timeout: float | None = None) -> LeaderElectionRecord:
        self._before("get")
        with self.store.lock:
            self._call("get")
            if self.store.record is None:
                raise NotFound(404, "NotFound", 'leases "lock" not found')
            self._version = self.store.version
            return self.store.record

    def create(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None:
        self._before("create")
        with self.store.lock:
            self._call("create")
            if self.store.record is not None:
                raise AlreadyExists(409, "AlreadyExists", 'leases "lock" already exists')
            self.store.record, self.store.version = record, 1
            self._version = 1

    def update(self, record: LeaderElectionRecord, *, timeout: float | None = None) -> None:
        self._before("update")
        with self.store.lock:
            self._call("update")
            if self._version is None:
                raise RuntimeError("lease not initialized, call get or create first")
            if self._version != self.store.version:
                raise Conflict(409, "Conflict", "the object has been modified")
            self.store.record = record
            self.store.version += 1
            self._version = self.store.version


class Recorder:
    """Callbacks that log what happened, for tests to wait on.

    ``on_started_leading`` works until told to stop, like a controller.
    """

    def __init__(self) -> None:
        # Guards log; notified on every entry.
        self.cond = threading.Condition()
        self.log: list[str] = []

    def _append(self, entry: str) -> None:
        with self.cond:
            self.log.append(entry)
            self.cond.notify_all()

    def started(self, stop_leading: threading.Event) -> None:
        self._append("started")
        stop_leading.wait()
        self._append("work done")

    def stopped(self) -> None:
        self._append("stopped")

    def new_leader(self, identity: str) -> None:
        self._append(f"leader {identity}")

    def callbacks(self) -> LeaderCallbacks:
        return LeaderCallbacks(self.started, self.stopped, self.new_leader)

    def wait_for(self, entry: str, timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: entry in self.log, timeout), (entry, self.log)

    def entries(self) -> list[str]:
        with self.cond:
            return list(self.log)


def candidate(
    store: LockStore,
    identity: str,
    clock: FakeClock,
    recorder: Recorder | None = None,
    callbacks: LeaderCallbacks | None = None,
    **config: Any,
) -> LeaderElector:
    """An elector on ``store`` with client-go's default durations unless given."""
    callbacks = callbacks or (recorder or Recorder()).callbacks()
    lock = FakeLock(store, identity)
    return LeaderElector(LeaderElectionConfig(lock, callbacks, **config), clock=clock)


@dataclass
class Run:
    """An elector's run() in a thread."""

    stop: threading.Event
    thread: threading.Thread

    def wait_ended(self, timeout: float = 10.0) -> None:
        """Wait until run() has returned (on its own or after a stop)."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() did not return"


@contextmanager
def running(elector: LeaderElector, clock: FakeClock) -> Iterator[Run]:
    """Run ``elector`` in a thread; on exit stop it and require it to end."""
    stop = threading.Event()
    thread = threading.Thread(target=elector.run, args=(stop,), name="kubeloop-test-elector")
    thread.start()
    try:
        yield Run(stop, thread)
    finally:
        clock.set_and_wake(stop)
        Run(stop, thread).wait_ended()
