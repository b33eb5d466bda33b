"""Deployments -> Networks: a Deployment annotated
``samplecrd.k8s.io/network-cidr: <cidr>`` (and optionally
``samplecrd.k8s.io/network-gateway``, default: the first host) gets a Network
of the same name, owned by it through an ownerReference, kept in step with
the annotation, and removed with the Deployment.

Removal: the garbage collector deletes owned Networks when it runs (it does
in testenv and in real clusters); when the Deployment is gone and its
Network is still there, this controller deletes it too, so the guarantee
holds without a garbage collector.

It is a second small controller with its own workqueue, combining the
Deployment informer (built-in kind) with the Network informer (CRD), as the
sample-controller does with its Foo and Deployment informers.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

from kubeloop.cache import (
    DeletedFinalStateUnknown,
    Lister,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    meta_namespace_key_func,
    split_meta_namespace_key,
    wait_for_cache_sync,
)
from kubeloop.client import Client
from kubeloop.errors import KubeloopError, is_already_exists, is_not_found
from kubeloop.events import WARNING, EventRecorder
from kubeloop.workqueue import RateLimitingQueue
from network_controller.controller import FIELD_MANAGER, NETWORK_API_VERSION, _meta

log = logging.getLogger("network_controller.deployments")

CIDR_ANNOTATION = "samplecrd.k8s.io/network-cidr"
GATEWAY_ANNOTATION = "samplecrd.k8s.io/network-gateway"


def _owner_deployment(network: Any) -> str | None:
    for ref in _meta(network).get("ownerReferences") or []:
        if ref.get("kind") == "Deployment" and ref.get("apiVersion") == "apps/v1":
            return str(ref.get("name"))
    return None


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


class DeploymentNetworkController:
    def __init__(
        self,
        client: Client,
        deployment_informer: SharedIndexInformer,
        network_informer: SharedIndexInformer,
        recorder: EventRecorder,
    ) -> None:
        self.networks = client.resource(NETWORK_API_VERSION, "networks", namespaced=True)
        self.deployment_lister = Lister(deployment_informer.get_indexer(), "deployments")
        self.network_lister = Lister(network_informer.get_indexer(), "networks")
        self.synced = (deployment_informer.has_synced, network_informer.has_synced)
        self.recorder = recorder
        self.workqueue: RateLimitingQueue[str] = RateLimitingQueue(name="deployments")
        deployment_informer.add_event_handler(
            ResourceEventHandlerFuncs(
                add_func=self._enqueue,
                update_func=self._on_update,
                delete_func=self._on_delete,
            )
        )
        # A Network owned by a Deployment that changes or disappears sends
        # its owner round again (sample-controller's handleObject).
        network_informer.add_event_handler(
            ResourceEventHandlerFuncs(
                add_func=self._enqueue_owner,
                update_func=lambda old, new: self._enqueue_owner(new),
                delete_func=self._enqueue_owner,
            )
        )

    def _enqueue(self, obj: Any) -> None:
        self.workqueue.add(meta_namespace_key_func(obj))

    def _on_update(self, old: Any, new: Any) -> None:
        if _meta(old).get("resourceVersion") != _meta(new).get("resourceVersion"):
            self._enqueue(new)

    def _on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.workqueue.add(obj.key)
        else:
            self._enqueue(obj)

    def _enqueue_owner(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            obj = obj.obj
        owner = _owner_deployment(obj)
        if owner:
            self.workqueue.add(f"{_meta(obj).get('namespace')}/{owner}")

    def run(self, workers: int, stop: threading.Event) -> None:
        if not wait_for_cache_sync(stop, *self.synced):
            self.workqueue.shut_down()
            return
        threads = [
            threading.Thread(target=self._worker, args=(stop,), name=f"deployment-worker-{i}")
            for i in range(workers)
        ]
        for t in threads:
            t.start()
        stop.wait()
        self.workqueue.shut_down()
        for t in threads:
            t.join()

    def _worker(self, stop: threading.Event) -> None:
        while True:
            key, shutdown = self.workqueue.get()
            if shutdown or key is None:
                return
            try:
                if stop.is_set():
                    continue
                self.sync_handler(key)
                self.workqueue.forget(key)
            except Exception as err:
                self.workqueue.add_rate_limited(key)
                log.error("error syncing deployment '%s': %s, requeuing", key, err)
            finally:
                self.workqueue.done(key)

    def sync_handler(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        network = self._owned_network(namespace, name)
        try:
            deployment = self.deployment_lister.namespaced(namespace).get(name)
        except KubeloopError as err:
            if not is_not_found(err):
                raise
            if network is not None:  # no garbage collector did it
                self._delete_network(namespace, name)
            return
        annotations = _meta(deployment).get("annotations") or {}
        try:
            spec = desired_spec(annotations)
        except ValueError as err:
            self.recorder.event(deployment, WARNING, "InvalidNetworkAnnotation", str(err))
            return
        if spec is None:
            if network is not None:
                self._delete_network(namespace, name)
            return
        existing = self._any_network(namespace, name)
        if existing is not None and network is None:
            message = f"Network {namespace}/{name} exists and is not owned by this Deployment"
            self.recorder.event(deployment, WARNING, "NetworkExists", message)
            return
        if network is None:
            self._create_network(deployment, spec)
        elif (network.get("spec") or {}) != spec:
            self.networks.patch(name, {"spec": spec}, namespace=namespace)
            log.info("Updated Network %s/%s from Deployment annotations", namespace, name)

    def _any_network(self, namespace: str, name: str) -> Any | None:
        try:
            return self.network_lister.namespaced(namespace).get(name)
        except KubeloopError as err:
            if is_not_found(err):
                return None
            raise

    def _owned_network(self, namespace: str, name: str) -> Any | None:
        network = self._any_network(namespace, name)
        if network is not None and _owner_deployment(network) == name:
            return network
        return None

    def _create_network(self, deployment: Any, spec: dict[str, str]) -> None:
        meta = _meta(deployment)
        body = {
            "apiVersion": NETWORK_API_VERSION,
            "kind": "Network",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": spec,
        }
        try:
            self.networks.create(body, field_manager=FIELD_MANAGER)
            log.info("Created Network %s/%s for its Deployment", meta["namespace"], meta["name"])
        except KubeloopError as err:
            if not is_already_exists(err):  # the cache was behind: next sync sees it
                raise

    def _delete_network(self, namespace: str, name: str) -> None:
        try:
            self.networks.delete(name, namespace=namespace)
            log.info("Deleted Network %s/%s: its Deployment no longer asks for it", namespace, name)
        except KubeloopError as err:
            if not is_not_found(err):
                raise
