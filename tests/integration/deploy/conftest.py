"""deploy/'s manifests applied once per module, and the service account's
token laid out as the kubelet mounts it, for the tests that run the
controller in-cluster."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeloop.testenv import ControlPlane
from kubeloop.testenv.pytest_plugin import KubectlRunner
from tests.integration.support import REPO, token_for

DEPLOY = REPO / "deploy"
NS = "kubeloop-system"
#: Applied in this order (the namespace first); deleted in reverse.
MANIFESTS = ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "metrics-reader.yaml")


@pytest.fixture(scope="module")
def installed(kubectl: KubectlRunner, network_crd: str) -> Iterator[None]:
    """deploy/'s namespace, service account and RBAC, applied as a user
    would, and deleted after the module: the ClusterRole, its binding and
    the fixed namespace (with the Lease the controller took there) must not
    outlive it, or the next run in this session starts from their state.
    ``kubectl delete`` waits until they are gone."""
    manifests = [DEPLOY / name for name in MANIFESTS]
    try:
        for manifest in manifests:
            kubectl("apply", "--server-side", "-f", str(manifest))
        yield
    finally:
        files = [f"--filename={m}" for m in reversed(manifests)]
        kubectl("delete", "--wait=true", "--ignore-not-found", "--timeout=90s", *files)


def service_account_dir(cp: ControlPlane, tmp: Path) -> Path:
    """The in-cluster files (token, ca.crt, namespace) of deploy/'s service account."""
    token = token_for(cp, NS, "network-controller")
    sa_dir = tmp / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token)
    (sa_dir / "ca.crt").write_bytes((cp.pki / "ca.crt").read_bytes())
    (sa_dir / "namespace").write_text(NS)
    return sa_dir


def in_cluster_env(cp: ControlPlane, tmp: Path) -> dict[str, str]:
    """The environment of a pod of deploy/'s Deployment: the service host and
    port, the service account's files, and no ~/.kube/config."""
    match = re.match(r"https://([^:]+):(\d+)", cp.server)
    assert match, cp.server
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),  # no ~/.kube/config: in-cluster it is
        "KUBERNETES_SERVICE_HOST": match.group(1),
        "KUBERNETES_SERVICE_PORT": match.group(2),
        "KUBELOOP_SERVICEACCOUNT_DIR": str(service_account_dir(cp, tmp)),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
