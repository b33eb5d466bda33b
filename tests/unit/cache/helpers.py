"""Shared test helpers: objects, a recording handler, a backoff that never waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubeloop.cache import DeletedFinalStateUnknown, deletion_handling_meta_namespace_key_func
from kubeloop.cache.accessor import get_resource_version

WAIT = 10.0  # seconds: generous upper bound for anything awaited


def pod(
    name: str,
    namespace: str = "",
    rv: str = "",
    labels: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if namespace:
        md["namespace"] = namespace
    if rv:
        md["resourceVersion"] = rv
    if labels is not None:
        md["labels"] = labels
    obj: dict[str, Any] = {"kind": "Pod", "metadata": md}
    obj.update(extra)
    return obj


def name_of(obj: Any) -> str:
    if isinstance(obj, DeletedFinalStateUnknown):
        obj = obj.obj
    return str(obj["metadata"]["name"])


class Recorder:
    """A ResourceEventHandler that records events and lets tests await them."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.cond = threading.Condition()
        self.events: list[tuple[str, Any, Any]] = []
        self.gate = gate

    def _record(self, kind: str, a: Any, b: Any) -> None:
        if self.gate is not None:
            self.gate.wait(WAIT)
        with self.cond:
            self.events.append((kind, a, b))
            self.cond.notify_all()

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self._record("add", obj, is_in_initial_list)

    def on_update(self, old: Any, new: Any) -> None:
        self._record("update", old, new)

    def on_delete(self, obj: Any) -> None:
        self._record("delete", obj, None)

    def wait_for(self, predicate: Callable[[list[tuple[str, Any, Any]]], bool]) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: predicate(self.events), WAIT)
            assert ok, f"condition not reached; events: {self.summary()}"

    def wait_count(self, n: int) -> None:
        self.wait_for(lambda ev: len(ev) >= n)

    def names(self, kind: str | None = None) -> list[str]:
        with self.cond:
            return [name_of(self._obj(e)) for e in self.events if kind is None or e[0] == kind]

    def summary(self) -> list[tuple[str, str, str]]:
        out = []
        for kind, a, b in list(self.events):
            obj = b if kind == "update" else a
            key = deletion_handling_meta_namespace_key_func(obj)
            if isinstance(obj, DeletedFinalStateUnknown):
                obj = obj.obj
            out.append((kind, key, get_resource_version(obj) if obj is not None else ""))
        return out

    def clear(self) -> None:
        with self.cond:
            self.events.clear()

    @staticmethod
    def _obj(event: tuple[str, Any, Any]) -> Any:
        return event[2] if event[0] == "update" else event[1]


class FakeBackoff:
    """Counts backoff requests and asks for 0 s each time, so the reflector never waits."""

    def __init__(self) -> None:
        self.calls = 0

    def backoff(self) -> float:
        self.calls += 1
        return 0.0


@contextmanager
def running(target: Callable[[threading.Event], Any]) -> Iterator[threading.Event]:
    """Run ``target(stop)`` in a thread; set stop and join on exit."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), name="kubeloop-test-runner")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "runner did not stop"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """For state with nothing to wait on (e.g. has_synced): poll briefly."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)
