"""owns() watches owned objects as metadata only (what its mapping reads),
unless the manager's cache has a full informer of the kind, which it shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.client import Client, ResourceClient
from kubeloop.runtime import Context, Manager, new_controller_ref
from kubeloop.runtime.cache import CacheEntry
from kubeloop.typed import PartialObjectMetadata
from tests.integration.support import deployment

from .conftest import Reconciles, configmap, running

DEPLOYMENT = ("apps/v1", "Deployment")


def owned_deployment(name: str, owner: dict[str, Any]) -> dict[str, Any]:
    d = deployment(name)
    d["metadata"]["ownerReferences"] = [
        new_controller_ref(owner, api_version="v1", kind="ConfigMap")
    ]
    return d


def owner_and_deployments(client: Client, namespace: str) -> tuple[ResourceClient, Any]:
    """A ConfigMap "owner", and the namespace's Deployments."""
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    return deployments, cms.create(configmap("owner"))


def owner_with_deployment(client: Client, namespace: str) -> ResourceClient:
    """The same, with a Deployment "web" that "owner" controls."""
    deployments, owner = owner_and_deployments(client, namespace)
    deployments.create(owned_deployment("web", owner))
    return deployments


def deployment_entries(manager: Manager) -> list[CacheEntry]:
    return [e for e in manager.cache.entries() if e.requested.kind == "Deployment"]


def reconciled_more(reconciles: Reconciles, key: str, than: int) -> None:
    reconciles.wait_for(lambda seen: len([s for s in seen if s.key == key]) > than)


def test_an_owned_deployment_change_reconciles_its_owner_through_a_metadata_informer(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    deployments, owner = owner_and_deployments(client, namespace)
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record).owns(DEPLOYMENT)
    # A reconcile that reads only metadata may read the same cache.
    metadata_lister = manager.cache.lister(DEPLOYMENT, metadata_only=True)
    key = f"{namespace}/owner"
    with running(manager):
        reconciles.wait_for(lambda seen: any(s.key == key for s in seen))
        deployments.create(owned_deployment("web", owner))
        reconciled_more(reconciles, key, 1)
        (entry,) = deployment_entries(manager)
        assert entry.metadata_only and entry.cached_metadata_only
        cached = metadata_lister.namespaced(namespace).get("web")
        assert isinstance(cached, PartialObjectMetadata)
        assert (cached.kind, cached.metadata.name) == ("Deployment", "web")
        count = len(reconciles.of(key))
        deployments.patch("web", {"metadata": {"labels": {"changed": "yes"}}})
        reconciled_more(reconciles, key, count)
        count = len(reconciles.of(key))
        deployments.delete("web")
        reconciled_more(reconciles, key, count)


def test_owns_shares_the_full_informer_a_reconcile_reads_through_a_lister(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    deployments = owner_with_deployment(client, namespace)
    manager = make_manager()
    # As the sample-controller does: a lister of the owned kind, then owns().
    lister = manager.lister(DEPLOYMENT)
    replicas: list[Any] = []
    reconciles = Reconciles()

    def reconcile(ctx: Context[Any], obj: Any) -> None:
        replicas.append(lister.namespaced(ctx.namespace).get("web")["spec"]["replicas"])
        reconciles.record(ctx, obj)

    manager.controller(("v1", "ConfigMap"), reconcile).owns(DEPLOYMENT)
    key = f"{namespace}/owner"
    with running(manager):
        reconciles.wait_for(lambda seen: any(s.key == key for s in seen))
        full, owns = sorted(deployment_entries(manager), key=lambda e: e.metadata_only)
        assert owns.metadata_only and not owns.cached_metadata_only
        assert owns.informer is full.informer  # one informer, one watch
        count = len(reconciles.of(key))
        deployments.patch("web", {"spec": {"replicas": 2}})
        reconciled_more(reconciles, key, count)
    assert replicas[0] == 0 and 2 in replicas


def test_owns_can_ask_for_full_objects(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    deployments = owner_with_deployment(client, namespace)
    reconciles = Reconciles()
    filtered: list[Any] = []

    def replicas_changed(old: Any, new: Any) -> bool:  # reads the spec: needs whole objects
        filtered.append(new)
        return bool(old["spec"]["replicas"] != new["spec"]["replicas"])

    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record).owns(
        DEPLOYMENT, filters=[replicas_changed], metadata_only=False
    )
    key = f"{namespace}/owner"
    with running(manager):
        reconciles.wait_for(lambda seen: any(s.key == key for s in seen))
        (entry,) = deployment_entries(manager)
        assert not entry.cached_metadata_only
        count = len(reconciles.of(key))
        deployments.patch("web", {"spec": {"replicas": 3}})
        reconciled_more(reconciles, key, count)
    assert filtered and all(isinstance(o, dict) and "spec" in o for o in filtered)
