"""The helpers against the real API server: finalizers under conflicts,
create-or-update (update and server-side apply), conditions and status
writes only on change."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from kubeloop.client import Client
from kubeloop.errors import is_conflict, is_not_found
from kubeloop.runtime import (
    Context,
    Manager,
    OperationResult,
    Result,
    create_or_update,
    finalize,
    finalizers_of,
    get_generation,
    is_controlled_by,
    set_condition,
    set_controller_reference,
    update_status,
)
from tests.integration.support import network, wait_until

from .conftest import WAIT, configmap, running

FINALIZER = "test.kubeloop.io/cleanup"


class CountingConflicts:
    """A resource client that counts the 409s its patches get."""

    def __init__(self, resources: Any) -> None:
        self.resources = resources
        self.conflicts = 0

    def get(self, name: str, *, namespace: str | None = None) -> Any:
        return self.resources.get(name, namespace=namespace)

    def patch(self, name: str, patch: Any, *, namespace: str | None = None) -> Any:
        try:
            return self.resources.patch(name, patch, namespace=namespace)
        except Exception as err:
            if is_conflict(err):
                self.conflicts += 1
            raise


def test_finalizer_added_before_apply_cleanup_then_removed_under_conflicts(
    client: Client, namespace: str, network_crd: str, make_manager: Callable[..., Manager]
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace, namespaced=True)
    manager = make_manager()
    writer = CountingConflicts(manager.client.resource(network_crd, "networks", namespaced=True))
    lock = threading.Lock()
    applied: list[list[str]] = []
    cleaned: list[str] = []
    gone: list[Any] = []
    bumped: set[str] = set()
    done = threading.Condition(lock)

    def someone_else_writes(net: dict[str, Any], phase: str) -> None:
        """Once per phase, change the object behind the cache's back, so the
        helper's write carries a stale resourceVersion."""
        if phase not in bumped:
            bumped.add(phase)
            nets.patch(net["metadata"]["name"], {"metadata": {"labels": {"bump": phase}}})

    def apply(net: dict[str, Any]) -> None:
        with done:
            applied.append(finalizers_of(net))
            done.notify_all()

    def cleanup(net: dict[str, Any]) -> None:
        with done:
            cleaned.append(net["metadata"]["name"])
            done.notify_all()

    def reconcile(ctx: Context[dict[str, Any]], net: dict[str, Any] | None) -> Result | None:
        if net is None:
            with done:
                gone.append(ctx.last_known)
                done.notify_all()
            return None
        deleting = bool(net["metadata"].get("deletionTimestamp"))
        someone_else_writes(net, "delete" if deleting else "apply")
        return finalize(writer, net, FINALIZER, apply=apply, cleanup=cleanup)

    manager.controller((network_crd, "Network"), reconcile)
    with running(manager):
        nets.create(network("n"))
        with done:
            assert done.wait_for(lambda: applied, WAIT)
        assert applied[0] == [FINALIZER], "apply ran before the finalizer was in place"
        assert finalizers_of(nets.get("n")) == [FINALIZER]
        assert writer.conflicts >= 1
        nets.delete("n")
        with done:  # the Delete event's reconcile carries the final state
            assert done.wait_for(lambda: any(x is not None for x in gone), WAIT)
        wait_until(lambda: _gone(nets, "n"), WAIT, "the Network to be deleted")
    # Once at least; again only if the cache still showed the finalizer after
    # its removal (cleanups must be idempotent).
    assert cleaned and set(cleaned) == {"n"}
    assert writer.conflicts >= 2, "the removal met a conflict too"
    final = next(x for x in gone if x is not None)  # ctx.last_known
    assert final["metadata"]["name"] == "n" and final["metadata"]["deletionTimestamp"]


def _gone(resources: Any, name: str) -> bool:
    try:
        resources.get(name)
    except Exception as err:
        if is_not_found(err):
            return True
        raise
    return False


def test_create_or_update_creates_leaves_alone_then_updates(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    owner = cms.create(configmap("owner"))
    value = {"k": "1"}

    def mutate(cm: dict[str, Any]) -> None:
        cm["data"] = dict(value)
        set_controller_reference(owner, cm, api_version="v1", kind="ConfigMap")

    skeleton: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "child"},
    }
    skeleton["metadata"]["namespace"] = namespace
    created, result = create_or_update(cms, skeleton, mutate)
    assert result is OperationResult.CREATED and is_controlled_by(created, owner)
    same, result = create_or_update(cms, skeleton, mutate)
    assert result is OperationResult.UNCHANGED
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    value["k"] = "2"
    updated, result = create_or_update(cms, skeleton, mutate, current=copy.deepcopy(same))
    assert result is OperationResult.UPDATED and updated["data"] == {"k": "2"}


def test_create_or_update_by_server_side_apply(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    desired = configmap("applied", {"k": "1"}, namespace=namespace)
    options: dict[str, Any] = {"field_manager": "test-controller", "server_side_apply": True}
    _, result = create_or_update(cms, desired, **options)
    assert result is OperationResult.CREATED
    cms.patch("applied", {"data": {"theirs": "x"}})  # another writer's field
    _, result = create_or_update(cms, desired, **options)
    assert result is OperationResult.UNCHANGED
    desired["data"]["k"] = "2"
    changed, result = create_or_update(cms, desired, **options)
    assert result is OperationResult.UPDATED
    assert changed["data"] == {"k": "2", "theirs": "x"}  # only our fields are ours


def test_conditions_written_once_then_only_on_change(
    client: Client, namespace: str, network_crd: str
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace, namespaced=True)
    net = nets.create(network("n"))

    def desired_status(obj: dict[str, Any], ready: str, reason: str) -> dict[str, Any]:
        status = copy.deepcopy(obj.get("status") or {})
        conditions = status.setdefault("conditions", [])
        set_condition(conditions, "Ready", ready, reason, observed_generation=get_generation(obj))
        status["observedGeneration"] = get_generation(obj)
        return status

    assert update_status(nets, net, desired_status(net, "True", "Synced"))
    net = nets.get("n")
    first = net["status"]["conditions"][0]
    assert (first["status"], first["observedGeneration"]) == ("True", 1)
    rv = net["metadata"]["resourceVersion"]
    assert not update_status(nets, net, desired_status(net, "True", "Synced"))
    assert nets.get("n")["metadata"]["resourceVersion"] == rv, "an unchanged status was written"
    assert update_status(nets, net, desired_status(net, "True", "StillSynced"))
    assert (
        nets.get("n")["status"]["conditions"][0]["lastTransitionTime"]
        == first["lastTransitionTime"]
    )
