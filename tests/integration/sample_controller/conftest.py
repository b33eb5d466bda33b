"""The sample-controller running in-process on testenv, and an observer that
watches what it does (Deployments, Foos, Events of the test's namespace)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from kubeloop.cache import ResourceEventHandlerFuncs, SharedInformerFactory
from kubeloop.client import AsyncClient, Client, load_config
from kubeloop.runtime import Controller, Manager
from sample_controller import add_controller
from sample_controller.async_controller import add_async_controller
from tests.integration.runtime.conftest import running
from tests.integration.support import REPO, ensure_crd

WAIT = 60.0
EXAMPLES = REPO / "apps" / "sample-controller" / "artifacts" / "examples"


@pytest.fixture(scope="session")
def foo_crd(client: Client) -> None:
    ensure_crd(client, yaml.safe_load((EXAMPLES / "crd-status-subresource.yaml").read_text()))


class Observer:
    """The namespace's Deployments, Foos and Events as informers see them,
    with a condition notified on every change to wait on."""

    KINDS = {
        "deployments": ("apps/v1", "deployments"),
        "foos": ("samplecontroller.k8s.io/v1alpha1", "foos"),
        "events": ("v1", "events"),
    }

    def __init__(self, client: Client, namespace: str) -> None:
        self.cond = threading.Condition()
        self.factory = SharedInformerFactory(client, 0.0, namespace=namespace)
        notify = ResourceEventHandlerFuncs(
            add_func=self._notify,
            update_func=lambda _old, new: self._notify(new),
            delete_func=self._notify,
        )
        self.informers = {k: self.factory.informer_for(r) for k, r in self.KINDS.items()}
        for informer in self.informers.values():
            informer.add_event_handler(notify)

    def _notify(self, _obj: Any) -> None:
        with self.cond:
            self.cond.notify_all()

    def get(self, kind: str, name: str) -> Any:
        """The cached object, or None."""
        indexer = self.informers[kind].get_indexer()
        return next((o for o in indexer.list() if o["metadata"]["name"] == name), None)

    def events_of(self, foo: str, reason: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.informers["events"].get_indexer().list()
            if e["involvedObject"].get("name") == foo
            and e["involvedObject"].get("kind") == "Foo"
            and e["reason"] == reason
        ]

    def wait_for(self, what: Callable[[], Any], description: str = "") -> Any:
        """Wait until ``what()`` returns something truthy (re-checked on every
        change the informers see); returns it."""
        found: list[Any] = []

        def check() -> bool:
            found[:] = [what()]
            return bool(found[0])

        with self.cond:
            assert self.cond.wait_for(check, WAIT), f"timed out waiting for {description}"
        return found[0]


@pytest.fixture
def observer(client: Client, namespace: str, foo_crd: None) -> Iterator[Observer]:
    watcher = Observer(client, namespace)
    stop = threading.Event()
    watcher.factory.start(stop)
    try:
        assert all(watcher.factory.wait_for_cache_sync(stop).values())
        yield watcher
    finally:
        stop.set()
        watcher.factory.shutdown(WAIT)


class Running:
    """A manager running the Foo controller in a thread."""

    def __init__(self, manager: Manager, controller: Controller[Any]) -> None:
        self.manager = manager
        self.controller = controller
        self.registry = manager.registry

    def metric(self, family: str, /, **labels: str) -> float:
        return self.registry.get_sample_value(family, labels) or 0.0


@contextlib.contextmanager
def running_async(manager: Manager, controllers: list[Controller[Any]]) -> Iterator[None]:
    """Run ``manager`` with the async Foo controller, as an async program
    does (``await manager.run_async()``, an AsyncClient for its writes), on
    a loop in a thread; on exit stop it and check it exited 0."""
    ready = threading.Event()
    loop: list[asyncio.AbstractEventLoop] = []
    stop: list[asyncio.Event] = []
    codes: list[int] = []

    async def main() -> None:
        async with AsyncClient(manager.config) as client:
            controllers.append(add_async_controller(manager, client))
            loop.append(asyncio.get_running_loop())
            stop.append(asyncio.Event())
            ready.set()
            codes.append(await manager.run_async(stop[0]))

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="kubeloop-test-async")
    thread.start()
    assert ready.wait(WAIT)
    try:
        yield
    finally:
        loop[0].call_soon_threadsafe(stop[0].set)
        thread.join(WAIT)
    assert not thread.is_alive(), "the manager did not stop"
    assert codes == [0]


@pytest.fixture(params=["sync", "async"])
def sample_controller(
    request: pytest.FixtureRequest, kubeconfig: str, namespace: str, foo_crd: None
) -> Iterator[Running]:
    """The controller as ``main`` sets it up (two workers, the 30 s resync),
    scoped to the test's namespace, with no server and a registry of its own;
    once with the sync reconcile, once with the async one."""
    manager = Manager(
        load_config(kubeconfig=kubeconfig),
        name="sample-controller",
        namespace=namespace,
        metrics_bind_address=None,
        health_probe_bind_address=None,
        registry=CollectorRegistry(),
        graceful_shutdown_timeout=20.0,
    )
    if request.param == "sync":
        controller = add_controller(manager)
        with running(manager):
            yield Running(manager, controller)
        return
    controllers: list[Controller[Any]] = []
    with running_async(manager, controllers):
        yield Running(manager, controllers[0])
