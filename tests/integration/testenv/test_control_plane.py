"""The testenv is a real, secured control plane: version, CRDs, RBAC,
coordination and events, controllers, and persistence across restarts."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kubeloop.testenv import KUBE_VERSION, ControlPlane
from kubeloop.testenv.pytest_plugin import KubectlRunner, admin_request
from tests.integration.support import NETWORK_CRD as CRD
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration


def exists(cp: ControlPlane, path: str) -> bool:
    try:
        admin_request(cp, "GET", path)
        return True
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return False
        raise


def test_kubectl_version_reports_the_real_server_version(kubectl: KubectlRunner) -> None:
    out = json.loads(kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == KUBE_VERSION
    assert out["serverVersion"]["minor"] == "37"


def test_crd_applied_with_kubectl_becomes_established_and_serves_objects(
    kubectl: KubectlRunner, namespace: str
) -> None:
    kubectl("apply", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/networks.samplecrd.k8s.io")
    manifest = f"""
apiVersion: samplecrd.k8s.io/v1
kind: Network
metadata: {{name: n1, namespace: {namespace}}}
spec: {{cidr: 10.1.0.0/16, gateway: 10.1.0.1}}
"""
    kubectl("apply", "-f", "-", input=manifest)
    got = json.loads(kubectl("get", "network", "n1", "-n", namespace, "-o", "json").stdout)
    assert got["spec"] == {"cidr": "10.1.0.0/16", "gateway": "10.1.0.1"}


def test_crd_rejects_gateway_outside_cidr_with_a_clear_message(
    kubectl: KubectlRunner, namespace: str
) -> None:
    kubectl("apply", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/networks.samplecrd.k8s.io")
    bad = f"""
apiVersion: samplecrd.k8s.io/v1
kind: Network
metadata: {{name: bad, namespace: {namespace}}}
spec: {{cidr: 10.1.0.0/16, gateway: 10.2.0.1}}
"""
    proc = kubectl("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert "spec.gateway must lie inside spec.cidr" in proc.stderr


def test_lease_and_event_can_be_created(testenv: ControlPlane, namespace: str) -> None:
    lease = admin_request(
        testenv,
        "POST",
        f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
        {"metadata": {"name": "l1"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    )
    assert lease["spec"]["holderIdentity"] == "me"
    event = admin_request(
        testenv,
        "POST",
        f"/api/v1/namespaces/{namespace}/events",
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Lease", "name": "l1", "namespace": namespace},
            "reason": "Test",
            "message": "hello",
            "type": "Normal",
        },
    )
    assert event["reason"] == "Test"


def _token_for(cp: ControlPlane, namespace: str, sa: str) -> str:
    admin_request(
        cp, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": sa}}
    )
    tr = admin_request(
        cp,
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    token: str = tr["status"]["token"]
    return token


def _as_token(cp: ControlPlane, token: str, path: str) -> int:
    ctx = ssl.create_default_context(cafile=str(cp.pki / "ca.crt"))
    req = urllib.request.Request(cp.server + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            code: int = resp.status
            return code
    except urllib.error.HTTPError as err:
        return err.code


def test_rbac_refuses_a_service_account_without_a_role(
    testenv: ControlPlane, kubectl: KubectlRunner, namespace: str
) -> None:
    token = _token_for(testenv, namespace, "nobody")
    who = f"system:serviceaccount:{namespace}:nobody"
    can = kubectl(
        "auth", "can-i", "list", "configmaps", "-n", namespace, f"--as={who}", check=False
    )
    assert can.stdout.strip() == "no"
    assert _as_token(testenv, token, f"/api/v1/namespaces/{namespace}/configmaps") == 403

    # ...and a role makes the same request pass: the token itself is valid.
    admin_request(
        testenv,
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {
            "metadata": {"name": "cm-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        },
    )
    admin_request(
        testenv,
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "cm-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "cm-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
        },
    )
    wait_until(
        lambda: _as_token(testenv, token, f"/api/v1/namespaces/{namespace}/configmaps") == 200,
        what="the role binding to take effect",
    )
    assert _as_token(testenv, "not-a-token", f"/api/v1/namespaces/{namespace}/configmaps") == 401


def test_garbage_collector_deletes_dependents(testenv: ControlPlane, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = admin_request(testenv, "POST", base, {"metadata": {"name": "owner"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    admin_request(testenv, "POST", base, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    admin_request(testenv, "DELETE", f"{base}/owner")
    wait_until(lambda: not exists(testenv, f"{base}/child"), what="the GC to delete the dependent")


def test_namespace_controller_finishes_namespace_deletion(testenv: ControlPlane) -> None:
    admin_request(testenv, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    admin_request(
        testenv, "POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "c"}}
    )
    admin_request(testenv, "DELETE", "/api/v1/namespaces/doomed")
    wait_until(lambda: not exists(testenv, "/api/v1/namespaces/doomed"), what="namespace deletion")


def test_restart_on_the_same_data_dir_keeps_objects(tmp_path: Path) -> None:
    body: dict[str, Any] = {"metadata": {"name": "survivor"}, "data": {"k": "v"}}
    with ControlPlane(tmp_path / "env") as cp:
        admin_request(cp, "POST", "/api/v1/namespaces/default/configmaps", body)
        first_uid = admin_request(cp, "GET", "/api/v1/namespaces/default/configmaps/survivor")[
            "metadata"
        ]["uid"]
    assert not cp.running
    with ControlPlane(tmp_path / "env") as cp2:
        got = admin_request(cp2, "GET", "/api/v1/namespaces/default/configmaps/survivor")
    assert got["metadata"]["uid"] == first_uid
    assert got["data"] == {"k": "v"}


def test_no_control_plane_outlives_a_killed_test_process(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    import psutil

    script = (
        "import sys, threading\n"
        "from kubeloop.testenv import ControlPlane\n"
        "cp = ControlPlane(sys.argv[1])\n"
        # Started from a worker thread that then ends: the control plane
        # must stay up while its process lives.
        "t = threading.Thread(target=cp.start); t.start(); t.join()\n"
        "print(cp._proc.pid, flush=True)\n"
        "threading.Event().wait()\n"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "env")], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    child = psutil.Process(int(launcher.stdout.readline()))
    family = [child, *child.children(recursive=True)]
    assert child.is_running() and len(family) >= 2  # testenv and its controller manager
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    _, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"left behind: {alive}"
