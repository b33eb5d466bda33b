"""Deployments -> Networks: a Deployment annotated
``samplecrd.k8s.io/network-cidr: <cidr>`` (and optionally
``samplecrd.k8s.io/network-gateway``, default: the first host) gets a Network
of the same name, owned by it through an ownerReference, kept in step with
the annotation, and removed with the Deployment.

Removal: the garbage collector deletes owned Networks when it runs (it does
in testenv and in real clusters); when the Deployment is gone and its
Network is still there, this controller deletes it too, so the guarantee
holds without a garbage collector.

It is a second controller in the same manager: Deployments are its
primary kind and it ``owns`` Networks, so a change to an owned Network sends
its Deployment round again (the sample-controller's Foo and Deployments).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import msgspec

from kubeloop.cache import Lister
from kubeloop.client import ResourceClient
from kubeloop.errors import KubeloopError, is_already_exists, is_not_found
from kubeloop.events import WARNING
from kubeloop.runtime import Context, Result, controller_of
from kubeloop.typed import ObjectMeta, OwnerReference
from network_controller.models import Network, NetworkSpec

FIELD_MANAGER = "network-controller"

log = logging.getLogger("network_controller.deployments")

CIDR_ANNOTATION = "samplecrd.k8s.io/network-cidr"
GATEWAY_ANNOTATION = "samplecrd.k8s.io/network-gateway"


def desired_spec(annotations: dict[str, str]) -> dict[str, str] | None:
    """The Network spec a Deployment's annotations ask for, or None when
    there is no CIDR annotation.

    Raises ValueError, with a message naming the annotation, for anything the
    API server would refuse (a bad CIDR, a gateway that is not an address in
    it, a network with no host for the default gateway): a Warning event on
    the Deployment tells its owner at once, where a refused create would
    only be retried with backoff for ever.

    >>> desired_spec({CIDR_ANNOTATION: "10.9.0.0/16"})
    {'cidr': '10.9.0.0/16', 'gateway': '10.9.0.1'}
    """
    cidr = (annotations.get(CIDR_ANNOTATION) or "").strip()
    if not cidr:
        return None
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as err:
        raise ValueError(f"annotation {CIDR_ANNOTATION} is not a CIDR: {err}") from None
    gateway = (annotations.get(GATEWAY_ANNOTATION) or "").strip()
    if not gateway:
        if network.num_addresses < 2:
            raise ValueError(
                f"annotation {CIDR_ANNOTATION} {cidr} has no host for a default gateway; "
                f"set {GATEWAY_ANNOTATION}"
            )
        gateway = str(network.network_address + 1)
    try:
        inside = ipaddress.ip_address(gateway) in network
    except ValueError as err:
        raise ValueError(f"annotation {GATEWAY_ANNOTATION} is not an IP address: {err}") from None
    if not inside:
        raise ValueError(f"annotation {GATEWAY_ANNOTATION} {gateway} is not inside {cidr}")
    return {"cidr": cidr, "gateway": gateway}


class DeploymentNetworks:
    """``reconcile(ctx, deployment)``: the Network the Deployment asks for.

    ``cached`` ``None`` reads the Network through the API instead of a
    cache: sharded (``--shard-count``), the Network of a Deployment may be
    in a shard another replica holds, so no cache here has it."""

    def __init__(self, networks: ResourceClient[Network], cached: Lister[Network] | None) -> None:
        self.networks = networks
        self.cached = cached

    def _cached(self, namespace: str, name: str) -> Network | None:
        try:
            if self.cached is None:
                return self.networks.get(name, namespace=namespace)
            return self.cached.namespaced(namespace).get(name)
        except KubeloopError as err:
            if is_not_found(err):
                return None
            raise

    def reconcile(self, ctx: Context[dict[str, Any]], deployment: dict[str, Any] | None) -> Result:
        namespace, name = ctx.namespace, ctx.name
        network = self._cached(namespace, name)
        ref = controller_of(network) if network is not None else None
        owned = ref is not None and (ref.api_version, ref.kind, ref.name) == (
            "apps/v1",
            "Deployment",
            name,
        )
        try:
            spec = None if deployment is None else desired_spec(_annotations(deployment))
        except ValueError as err:
            ctx.event(WARNING, "InvalidNetworkAnnotation", str(err))
            return Result.done()
        if spec is None:  # gone, or no longer asks: no garbage collector needed
            if owned:
                self._delete(namespace, name)
        elif network is not None and not owned:
            message = f"Network {namespace}/{name} exists and is not owned by this Deployment"
            ctx.event(WARNING, "NetworkExists", message)
        elif network is None:
            self._create(deployment, NetworkSpec(**spec))
        elif msgspec.to_builtins(network.spec) != spec:
            self.networks.patch(name, {"spec": spec}, namespace=namespace)
            log.info("Updated Network %s/%s from Deployment annotations", namespace, name)
        return Result.done()

    def _create(self, deployment: Any, spec: NetworkSpec) -> None:
        meta = deployment["metadata"]
        network = Network(
            metadata=ObjectMeta(
                name=meta["name"],
                namespace=meta["namespace"],
                owner_references=[
                    OwnerReference(
                        api_version="apps/v1",
                        kind="Deployment",
                        name=meta["name"],
                        uid=meta["uid"],
                        controller=True,
                    )
                ],
            ),
            spec=spec,
        )
        try:
            self.networks.create(network, field_manager=FIELD_MANAGER)
            log.info("Created Network %s/%s for its Deployment", meta["namespace"], meta["name"])
        except KubeloopError as err:
            if not is_already_exists(err):  # the cache was behind: the next sync sees it
                raise

    def _delete(self, namespace: str, name: str) -> None:
        try:
            self.networks.delete(name, namespace=namespace)
            log.info("Deleted Network %s/%s: its Deployment no longer asks for it", namespace, name)
        except KubeloopError as err:
            if not is_not_found(err):
                raise


def _annotations(deployment: dict[str, Any]) -> dict[str, str]:
    return (deployment.get("metadata") or {}).get("annotations") or {}
