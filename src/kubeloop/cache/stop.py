"""Run callbacks when a stop event is set.

A ``threading.Event`` cannot be awaited together with anything else, yet a
reflector blocked reading a watch stream must be interrupted the moment
``stop`` is set (by calling ``stream.stop()``), and a DeltaFIFO must be closed
so its consumer wakes up. Rather than poll, one waiter thread per stop event
blocks in ``stop.wait()`` and runs the registered callbacks, then ends. Many
informers sharing one stop event share one waiter thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable

__all__ = ["on_stop"]

_log = logging.getLogger(__name__)

# Guards _waiters.
_registry_lock = threading.Lock()
_waiters: weakref.WeakKeyDictionary[threading.Event, _StopWaiter] = weakref.WeakKeyDictionary()
_ids = itertools.count()


class _StopWaiter:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        # Guards _callbacks and _fired.
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._fired = False
        self._thread = threading.Thread(
            target=self._wait, name=f"kubeloop-stop-waiter-{next(_ids)}", daemon=True
        )
        self._thread.start()

    def register(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            if not self._fired:
                token = next(_ids)
                self._callbacks[token] = callback
                return lambda: self._unregister(token)
        callback()
        return _noop

    def _unregister(self, token: int) -> None:
        with self._lock:
            self._callbacks.pop(token, None)

    def _wait(self) -> None:
        self._stop.wait()
        with self._lock:
            self._fired = True
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        with _registry_lock:
            if _waiters.get(self._stop) is self:
                del _waiters[self._stop]
        for callback in callbacks:
            try:
                callback()
            except Exception:
                _log.exception("stop callback failed")


def _noop() -> None:
    return None


def on_stop(stop: threading.Event, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` once ``stop`` is set (at once if it already is).

    Returns a function that unregisters the callback; calling it after the
    callback ran is harmless.
    """
    if stop.is_set():
        callback()
        return _noop
    with _registry_lock:
        waiter = _waiters.get(stop)
        if waiter is None:
            waiter = _StopWaiter(stop)
            _waiters[stop] = waiter
    return waiter.register(callback)
