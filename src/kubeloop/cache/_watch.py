"""The watch a reflector is reading, and how other threads interrupt it.

A reflector thread blocks reading a watch stream; ``stop`` (via
:func:`~kubeloop.cache.stop.on_stop`) and a failing resync (from the resync
thread) must be able to end that read at once, by calling the stream's
thread-safe ``stop()``. A WatchList stream is read first for the initial
events and then, unchanged, as the ongoing watch, so it must be iterated
through one iterator only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from kubeloop.client.types import WatchEvent, WatchStream

__all__ = ["Box", "OpenWatch", "WatchSession"]


class Box:
    """The RV a WatchList's initial events reached (set only by its reader)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def set(self, value: str) -> None:
        self.value = value


class OpenWatch:
    """A watch stream and the single iterator reading it (a WatchList stream
    is read by two consumers in turn and must not be iterated twice)."""

    def __init__(self, stream: WatchStream, hold_rv: bool = False) -> None:
        self.stream = stream
        self.events: Iterator[WatchEvent] = iter(stream)
        # Started from "" or "0": do not advance the RV on initial ADDs.
        self.hold_rv = hold_rv


class WatchSession:
    """The watch being read by one list_and_watch call, so that other threads
    (stop, a failing resync) can interrupt it."""

    def __init__(self) -> None:
        # Guards _stream, _error and _closed.
        self._lock = threading.Lock()
        self._stream: WatchStream | None = None
        self._error: BaseException | None = None
        self._closed = False

    def attach(self, stream: WatchStream) -> None:
        with self._lock:
            self._stream = stream
            closed = self._closed
        if closed:
            stream.stop()

    def detach(self) -> None:
        with self._lock:
            self._stream = None

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
