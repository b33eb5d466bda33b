"""deploy/linux-backend/ is valid and admitted: its root, NET_ADMIN,
privileged pod passes Pod Security in its own "privileged" namespace, and
would not in the mock backend's "restricted" one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from kubeloop.testenv.pytest_plugin import KubectlRunner
from tests.integration.support import REPO

pytestmark = pytest.mark.integration

LINUX = REPO / "deploy" / "linux-backend"
NS = "kubeloop-linux"


@pytest.fixture(scope="module")
def linux_namespace(kubectl: KubectlRunner) -> Iterator[None]:
    """The variant's namespace, applied for real (a dry run of the objects in
    it needs it to exist), and deleted after the module."""
    manifest = str(LINUX / "namespace.yaml")
    try:
        kubectl("apply", "--server-side", "-f", manifest)
        yield
    finally:
        kubectl("delete", "--wait=true", "--ignore-not-found", "--timeout=90s", "-f", manifest)


def test_the_linux_backend_manifests_pass_a_server_side_dry_run_without_a_pod_security_warning(
    kubectl: KubectlRunner, linux_namespace: None
) -> None:
    proc = kubectl("apply", "--server-side", "--dry-run=server", "-f", str(LINUX))
    out = proc.stdout + proc.stderr
    for kind_name in (
        f"namespace/{NS}",
        "serviceaccount/network-controller",
        "clusterrolebinding.rbac.authorization.k8s.io/kubeloop:network-controller-linux",
        "role.rbac.authorization.k8s.io/kubeloop:network-controller-leader-election",
        "rolebinding.rbac.authorization.k8s.io/kubeloop:network-controller-leader-election",
        "deployment.apps/network-controller",
    ):
        assert f"{kind_name} serverside-applied (server dry run)" in out, out
    assert "PodSecurity" not in out, out


def test_the_same_pod_would_violate_the_restricted_standard(
    kubectl: KubectlRunner, linux_namespace: None
) -> None:
    """The check above can fail: relabelled "restricted", the namespace's
    Pod Security admission warns about this very Deployment."""
    deployment = yaml.safe_load((LINUX / "deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][2:4] == [
        "--backend=linux",
        "--netns=kubeloop",
    ]
    kubectl(
        "label", "--overwrite", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted"
    )
    try:
        proc = kubectl(
            "apply", "--server-side", "--dry-run=server", "-f", str(LINUX / "deployment.yaml")
        )
        out = proc.stdout + proc.stderr
        assert 'would violate PodSecurity "restricted' in out, out
        assert "privileged" in out and "NET_ADMIN" in out, out
    finally:
        kubectl(
            "label", "--overwrite", "namespace", NS, "pod-security.kubernetes.io/enforce=privileged"
        )
