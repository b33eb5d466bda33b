"""Helpers for integration tests (importable: ``from tests.integration.support import ...``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeloop.errors import is_not_found

if TYPE_CHECKING:
    from kubeloop.client import Client
    from kubeloop.testenv import ControlPlane

REPO = Path(__file__).resolve().parents[2]
NETWORK_CRD = REPO / "config" / "crd" / "networks.samplecrd.k8s.io.yaml"


def wait_until(cond: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Poll a condition the server reaches asynchronously, failing loudly
    on timeout (for fixture-level checks where no watch is in play)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ensure_crd(client: Client, manifest: dict[str, Any], timeout: float = 60.0) -> None:
    crds = client.resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
    name = manifest["metadata"]["name"]
    try:
        crds.get(name)
    except Exception as err:
        if not is_not_found(err):
            raise
        crds.create(manifest)

    def established() -> bool:
        # Right after creation the status may carry "conditions": null.
        conditions = (crds.get(name).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_until(established, timeout, f"CRD {name} to be Established")


def network(name: str, cidr: str = "10.0.0.0/24", gateway: str = "10.0.0.1") -> dict[str, Any]:
    return {
        "apiVersion": "samplecrd.k8s.io/v1",
        "kind": "Network",
        "metadata": {"name": name},
        "spec": {"cidr": cidr, "gateway": gateway},
    }


def deployment(
    name: str,
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    replicas: int = 0,
) -> dict[str, Any]:
    """An apps/v1 Deployment of the pause image (no kubelet runs it:
    ``replicas`` only decides how many Pods stay Pending)."""
    selector = {"app": name}
    metadata: dict[str, Any] = {"name": name}
    if annotations is not None:
        metadata["annotations"] = annotations
    if labels is not None:
        metadata["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def token_for(cp: ControlPlane, namespace: str, service_account: str) -> str:
    """A real bound token (TokenRequest) for an existing service account."""
    from kubeloop.testenv.pytest_plugin import admin_request

    token: str = admin_request(
        cp,
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )["status"]["token"]
    return token
