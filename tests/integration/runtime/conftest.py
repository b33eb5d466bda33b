"""Running a manager against testenv, and watching what it reconciles."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.client import load_config
from kubeloop.runtime import Context, Manager

WAIT = 60.0


@dataclass
class Seen:
    """One reconcile as the reconcile function saw it."""

    key: str
    obj: Any
    last_known: Any
    reconcile_id: str

    @property
    def rv(self) -> str:
        return str(((self.obj or {}).get("metadata") or {}).get("resourceVersion", ""))


@dataclass
class Reconciles:
    """Every reconcile, in order, with a condition to wait on."""

    seen: list[Seen] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, ctx: Context[Any], obj: Any) -> None:
        with self.cond:
            self.seen.append(Seen(ctx.key, obj, ctx.last_known, ctx.reconcile_id))
            self.cond.notify_all()

    def wait_for(self, what: Callable[[list[Seen]], bool], timeout: float = WAIT) -> list[Seen]:
        with self.cond:
            assert self.cond.wait_for(lambda: what(self.seen), timeout), (
                f"timed out; reconciles so far: {[(s.key, s.rv) for s in self.seen]}"
            )
            return list(self.seen)

    def of(self, key: str) -> list[Seen]:
        with self.cond:
            return [s for s in self.seen if s.key == key]


@pytest.fixture
def make_manager(kubeconfig: str, namespace: str) -> Callable[..., Manager]:
    """A manager on testenv, scoped to the test's namespace, with no server
    and a registry of its own (so tests do not share metric series)."""

    def make(**options: Any) -> Manager:
        settings: dict[str, Any] = {
            "name": "test",
            "namespace": namespace,
            "metrics_bind_address": None,
            "health_probe_bind_address": None,
            "registry": CollectorRegistry(),
            "graceful_shutdown_timeout": 20.0,
        }
        settings.update(options)
        return Manager(load_config(kubeconfig=kubeconfig), **settings)

    return make


@contextlib.contextmanager
def running(manager: Manager) -> Iterator[threading.Event]:
    """Run ``manager`` in a thread; on exit stop it and check it exited 0."""
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(manager.run(stop)), name="kubeloop-test-manager"
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive(), "the manager did not stop"
    assert codes == [0]


def configmap(name: str, data: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": data or {},
    }
