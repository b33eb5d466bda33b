"""The Foo controller as an ``async def`` reconcile: the same behaviour as
:mod:`sample_controller.controller`, line for line, with every API call
awaited through an :class:`~kubeloop.client.AsyncClient` (reads stay cache
reads: a lister is memory). docs/async.md shows the two side by side.

::

    async def main() -> int:
        manager = Manager.from_args(args)
        async with AsyncClient(manager.config) as client:
            add_async_controller(manager, client)
            return await manager.run_async()      # until SIGTERM
"""

from __future__ import annotations

from typing import Any

from kubeloop.client import AsyncClient
from kubeloop.errors import KubeloopError, is_not_found
from kubeloop.runtime import (
    Context,
    Controller,
    Manager,
    Result,
    TerminalError,
    is_controlled_by,
    status_differs,
)
from sample_controller.controller import (
    DEPLOYMENT,
    ERR_RESOURCE_EXISTS,
    FIELD_MANAGER,
    FOO,
    FOO_API_VERSION,
    MESSAGE_RESOURCE_EXISTS,
    MESSAGE_RESOURCE_SYNCED,
    SUCCESS_SYNCED,
    ResourceExistsError,
    new_deployment,
)

__all__ = ["AsyncFooReconciler", "add_async_controller"]


class AsyncFooReconciler:
    """Makes one Foo's Deployment and status match its spec, awaited."""

    def __init__(self, manager: Manager, client: AsyncClient) -> None:
        self.deployments = manager.lister(DEPLOYMENT)
        self.deployment_client = client.resource("apps/v1", "deployments", namespaced=True)
        self.foo_client = client.resource(FOO_API_VERSION, "foos", namespaced=True)

    async def __call__(self, ctx: Context[dict[str, Any]], foo: dict[str, Any] | None) -> Result:
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
            deployment = await deployments.create(new_deployment(foo), field_manager=FIELD_MANAGER)
        if not is_controlled_by(deployment, foo):
            message = MESSAGE_RESOURCE_EXISTS.format(name)
            ctx.event("Warning", ERR_RESOURCE_EXISTS, message)
            raise ResourceExistsError(message)
        replicas = spec.get("replicas")
        if replicas is not None and replicas != (deployment.get("spec") or {}).get("replicas"):
            ctx.log.debug("Update deployment resource", desiredReplicas=replicas)
            deployment = await deployments.update(new_deployment(foo), field_manager=FIELD_MANAGER)
        available = (deployment.get("status") or {}).get("availableReplicas", 0)
        status = {"availableReplicas": available}
        if status_differs(status, foo.get("status") or {}):
            foos = self.foo_client.with_namespace(ctx.namespace)
            await foos.patch_status(foo["metadata"]["name"], {"status": status})
        ctx.event("Normal", SUCCESS_SYNCED, MESSAGE_RESOURCE_SYNCED)
        return Result.done()


def add_async_controller(
    manager: Manager, client: AsyncClient, *, workers: int = 2, resync: float | None = 30.0
) -> Controller[dict[str, Any]]:
    """:func:`~sample_controller.add_controller` with the async reconcile:
    at most ``workers`` Foos reconciled at once, as tasks on the manager's loop."""
    return manager.controller(
        FOO, AsyncFooReconciler(manager, client), name="foo", workers=workers, requeue_every=resync
    ).owns(DEPLOYMENT)
