"""The backend sweep (orphans, drift), without an API server: the cached
Networks are a list, the backend is a MockBackend in a temp dir, and the
sweep returns the keys to reconcile (the runtime's ``requeue_keys`` queues
them at start and every period: tests/unit/runtime/test_requeue_keys.py)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork
from network_controller.controller import NetworkReconciler
from network_controller.mock_backend import MockBackend
from network_controller.models import Network


def network_obj(namespace: str, name: str, cidr: str, gateway: str) -> Network:
    return msgspec.convert(
        {
            "apiVersion": "samplecrd.k8s.io/v1",
            "kind": "Network",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {"cidr": cidr, "gateway": gateway},
        },
        Network,
    )


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
    backend.create(DesiredNetwork("ns/normalised", "10.6.0.0/16", "10.6.0.1", "uid-normalised"))
    return backend


def cache() -> list[Network]:
    return [
        network_obj("ns", "in-sync", "10.1.0.0/24", "10.1.0.1"),
        network_obj("ns", "drifted", "10.2.0.0/24", "10.2.0.254"),  # gateway changed
        network_obj("ns", "missing", "10.5.0.0/24", "10.5.0.1"),  # not in the backend
        # Host bits set: the backend holds the normalised CIDR, which is no drift.
        network_obj("ns", "normalised", "10.6.1.0/16", "10.6.0.1"),
    ]


def test_the_sweep_returns_orphaned_missing_and_drifted_keys_only(backend: MockBackend) -> None:
    keys = NetworkReconciler(None, backend).sweep(cache)
    assert keys == ["ns/drifted", "ns/missing", "ns/orphan", "other/theirs"]


def test_a_namespaced_controller_leaves_other_namespaces_networks_alone(
    backend: MockBackend,
) -> None:
    # Its cache holds one namespace; another controller may own the rest of
    # the backend, and those networks are not orphans.
    keys = NetworkReconciler(None, backend, namespace="ns").sweep(cache)
    assert keys == ["ns/drifted", "ns/missing", "ns/orphan"]


def test_a_sweep_of_an_agreeing_backend_returns_nothing(tmp_path: Path) -> None:
    backend = MockBackend(tmp_path)
    backend.create(DesiredNetwork("ns/a", "10.1.0.0/24", "10.1.0.1", "uid-a"))
    sweep = NetworkReconciler(None, backend).sweep
    assert sweep(lambda: [network_obj("ns", "a", "10.1.0.0/24", "10.1.0.1")]) == []


def test_an_invalid_spec_is_not_drift_and_its_last_good_network_stays(tmp_path: Path) -> None:
    # Only a CRD without its CEL rules lets a non-CIDR through; the Network's
    # status says why, and the sweep must not delete or rewrite its network.
    backend = MockBackend(tmp_path)
    backend.create(DesiredNetwork("ns/a", "10.1.0.0/24", "10.1.0.1", "uid-a"))
    sweep = NetworkReconciler(None, backend).sweep
    assert sweep(lambda: [network_obj("ns", "a", "not-a-cidr", "10.1.0.1")]) == []


class FailingList(MockBackend):
    def list(self) -> list[ActualNetwork]:
        raise BackendError("[Neutron] unavailable")


def test_a_failing_backend_list_is_logged_and_returns_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert NetworkReconciler(None, FailingList(tmp_path)).sweep(cache) == []
    assert "backend sweep failed: [Neutron] unavailable" in caplog.text
