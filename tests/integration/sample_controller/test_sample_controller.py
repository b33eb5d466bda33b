"""k8s.io/sample-controller's behaviours, one test each, on testenv.

testenv runs no Deployment controller and no kubelet: a Deployment's status
stays as written, so the tests write it through the status subresource to
stand in for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.client import Client, ResourceClient
from tests.integration.support import deployment, wait_until

from .conftest import WAIT, Observer, Running

FOO_API_VERSION = "samplecontroller.k8s.io/v1alpha1"


def foo(name: str, deployment_name: str, replicas: int | None = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {"deploymentName": deployment_name}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": FOO_API_VERSION, "kind": "Foo", "metadata": {"name": name}, "spec": spec}


def foos(client: Client, namespace: str) -> ResourceClient:
    return client.resource(FOO_API_VERSION, "foos", namespace=namespace, namespaced=True)


def deployments(client: Client, namespace: str) -> ResourceClient:
    return client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)


def test_a_foo_gets_a_deployment_with_its_labels_template_replicas_and_controller_reference(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    created = foos(client, namespace).create(foo("example-foo", "example-deploy", replicas=3))
    got = observer.wait_for(lambda: observer.get("deployments", "example-deploy"), "a Deployment")
    labels = {"app": "nginx", "controller": "example-foo"}
    assert got["metadata"]["ownerReferences"] == [
        {
            "apiVersion": FOO_API_VERSION,
            "kind": "Foo",
            "name": "example-foo",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = got["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": labels}
    assert spec["template"]["metadata"]["labels"] == labels
    [container] = spec["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx:latest")


def test_the_deployments_replicas_follow_the_foo(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    foos(client, namespace).create(foo("scaled", "scaled", replicas=1))
    observer.wait_for(lambda: observer.get("deployments", "scaled"), "a Deployment")
    foos(client, namespace).patch("scaled", {"spec": {"replicas": 4}})
    observer.wait_for(
        lambda: (observer.get("deployments", "scaled") or {}).get("spec", {}).get("replicas") == 4,
        "4 replicas",
    )
    # And back, when someone else scales the Deployment.
    deployments(client, namespace).patch("scaled", {"spec": {"replicas": 7}})
    observer.wait_for(
        lambda: observer.get("deployments", "scaled")["spec"]["replicas"] == 4,
        "the Foo's 4 replicas again",
    )


def test_a_deleted_deployment_is_recreated(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    foos(client, namespace).create(foo("phoenix", "phoenix"))
    first = observer.wait_for(lambda: observer.get("deployments", "phoenix"), "a Deployment")
    deployments(client, namespace).delete("phoenix")
    again = observer.wait_for(
        lambda: (
            (d := observer.get("deployments", "phoenix"))
            and d["metadata"]["uid"] != first["metadata"]["uid"]
            and d
        ),
        "a new Deployment",
    )
    assert again["metadata"]["ownerReferences"] == first["metadata"]["ownerReferences"]


def test_a_deployment_the_foo_does_not_control_is_left_alone_and_the_foo_warned(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    theirs = deployments(client, namespace).create(deployment("taken", replicas=2))
    foos(client, namespace).create(foo("latecomer", "taken", replicas=5))
    warnings = observer.wait_for(
        lambda: observer.events_of("latecomer", "ErrResourceExists"), "a Warning"
    )
    message = 'Resource "taken" already exists and is not managed by Foo'
    assert {(e["type"], e["message"]) for e in warnings} == {("Warning", message)}
    # An error, so retried with backoff (upstream returns it to its queue).
    wait_until(
        lambda: sample_controller.metric("workqueue_retries_total", name="foo") >= 1,
        WAIT,
        "a retry",
    )
    now = deployments(client, namespace).get("taken")
    assert now["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]
    assert not now["metadata"].get("ownerReferences")
    assert now["spec"]["replicas"] == 2
    assert not observer.events_of("latecomer", "Synced")
    assert "status" not in foos(client, namespace).get("latecomer")


def test_available_replicas_follow_the_deployment(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    foos(client, namespace).create(foo("counted", "counted", replicas=3))
    observer.wait_for(lambda: observer.get("deployments", "counted"), "a Deployment")

    def available() -> Any:
        return ((observer.get("foos", "counted") or {}).get("status") or {}).get(
            "availableReplicas"
        )

    def available_is(n: int) -> Callable[[], bool]:
        return lambda: available() == n

    observer.wait_for(available_is(0), "availableReplicas 0")
    for n in (2, 3, 1):  # what the Deployment controller and the kubelets would report
        status = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": n, "availableReplicas": n}
        deployments(client, namespace).patch_status("counted", {"status": status})
        observer.wait_for(available_is(n), f"availableReplicas {n}")


def test_a_synced_foo_gets_a_normal_synced_event(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    foos(client, namespace).create(foo("synced", "synced"))
    events = observer.wait_for(lambda: observer.events_of("synced", "Synced"), "a Synced Event")
    assert {(e["type"], e["message"]) for e in events} == {("Normal", "Foo synced successfully")}
    assert {e.get("reportingComponent") for e in events} == {"sample-controller"}
    assert not observer.events_of("synced", "ErrResourceExists")


def test_an_empty_deployment_name_is_not_retried_until_the_foo_changes(
    client: Client, namespace: str, observer: Observer, sample_controller: Running
) -> None:
    foos(client, namespace).create(foo("unnamed", ""))

    def terminal() -> float:
        return sample_controller.metric(
            "controller_runtime_terminal_reconcile_errors_total", controller="foo"
        )

    wait_until(lambda: terminal() >= 1, WAIT, "a terminal error")
    # The runner decided before it counted: no retry was scheduled.
    runner = sample_controller.controller.runner
    assert runner is not None
    assert runner.queue.num_requeues(f"{namespace}/unnamed") == 0
    assert sample_controller.metric("workqueue_retries_total", name="foo") == 0
    assert observer.informers["deployments"].get_indexer().list() == []
    assert not observer.events_of("unnamed", "Synced")
    # The user's fix reconciles it again.
    foos(client, namespace).patch("unnamed", {"spec": {"deploymentName": "named"}})
    observer.wait_for(lambda: observer.get("deployments", "named"), "a Deployment")
