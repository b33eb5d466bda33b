"""The watch a reflector is reading, and how other threads interrupt it.

A reflector thread blocks reading a watch stream; ``stop`` (via
:func:`~kubeloop.cache.stop.on_stop`) and a failing resync (from the resync
thread) must be able to end that read at once, by calling the stream's
thread-safe ``stop()``. A WatchList stream is read first for the initial
events and then, unchanged, as the ongoing watch, so it is iterated through
one iterator only: the session's ``events``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from kubeloop.client.types import WatchEvent, WatchStream

__all__ = ["WatchSession"]


class WatchSession:
    """The watch being read by one list_and_watch call, so that other threads
    (stop, a failing resync) can interrupt it."""

    def __init__(self) -> None:
        # Guards _stream, _error and _closed.
        self._lock = threading.Lock()
        self._stream: WatchStream[Any] | None = None
        self._error: BaseException | None = None
        self._closed = False
        #: The one iterator over the open stream (only the reader touches it).
        self.events: Iterator[WatchEvent[Any]] = iter(())

    def attach(self, stream: WatchStream[Any]) -> None:
        """Read ``stream`` from now on (stopped at once if the session was
        closed or failed meanwhile, so the reader notices without an event)."""
        self.events = iter(stream)
        with self._lock:
            self._stream = stream
            interrupted = self._closed or self._error is not None
        if interrupted:
            stream.stop()

    def detach(self) -> None:
        """Stop the stream being read, if any, and forget it."""
        with self._lock:
            stream, self._stream = self._stream, None
        self.events = iter(())
        if stream is not None:
            stream.stop()

    def close(self) -> None:
        """Stop: interrupt the current watch and any later one."""
        with self._lock:
            self._closed = True
            stream = self._stream
        if stream is not None:
            stream.stop()

    def fail(self, error: BaseException) -> None:
        """End the current watch with ``error``."""
        with self._lock:
            if self._error is None:
                self._error = error
            stream = self._stream
        if stream is not None:
            stream.stop()

    def take_error(self) -> BaseException | None:
        if self._error is None:  # read without the lock: checked per event
            return None
        with self._lock:
            error, self._error = self._error, None
            return error
