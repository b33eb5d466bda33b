"""owns(): an owned object's changes reconcile its controlling owner;
watches(): a mapper decides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.client import Client
from kubeloop.runtime import Manager, new_controller_ref

from .conftest import Reconciles, configmap, running


def secret(name: str, owner_refs: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "ownerReferences": owner_refs, "labels": labels},
        "stringData": {"k": "v"},
    }


def test_an_owned_object_reconciles_its_controller_only(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    secrets = client.resource("v1", "secrets", namespace=namespace, namespaced=True)
    owner = cms.create(configmap("owner"))
    other = cms.create(configmap("other"))
    ref = new_controller_ref(owner, api_version="v1", kind="ConfigMap")
    reconciles = Reconciles()
    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record).owns(("v1", "Secret"))
    with running(manager):
        reconciles.wait_for(
            lambda s: {x.key for x in s} >= {f"{namespace}/owner", f"{namespace}/other"}
        )
        before = len(reconciles.of(f"{namespace}/owner"))
        # Not a controller reference, and a controller of another kind: nobody is woken.
        plain = {
            **new_controller_ref(other, api_version="v1", kind="ConfigMap"),
            "controller": False,
        }
        secrets.create(secret("plain", [plain]))
        foreign = {**ref, "kind": "Deployment", "apiVersion": "apps/v1", "name": "other"}
        secrets.create(secret("foreign", [foreign]))
        # The owned one: created, then changed.
        secrets.create(secret("owned", [ref]))
        reconciles.wait_for(lambda s: len([x for x in s if x.key.endswith("/owner")]) > before)
        count = len(reconciles.of(f"{namespace}/owner"))
        secrets.patch("owned", {"metadata": {"labels": {"changed": "yes"}}})
        reconciles.wait_for(lambda s: len([x for x in s if x.key.endswith("/owner")]) > count)
    assert len(reconciles.of(f"{namespace}/other")) == 1


def test_watches_reconciles_the_keys_the_mapper_returns(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    secrets = client.resource("v1", "secrets", namespace=namespace, namespaced=True)
    cms.create(configmap("target"))
    reconciles = Reconciles()

    def mapper(secret: dict[str, Any]) -> list[str]:
        target = (secret["metadata"].get("labels") or {}).get("for")
        return [f"{secret['metadata']['namespace']}/{target}"] if target else []

    manager = make_manager()
    manager.controller(("v1", "ConfigMap"), reconciles.record).watches(("v1", "Secret"), mapper)
    with running(manager):
        reconciles.wait_for(lambda s: len(s) == 1)
        secrets.create(secret("s", [], **{"for": "target"}))
        reconciles.wait_for(lambda s: len([x for x in s if x.key.endswith("/target")]) == 2)
