"""The same controller with kopf: `kopf run network_configmaps_kopf.py`."""

from typing import Any

import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    kubernetes.config.load_kube_config()  # or load_incluster_config() in a pod


@kopf.on.resume("samplecrd.k8s.io", "v1", "networks")
@kopf.on.create("samplecrd.k8s.io", "v1", "networks")
@kopf.on.update("samplecrd.k8s.io", "v1", "networks", field="spec")
def ensure_configmap(spec: kopf.Spec, name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-network"},
        "data": {"cidr": spec["cidr"], "gateway": spec["gateway"]},
    }
    kopf.adopt(cm, owner=body)  # ownerReference, namespace and labels from the Network
    api = kubernetes.client.CoreV1Api()
    try:
        api.replace_namespaced_config_map(cm["metadata"]["name"], namespace, cm)
    except kubernetes.client.ApiException as err:
        if err.status != 404:
            raise  # kopf retries the handler (by default every 60 s)
        api.create_namespaced_config_map(namespace, cm)


# A hand edit of the ConfigMap is undone only with one more handler, on
# ConfigMaps, that finds the owner and repeats the work.
# Deletion: the garbage collector deletes the owned ConfigMap.
