"""The Foo controller: k8s.io/sample-controller's ``controller.go`` as one
reconcile function.

Every Foo (``samplecontroller.k8s.io/v1alpha1``) gets a Deployment named by
``spec.deploymentName``, controlled by the Foo, with ``spec.replicas``
replicas of ``nginx:latest``; the Foo's ``status.availableReplicas``
follows the Deployment's. What upstream writes by hand, the runtime does
once: the informers and listers, the work queue and its workers, mapping a
Deployment back to its controlling Foo (``owns``), the retries, the Events.

::

    manager = Manager.from_args(args)
    add_controller(manager)               # Foos, and the Deployments they own
    manager.run()

Kept from upstream, on purpose: a Deployment of that name that the Foo
does not control is left alone, and the Foo gets a Warning Event and is
retried with backoff (its owner may yet let it go); an empty
``deploymentName`` is not retried (nothing changes until the user edits the
Foo, which reconciles it again); the Deployment is rewritten from the Foo
only when the replicas differ, as upstream's ``Update(newDeployment(foo))``.
"""

from __future__ import annotations

from typing import Any

from kubeloop.errors import KubeloopError, is_not_found
from kubeloop.runtime import (
    Context,
    Controller,
    Manager,
    Result,
    TerminalError,
    is_controlled_by,
    new_controller_ref,
    update_status,
)

__all__ = ["FOO", "ResourceExistsError", "add_controller", "new_deployment"]

FOO_API_VERSION = "samplecontroller.k8s.io/v1alpha1"
FOO = (FOO_API_VERSION, "Foo")
DEPLOYMENT = ("apps/v1", "Deployment")
#: The Events' source and the writes' field manager (upstream's controllerAgentName).
FIELD_MANAGER = "sample-controller"

SUCCESS_SYNCED = "Synced"
ERR_RESOURCE_EXISTS = "ErrResourceExists"
MESSAGE_RESOURCE_EXISTS = 'Resource "{}" already exists and is not managed by Foo'
MESSAGE_RESOURCE_SYNCED = "Foo synced successfully"


class ResourceExistsError(KubeloopError):
    """A Deployment of the Foo's ``deploymentName`` exists and another (or
    no) controller has it."""


def new_deployment(foo: dict[str, Any]) -> dict[str, Any]:
    """The Deployment a Foo asks for (upstream's ``newDeployment``)."""
    meta, spec = foo["metadata"], foo["spec"]
    labels = {"app": "nginx", "controller": meta["name"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec["deploymentName"],
            "namespace": meta["namespace"],
            "ownerReferences": [new_controller_ref(foo, api_version=FOO_API_VERSION, kind="Foo")],
        },
        "spec": {
            "replicas": spec.get("replicas"),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
            },
        },
    }


class FooReconciler:
    """Makes one Foo's Deployment and status match its spec (upstream's ``syncHandler``)."""

    def __init__(self, manager: Manager) -> None:
        self.deployments = manager.lister(DEPLOYMENT)
        self.deployment_client = manager.client.resource("apps/v1", "deployments", namespaced=True)
        self.foo_client = manager.client.resource(FOO_API_VERSION, "foos", namespaced=True)

    def __call__(self, ctx: Context[dict[str, Any]], foo: dict[str, Any] | None) -> Result:
        if foo is None:  # deleted: the garbage collector removes its Deployment
            return Result.done()
        spec = foo.get("spec") or {}
        name = spec.get("deploymentName")
        if not name:
            raise TerminalError("deployment name must be specified")
        deployments = self.deployment_client.with_namespace(ctx.namespace)
        try:
            deployment = self.deployments.namespaced(ctx.namespace).get(name)
        except KubeloopError as err:
            if not is_not_found(err):
                raise
            deployment = deployments.create(new_deployment(foo), field_manager=FIELD_MANAGER)
        if not is_controlled_by(deployment, foo):
            message = MESSAGE_RESOURCE_EXISTS.format(name)
            ctx.event("Warning", ERR_RESOURCE_EXISTS, message)
            raise ResourceExistsError(message)
        replicas = spec.get("replicas")
        if replicas is not None and replicas != (deployment.get("spec") or {}).get("replicas"):
            ctx.log.debug("Update deployment resource", desiredReplicas=replicas)
            deployment = deployments.update(new_deployment(foo), field_manager=FIELD_MANAGER)
        available = (deployment.get("status") or {}).get("availableReplicas", 0)
        update_status(self.foo_client, foo, {"availableReplicas": available})
        ctx.event("Normal", SUCCESS_SYNCED, MESSAGE_RESOURCE_SYNCED)
        return Result.done()


def add_controller(
    manager: Manager, *, workers: int = 2, resync: float | None = 30.0
) -> Controller[dict[str, Any]]:
    """Add the Foo controller to ``manager``: upstream's two workers, and
    every Foo reconciled again each ``resync`` seconds (its informers' 30 s
    resync, which re-queues every Foo)."""
    return manager.controller(
        FOO, FooReconciler(manager), name="foo", workers=workers, requeue_every=resync
    ).owns(DEPLOYMENT)
