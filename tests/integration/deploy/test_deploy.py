"""deploy/ is valid, least privilege, and sufficient: the controller runs
with its service account's token through the in-cluster config path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.errors import NotFound
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.pytest_plugin import KubectlRunner
from tests.integration.support import network, wait_until

from .conftest import DEPLOY, NS, in_cluster_env

pytestmark = pytest.mark.integration

SA = f"system:serviceaccount:{NS}:network-controller"

#: What the controller does, and therefore exactly what RBAC grants it.
EXPECTED_RULES = {
    ("networks.samplecrd.k8s.io", "create"),
    ("networks.samplecrd.k8s.io", "delete"),
    ("networks.samplecrd.k8s.io", "list"),
    ("networks.samplecrd.k8s.io", "patch"),
    ("networks.samplecrd.k8s.io", "watch"),
    ("networks.samplecrd.k8s.io/status", "patch"),
    ("deployments.apps", "list"),
    ("deployments.apps", "watch"),
    ("events.events.k8s.io", "create"),
    ("events.events.k8s.io", "patch"),
    ("events", "create"),
    ("events", "patch"),
    ("leases.coordination.k8s.io", "create"),
    ("leases.coordination.k8s.io", "get"),
    ("leases.coordination.k8s.io", "update"),
    # The secure metrics server reviews each scraper's token and access.
    ("tokenreviews.authentication.k8s.io", "create"),
    ("subjectaccessreviews.authorization.k8s.io", "create"),
}


def test_every_manifest_passes_a_server_side_dry_run_apply(
    kubectl: KubectlRunner, installed: None
) -> None:
    out = kubectl("apply", "--server-side", "--dry-run=server", "-f", str(DEPLOY)).stdout
    for kind_name in (
        "namespace/kubeloop-system",
        "serviceaccount/network-controller",
        "clusterrole.rbac.authorization.k8s.io/kubeloop:network-controller",
        "clusterrolebinding.rbac.authorization.k8s.io/kubeloop:network-controller",
        "role.rbac.authorization.k8s.io/kubeloop:network-controller-leader-election",
        "rolebinding.rbac.authorization.k8s.io/kubeloop:network-controller-leader-election",
        "deployment.apps/network-controller",
        "clusterrole.rbac.authorization.k8s.io/kubeloop:network-controller-metrics-reader",
        "clusterrolebinding.rbac.authorization.k8s.io/kubeloop:network-controller-metrics-reader",
        "service/network-controller-metrics",
    ):
        assert f"{kind_name} serverside-applied (server dry run)" in out, out


def _can_i_list(kubectl: KubectlRunner, who: str) -> set[tuple[str, str]]:
    out = kubectl("auth", "can-i", "--list", "-n", NS, f"--as={who}").stdout
    rules: set[tuple[str, str]] = set()
    for line in out.splitlines()[1:]:
        m = re.match(r"^(\S*)\s+(\[.*?\])\s+(\[.*?\])\s+\[(.*)\]\s*$", line)
        assert m, f"unparsed can-i line: {line!r}"
        resource, non_resource = m.group(1) or m.group(2), m.group(2)
        for verb in m.group(4).split():
            rules.add((resource if m.group(1) else non_resource, verb))
    return rules


def test_rbac_grants_exactly_what_the_controller_uses(
    kubectl: KubectlRunner, installed: None
) -> None:
    granted = _can_i_list(kubectl, SA)
    # Every authenticated identity gets discovery and self-review rules;
    # they are not ours to grant or remove.
    baseline = _can_i_list(kubectl, f"system:serviceaccount:{NS}:nobody")
    assert granted - baseline == EXPECTED_RULES


def test_the_controller_runs_in_cluster_with_its_service_account(
    testenv: ControlPlane, installed: None, client: Client, namespace: str, tmp_path: Path
) -> None:
    env = in_cluster_env(testenv, tmp_path)
    state = tmp_path / "state"
    proc = ControllerProcess("", str(state), ["--namespace", namespace, "--resync", "2s"], env)
    proc.start()
    try:
        # In-cluster, leader election is on by default: the Lease verbs of
        # the Role are exercised too.
        proc.wait_for(lambda line: "became leader" in line, 0)
        proc.wait_for(lambda line: '"Starting workers" controller="networks"' in line, 0)
        nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)

        nets.create(network("n1", "10.7.0.0/16", "10.7.0.1"))
        wait_until(lambda: _ready(nets.get("n1")), 30, "n1 Ready=True")
        nets.patch("n1", {"spec": {"gateway": "10.7.0.254"}})
        wait_until(lambda: _ready(nets.get("n1"), generation=2), 30, "n1 updated")
        deployments = client.resource("apps/v1", "deployments", namespace=namespace)
        deployments.create(_annotated_deployment("web", "10.8.0.0/16"))
        wait_until(lambda: _exists(nets, "web"), 30, "the Deployment's Network")
        mark = proc.mark()
        nets.delete("n1")
        proc.wait_for(lambda line: f"Deleting network {namespace}/n1" in line, mark)
        events = client.resource("events.k8s.io/v1", "events", namespace=namespace).list()
        created = [e for e in events.items if e["reason"] == "Created"]
        assert created and created[0]["reportingController"] == "network-controller"
        assert proc.terminate() == 0
    finally:
        proc.kill()
    log = "\n".join(proc.lines)
    # A refused request logs reason Forbidden and status 403 (not the digits
    # of a timestamp such as 57.403399).
    assert "Forbidden" not in log and not re.search(r"(?<![\d.])403(?!\d)", log), log


def _ready(obj: dict[str, Any], generation: int = 1) -> bool:
    status = obj.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return (
        status.get("observedGeneration") == generation
        and bool(ready)
        and (ready[0]["status"] == "True")
    )


def _exists(rc: Any, name: str) -> bool:
    """Only a NotFound means "not yet"; any other error (a 403 above all, in a
    test of RBAC) fails the wait with its own message."""
    try:
        rc.get(name)
    except NotFound:
        return False
    return True


def _annotated_deployment(name: str, cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"samplecrd.k8s.io/network-cidr": cidr}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
