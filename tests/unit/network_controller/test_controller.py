"""The backend sweep (orphans, drift) and its period, without an API server:
Networks go straight into the informer's cache, the backend is a MockBackend
in a temp dir, and what the sweep decides is read off the workqueue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop.cache import SharedIndexInformer
from kubeloop.cache.testing import FakeControllerSource
from kubeloop.client import Client, Config
from kubeloop.events import EventRecorder
from network_controller.backend import DesiredNetwork
from network_controller.controller import NetworkController
from network_controller.mock_backend import MockBackend


def network_obj(namespace: str, name: str, cidr: str, gateway: str) -> dict[str, Any]:
    return {
        "apiVersion": "samplecrd.k8s.io/v1",
        "kind": "Network",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"cidr": cidr, "gateway": gateway},
    }


@pytest.fixture
def client() -> Iterator[Client]:
    # Never contacted: the sweep reads only the cache and the backend.
    with Client(Config(host="https://127.0.0.1:9")) as c:
        yield c


def make_controller(
    client: Client, backend: MockBackend, *, namespace: str | None = None, resync: float = 30.0
) -> tuple[NetworkController, SharedIndexInformer]:
    informer = SharedIndexInformer(FakeControllerSource(), 0)
    controller = NetworkController(
        client,
        informer,
        backend,
        EventRecorder(client, "test"),  # not started: events stay queued
        resync_period=resync,
        namespace=namespace,
    )
    return controller, informer


def queued(controller: NetworkController) -> set[str]:
    keys = set()
    while len(controller.workqueue):
        key, _ = controller.workqueue.get()
        assert key is not None
        controller.workqueue.done(key)
        keys.add(key)
    return keys


@pytest.fixture
def backend(tmp_path: Path) -> MockBackend:
    backend = MockBackend(tmp_path)
    for key, cidr in [
        ("ns/in-sync", "10.1.0.0/24"),
        ("ns/drifted", "10.2.0.0/24"),
        ("ns/orphan", "10.3.0.0/24"),
        ("other/theirs", "10.4.0.0/24"),
    ]:
        name = key.split("/")[1]
        backend.create(DesiredNetwork(key, cidr, cidr.replace("0/24", "1"), f"uid-{name}"))
    return backend


def fill_cache(informer: SharedIndexInformer) -> None:
    indexer = informer.get_indexer()
    indexer.add(network_obj("ns", "in-sync", "10.1.0.0/24", "10.1.0.1"))
    indexer.add(network_obj("ns", "drifted", "10.2.0.0/24", "10.2.0.254"))  # gateway changed
    indexer.add(network_obj("ns", "missing", "10.5.0.0/24", "10.5.0.1"))  # not in the backend
    # Host bits set: the backend holds the normalised CIDR, which is no drift.
    indexer.add(network_obj("ns", "normalised", "10.6.1.0/16", "10.6.0.1"))


def test_the_sweep_enqueues_orphaned_missing_and_drifted_keys_only(
    client: Client, backend: MockBackend
) -> None:
    backend.create(DesiredNetwork("ns/normalised", "10.6.0.0/16", "10.6.0.1", "uid-normalised"))
    controller, informer = make_controller(client, backend)
    fill_cache(informer)
    assert controller.sweep_backend() == 4
    assert queued(controller) == {"ns/drifted", "ns/orphan", "ns/missing", "other/theirs"}


def test_a_namespaced_controller_leaves_other_namespaces_networks_alone(
    client: Client, backend: MockBackend
) -> None:
    # Its cache holds one namespace; another controller may own the rest of
    # the backend, and those networks are not orphans.
    backend.create(DesiredNetwork("ns/normalised", "10.6.0.0/16", "10.6.0.1", "uid-normalised"))
    controller, informer = make_controller(client, backend, namespace="ns")
    fill_cache(informer)
    assert controller.sweep_backend() == 3
    assert queued(controller) == {"ns/drifted", "ns/orphan", "ns/missing"}


def test_a_sweep_of_an_agreeing_backend_enqueues_nothing(client: Client, tmp_path: Path) -> None:
    backend = MockBackend(tmp_path)
    backend.create(DesiredNetwork("ns/a", "10.1.0.0/24", "10.1.0.1", "uid-a"))
    controller, informer = make_controller(client, backend)
    informer.get_indexer().add(network_obj("ns", "a", "10.1.0.0/24", "10.1.0.1"))
    assert controller.sweep_backend() == 0
    assert len(controller.workqueue) == 0


class PeriodStop(threading.Event):
    """A stop event on a fake clock: each timed wait "times out" at once (a
    period passed) until ``periods`` have passed, then stop is set. A wait
    without a timeout is stop itself, as for a real event. Each wait records
    its timeout and the keys the sweep before it enqueued."""

    def __init__(self, controller: NetworkController, periods: int) -> None:
        super().__init__()
        self.controller = controller
        self.periods = periods
        self.waits: list[float | None] = []
        self.swept: list[set[str]] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        self.swept.append(queued(self.controller))
        if timeout is not None and len(self.waits) <= self.periods:
            return False
        self.set()
        return True


@pytest.mark.parametrize(("resync", "wait", "sweeps"), [(2.0, 2.0, 4), (0.0, None, 1)])
def test_the_sweep_repeats_every_resync_period_and_only_once_when_it_is_zero(
    client: Client, tmp_path: Path, resync: float, wait: float | None, sweeps: int
) -> None:
    """Every period the sweep runs again (an orphan left by a failed delete
    is found again); --resync 0 means no resync, as for informers: one sweep
    at start, then wait for stop, where waiting 0 s would spin on the backend."""
    backend = MockBackend(tmp_path)
    backend.create(DesiredNetwork("ns/orphan", "10.1.0.0/24", "10.1.0.1", "uid-orphan"))
    controller, _ = make_controller(client, backend, resync=resync)
    stop = PeriodStop(controller, periods=3)
    controller._sweep_loop(stop)
    assert stop.waits == [wait] * sweeps
    assert stop.swept == [{"ns/orphan"}] * sweeps
