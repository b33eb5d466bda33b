"""The same controller with the official client (`kubernetes`): list, then
watch, and relist when the watch's resourceVersion has expired."""

from typing import Any

from kubernetes import client, config, watch

GROUP, VERSION, PLURAL = "samplecrd.k8s.io", "v1", "networks"


def ensure_configmap(core: client.CoreV1Api, net: dict[str, Any]) -> None:
    meta = net["metadata"]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{meta['name']}-network",
            "ownerReferences": [
                {
                    "apiVersion": net["apiVersion"],
                    "kind": net["kind"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {"cidr": net["spec"]["cidr"], "gateway": net["spec"]["gateway"]},
    }
    try:
        core.replace_namespaced_config_map(cm["metadata"]["name"], meta["namespace"], cm)
    except client.ApiException as err:
        if err.status != 404:
            raise
        core.create_namespaced_config_map(meta["namespace"], cm)


def main() -> None:
    config.load_kube_config()  # or config.load_incluster_config() in a pod
    custom, core = client.CustomObjectsApi(), client.CoreV1Api()
    while True:
        nets = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        for net in nets["items"]:
            ensure_configmap(core, net)
        stream = watch.Watch().stream(
            custom.list_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            resource_version=nets["metadata"]["resourceVersion"],
            timeout_seconds=300,
        )
        try:
            for event in stream:
                if event["type"] in ("ADDED", "MODIFIED"):
                    ensure_configmap(core, event["object"])  # an error ends the program
        except client.ApiException as err:
            if err.status != 410:  # 410 Gone: the resourceVersion expired, relist
                raise


if __name__ == "__main__":
    main()
