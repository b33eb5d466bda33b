"""The reconcile contract on testenv: requeue after a delay, terminal
errors, retries, the final state of a deleted object, the periodic
requeue, and per-kind selectors and transforms."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from kubeloop.client import Client
from kubeloop.runtime import Context, Manager, Result, TerminalError, set_controller_reference
from kubeloop.typed import Model, ObjectMeta, Resource

from .conftest import WAIT, Reconciles, configmap, running


def test_requeue_after_reconciles_again_no_sooner_than_asked(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    times: list[tuple[float, float, str]] = []
    cond = threading.Condition()

    def reconcile(ctx: Context[dict[str, Any]], cm: dict[str, Any] | None) -> Result:
        started = time.monotonic()
        with cond:
            first = not times
            times.append(
                (started, time.monotonic(), cm["metadata"]["resourceVersion"] if cm else "")
            )
            cond.notify_all()
        return Result.after(1.5) if first else Result.done()

    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconcile)
    with running(manager):
        cms.create(configmap("a"))
        with cond:
            assert cond.wait_for(lambda: len(times) >= 2, WAIT)
    (_, first_end, rv1), (second_start, _, rv2) = times[0], times[1]
    assert rv1 == rv2, "the second reconcile came from an event, not the requeue"
    assert second_start - first_end >= 1.5


def test_a_terminal_error_is_not_retried_while_an_error_is(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    failed_once: set[str] = set()

    def reconcile(ctx: Context[dict[str, Any]], cm: dict[str, Any] | None) -> None:
        reconciles.record(ctx, cm)
        if ctx.name == "bad":
            raise TerminalError("spec can never work")
        if ctx.name == "flaky" and ctx.name not in failed_once:
            failed_once.add(ctx.name)
            raise RuntimeError("backend blip")

    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconcile)
    with running(manager):
        cms.create(configmap("flaky"))
        reconciles.wait_for(lambda s: len([x for x in s if x.key.endswith("/flaky")]) == 2)
        cms.create(configmap("bad"))
        reconciles.wait_for(lambda s: any(x.key.endswith("/bad") for x in s))
        cms.create(configmap("sentinel"))  # one worker: a retry of bad would come first
        reconciles.wait_for(lambda s: any(x.key.endswith("/sentinel") for x in s))
    assert len(reconciles.of(f"{namespace}/bad")) == 1

    def metric(name: str) -> float | None:
        return manager.registry.get_sample_value(name, {"controller": "configmap"})

    assert metric("controller_runtime_terminal_reconcile_errors_total") == 1
    assert metric("controller_runtime_reconcile_errors_total") == 2


def test_a_deleted_object_reconciles_with_none_and_its_final_state(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record)
    with running(manager):
        created = cms.create(configmap("a", {"k": "v"}))
        reconciles.wait_for(lambda s: any(x.key.endswith("/a") for x in s))
        cms.delete("a")
        seen = reconciles.wait_for(
            lambda s: any(x.key.endswith("/a") and x.obj is None and x.last_known for x in s)
        )
    final = next(x.last_known for x in seen if x.obj is None and x.last_known)
    assert final["metadata"]["uid"] == created["metadata"]["uid"]
    assert final["data"] == {"k": "v"}


def test_requeue_every_reconciles_each_cached_key_periodically(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record, requeue_every=0.5)
    with running(manager):
        cms.create(configmap("a"))
        seen = reconciles.wait_for(lambda s: len([x for x in s if x.key.endswith("/a")]) >= 3)
    assert len({x.rv for x in seen if x.key.endswith("/a")}) == 1  # no change caused them


def test_a_label_selector_and_a_transform_shape_the_cache(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()

    def without_data(cm: dict[str, Any]) -> dict[str, Any]:
        cm.pop("data", None)
        return cm

    manager = make_manager()
    manager.controller(
        ("v1", "ConfigMap"),
        reconciles.record,
        label_selector="app=web",
        transform=without_data,
    )
    with running(manager):
        cms.create(configmap("other", {"k": "v"}))
        cms.create(configmap("web", {"k": "v"}, labels={"app": "web"}))
        seen = reconciles.wait_for(lambda s: any(x.key.endswith("/web") for x in s))
        cms.create(configmap("sentinel", labels={"app": "web"}))
        seen = reconciles.wait_for(lambda s: any(x.key.endswith("/sentinel") for x in s))
    assert {x.key.rpartition("/")[2] for x in seen} == {"web", "sentinel"}
    assert "data" not in seen[0].obj and seen[0].obj["metadata"]["labels"] == {"app": "web"}


class NetworkSpec(Model, kw_only=True):
    cidr: str
    gateway: str


class Network(Resource, kw_only=True):
    """A typed model of the Network CRD, declared here as `kubeloop gen` would."""

    API_VERSION: ClassVar[str] = "samplecrd.k8s.io/v1"
    KIND: ClassVar[str] = "Network"
    PLURAL: ClassVar[str] = "networks"
    NAMESPACED: ClassVar[bool] = True

    spec: NetworkSpec


def test_a_typed_primary_reconciles_models_and_owns_through_their_kind(
    client: Client, namespace: str, network_crd: str, make_manager: Callable[..., Manager]
) -> None:
    nets = client.resource(Network, namespace=namespace)
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller(Network, reconciles.record).owns(("v1", "configmaps"))
    with running(manager):
        net = nets.create(
            Network(
                metadata=ObjectMeta(name="n"),
                spec=NetworkSpec(cidr="10.0.0.0/24", gateway="10.0.0.1"),
            )
        )
        first = reconciles.wait_for(lambda s: len(s) == 1)[0]
        assert isinstance(first.obj, Network) and first.obj.spec.cidr == "10.0.0.0/24"
        owned = configmap("owned", {"k": "v"}, namespace=namespace)
        set_controller_reference(net, owned)
        cms.create(owned)
        reconciles.wait_for(lambda s: len(s) == 2)


def test_a_reconcile_reads_another_kind_through_the_managers_cache(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    secrets = client.resource("v1", "secrets", namespace=namespace, namespaced=True)
    secrets.create({"metadata": {"name": "creds"}, "stringData": {"user": "u"}})
    manager = make_manager()
    secret_lister = manager.lister(("v1", "secrets"))  # before start: read once it runs
    found: list[Any] = []
    done = threading.Event()

    def reconcile(ctx: Context[dict[str, Any]], cm: dict[str, Any] | None) -> None:
        try:
            found.append(secret_lister.namespaced(ctx.namespace).get("creds")["metadata"]["name"])
        except Exception as err:  # the cache had not synced: the controller did not wait
            found.append(err)
        done.set()

    manager.controller(("v1", "ConfigMap"), reconcile)
    cms.create(configmap("a"))
    with running(manager):
        assert done.wait(WAIT)
        assert manager.cache.has_synced()  # the lister's informer counts for readiness
    assert found == ["creds"]  # at the first reconcile already
