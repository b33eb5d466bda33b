"""The backend sweep (orphans, drift), without an API server: the cached
Networks are a list, the backend is a MockBackend in a temp dir, and the
sweep returns the keys to reconcile (the runtime's ``requeue_keys`` queues
them at start and every period: tests/unit/runtime/test_requeue_keys.py)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import msgspec
import pytest

from kubeloop.runtime import Context, Result
from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork, NameCollision
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


def test_the_first_round_of_the_sweeper_looks_for_orphans_only(backend: MockBackend) -> None:
    # Right after the sync every cached Network is reconciled anyway; the
    # later rounds compare everything again.
    sweep = NetworkReconciler(None, backend).sweeper(cache)
    assert sweep() == ["ns/orphan", "other/theirs"]
    assert sweep() == ["ns/drifted", "ns/missing", "ns/orphan", "other/theirs"]
    assert sweep() == ["ns/drifted", "ns/missing", "ns/orphan", "other/theirs"]


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


# -- what the linux backend added: digest keys, drift, name collisions ----------
class ListedAs(MockBackend):
    """A backend whose list() reports what it is given (a digest key, a drift)."""

    def __init__(self, tmp_path: Path, listed: list[ActualNetwork]) -> None:
        super().__init__(tmp_path)
        self.listed = listed

    def list(self) -> list[ActualNetwork]:
        return self.listed


LONG = "ns/" + "n" * 250


def digest_of(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_a_key_the_backend_keeps_as_its_digest_is_matched_to_its_network(
    tmp_path: Path,
) -> None:
    listed = [ActualNetwork(digest_of(LONG), "kl1", "10.1.0.0/24", "10.1.0.1", f"uid-{'n' * 250}")]
    sweep = NetworkReconciler(None, ListedAs(tmp_path, listed)).sweep
    assert sweep(lambda: [network_obj("ns", "n" * 250, "10.1.0.0/24", "10.1.0.1")]) == []
    # With no Network of that key, it is an orphan, queued under its digest
    # (the backend finds the bridge by it); in a namespaced controller too.
    assert sweep(list) == [digest_of(LONG)]
    namespaced = NetworkReconciler(None, ListedAs(tmp_path, listed), namespace="ns").sweep
    assert namespaced(lambda: [network_obj("ns", "n" * 250, "10.1.0.0/24", "10.1.0.1")]) == []


def test_drift_the_backend_reports_makes_an_otherwise_agreeing_network_out_of_sync(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    down = ActualNetwork("ns/a", "kl1", "10.1.0.0/24", "10.1.0.1", "uid-a", "link is down")
    sweep = NetworkReconciler(None, ListedAs(tmp_path, [down])).sweep
    assert sweep(lambda: [network_obj("ns", "a", "10.1.0.0/24", "10.1.0.1")]) == ["ns/a"]
    assert "'ns/a' is out of sync (link is down)" in caplog.text


class Collides(MockBackend):
    def get(self, key: str) -> ActualNetwork | None:
        raise NameCollision(f"interface kl0 is not the bridge of {key}")

    def delete(self, key: str, uid: str = "") -> None:
        raise AssertionError("deleted what is not ours")


def test_a_deleted_network_whose_name_is_held_by_someone_else_deletes_nothing(
    tmp_path: Path,
) -> None:
    ctx = cast("Context[Network]", SimpleNamespace(key="ns/a", event=None, last_known=None))
    assert NetworkReconciler(None, Collides(tmp_path)).reconcile(ctx, None) == Result.done()


def test_a_deletion_leaves_the_network_of_a_network_recreated_under_its_name(
    backend: MockBackend,
) -> None:
    """Sharding by uid: the old Network's deletion (its last known uid) may
    run on one replica while another creates the network of the Network
    re-created under the same name (a new uid); the deletion leaves that."""
    old = network_obj("ns", "a", "10.1.0.0/24", "10.1.0.1")
    old.metadata.uid = "uid-old"
    backend.create(DesiredNetwork("ns/a", "10.1.0.0/24", "10.1.0.1", uid="uid-new"))
    events: list[str] = []

    def ctx(last: Network | None) -> Context[Network]:
        event = lambda kind, reason, message: events.append(reason)  # noqa: E731
        return cast("Context[Network]", SimpleNamespace(key="ns/a", event=event, last_known=last))

    networks = NetworkReconciler(None, backend)
    assert networks.reconcile(ctx(old), None) == Result.done()
    assert backend.get("ns/a") is not None and events == []
    old.metadata.uid = "uid-new"  # its own deletion now
    networks.reconcile(ctx(old), None)
    assert backend.get("ns/a") is None and events == ["Deleted"]


def test_a_name_collision_is_its_own_ready_reason() -> None:
    assert NameCollision("x").reason == "NameCollision" != BackendError("x").reason
    assert issubclass(NameCollision, BackendError)  # retried like any backend error


def test_a_sweep_that_flags_many_keys_names_the_first_and_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A first start on an empty backend flags every Network: the log names
    # SWEEP_LINES of them at INFO, counts the others, and -v 4 names all.
    from network_controller.controller import SWEEP_LINES

    count = SWEEP_LINES + 7
    cached = [network_obj("ns", f"n{i:04d}", "10.9.0.0/24", "10.9.0.1") for i in range(count)]
    with caplog.at_level(logging.DEBUG, logger="network_controller"):
        keys = NetworkReconciler(None, MockBackend(tmp_path)).sweep(lambda: cached)
    assert len(keys) == count
    named = [r for r in caplog.records if "is out of sync" in r.getMessage()]
    assert [r.levelno for r in named] == [logging.INFO] * SWEEP_LINES + [logging.DEBUG] * 7
    summary = [r.getMessage() for r in caplog.records if "more keys" in r.getMessage()]
    assert summary == ["backend sweep: 7 more keys orphaned or out of sync (each logged at -v 4)"]
