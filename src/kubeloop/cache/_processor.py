"""Fan-out from a shared informer to its handlers (client-go's sharedProcessor).

Every handler gets a :class:`ProcessorListener`: an unbounded buffer and its
own thread calling the handler. The informer appends to every buffer and
never waits for a handler, so one slow handler delays neither the others nor
the reflector (at the cost of memory while it lags, exactly like client-go).

A handler registered ``synchronous=True`` (kubeloop's, not client-go's) has
neither: it is called on the thread that applies the change to the cache,
right after the change, in the same order. That saves a thread wake-up per
event, which in CPython costs more than the handler itself when it only puts
a key on a workqueue (what the runtime's handlers do). Only for handlers that
never block: a slow synchronous handler delays every handler and the cache.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from kubeloop.cache.handlers import ResourceEventHandler
from kubeloop.clock import Clock

__all__ = ["ProcessorListener", "SharedProcessor", "determine_resync_period"]

_log = logging.getLogger(__name__)
_ids = itertools.count()

# Notifications are tuples (kind, a, b) for speed.
ADD = 0  # (ADD, obj, is_in_initial_list)
UPDATE = 1  # (UPDATE, old, new)
DELETE = 2  # (DELETE, obj, None)
Notification = tuple[int, Any, Any]


def determine_resync_period(desired: float, check: float) -> float:
    """A handler's effective resync period given the informer's check period."""
    if desired == 0:
        return 0.0
    if check == 0:
        _log.warning("resync period %s ignored: this informer does not resync", desired)
        return 0.0
    return max(desired, check)


class ProcessorListener:
    """One handler's buffer and thread; also its registration handle."""

    def __init__(
        self,
        handler: ResourceEventHandler,
        requested_resync_period: float,
        resync_period: float,
        now: float,
        upstream_has_synced: Callable[[], bool],
        *,
        synchronous: bool = False,
    ) -> None:
        self.handler = handler
        self.synchronous = synchronous
        self._upstream_has_synced = upstream_has_synced
        # Guards _pending, _stopped and _initial_pending.
        self._cond = threading.Condition(threading.Lock())
        self._pending: deque[Notification] = deque()
        self._stopped = False
        # Initial-list adds queued but not yet handled (client-go's
        # SingleFileTracker): has_synced waits for them.
        self._initial_pending = 0
        self._thread: threading.Thread | None = None
        # Guards requested_resync_period, resync_period and _next_resync.
        self._resync_lock = threading.Lock()
        self.requested_resync_period = requested_resync_period
        self.resync_period = resync_period
        self._next_resync = now + resync_period

    # -- registration -------------------------------------------------------

    def has_synced(self) -> bool:
        # Ask upstream first: it may take a while, and the count read after
        # it must not be stale.
        if not self._upstream_has_synced():
            return False
        with self._cond:
            return self._initial_pending <= 0

    # -- buffer -------------------------------------------------------------

    def add(self, notification: Notification) -> None:
        if self.synchronous:
            if not self._stopped:
                self._deliver(notification)
            return
        with self._cond:
            if self._stopped:
                return
            if notification[0] == ADD and notification[2]:
                self._initial_pending += 1
            self._pending.append(notification)
            self._cond.notify()

    def start(self) -> None:
        if self.synchronous:
            return  # delivered by add(), on the caller's thread
        self._thread = threading.Thread(
            target=self._run, name=f"kubeloop-listener-{next(_ids)}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering; notifications still buffered are dropped."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                notification = self._pending.popleft()
            try:
                self._deliver(notification)
            finally:
                if notification[0] == ADD and notification[2]:
                    with self._cond:
                        self._initial_pending -= 1

    def _deliver(self, notification: Notification) -> None:
        kind, a, b = notification
        handler = self.handler
        try:
            if kind == ADD:
                handler.on_add(a, b)
            elif kind == UPDATE:
                handler.on_update(a, b)
            else:
                handler.on_delete(a)
        except Exception:
            _log.exception("event handler %r failed", handler)

    # -- resync -------------------------------------------------------------

    def should_resync(self, now: float) -> bool:
        with self._resync_lock:
            return self.resync_period != 0 and now >= self._next_resync

    def determine_next_resync(self, now: float) -> None:
        with self._resync_lock:
            self._next_resync = now + self.resync_period

    def set_resync_period(self, period: float) -> None:
        with self._resync_lock:
            self.resync_period = period


class SharedProcessor:
    """Distributes notifications to every listener (only to those whose
    resync is due, for resync notifications)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Guards _listeners (listener -> whether it is syncing this round)
        # and _started.
        self._lock = threading.Lock()
        self._listeners: dict[ProcessorListener, bool] = {}
        self._started = False

    def add_listener(self, listener: ProcessorListener) -> None:
        with self._lock:
            self._listeners[listener] = True
            if self._started:
                listener.start()

    def remove_listener(self, listener: object) -> None:
        """Stop and forget ``listener``; unknown registrations are ignored."""
        with self._lock:
            if not isinstance(listener, ProcessorListener) or listener not in self._listeners:
                return
            del self._listeners[listener]
            listener.stop()

    def is_registered(self, listener: object) -> bool:
        with self._lock:
            return listener in self._listeners

    def __len__(self) -> int:
        with self._lock:
            return len(self._listeners)

    def distribute(self, notification: Notification, sync: bool) -> None:
        # Synchronous handlers run after the lock is let go, so that one may
        # add or remove handlers; distribute is only ever called by the one
        # thread processing the informer's queue, which keeps their order.
        synchronous: list[ProcessorListener] = []
        with self._lock:
            for listener, syncing in self._listeners.items():
                if not sync or syncing:
                    if listener.synchronous:
                        synchronous.append(listener)
                    else:
                        listener.add(notification)
        for listener in synchronous:
            listener.add(notification)

    def run(self) -> None:
        """Start every listener's thread (and those added later)."""
        with self._lock:
            for listener in self._listeners:
                listener.start()
            self._started = True

    def stop(self) -> None:
        """Stop every listener and wait for their threads to end."""
        with self._lock:
            listeners = list(self._listeners)
            self._listeners.clear()
            self._started = False
            for listener in listeners:
                listener.stop()
        for listener in listeners:
            listener.join()

    def should_resync(self) -> bool:
        """Decide which listeners take part in the coming resync."""
        with self._lock:
            now = self.clock.now()
            needed = False
            for listener in self._listeners:
                due = listener.should_resync(now)
                self._listeners[listener] = due
                if due:
                    needed = True
                    listener.determine_next_resync(now)
            return needed

    def resync_check_period_changed(self, check: float) -> None:
        with self._lock:
            for listener in self._listeners:
                listener.set_resync_period(
                    determine_resync_period(listener.requested_resync_period, check)
                )
