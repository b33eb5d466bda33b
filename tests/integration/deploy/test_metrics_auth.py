"""The secure metrics server with deploy/'s RBAC, on the real API server: the
controller runs in-cluster as its service account (so its TokenReviews and
SubjectAccessReviews go through the ClusterRole's two new rules), and
scrapers present real TokenRequest tokens. Anonymous and bad tokens get 401,
a service account without ``metrics-reader`` 403, one bound to it 200 with
the workqueue series; the probes answer on their own port without a token."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.pytest_plugin import admin_request
from tests.integration.support import network, token_for, wait_until

from .conftest import in_cluster_env

pytestmark = pytest.mark.integration

READER_ROLE = "kubeloop:network-controller-metrics-reader"


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    # The certificate is the self-signed one the controller made at start.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def scrapers(testenv: ControlPlane, namespace: str) -> Iterator[tuple[str, str]]:
    """Tokens of two service accounts: ``reader``, bound to deploy/'s
    metrics-reader ClusterRole as a user binds their Prometheus, and
    ``stranger``, bound to nothing."""
    for name in ("reader", "stranger"):
        admin_request(
            testenv,
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"metadata": {"name": name}},
        )
    binding = f"metrics-reader-{uuid.uuid4().hex[:8]}"
    admin_request(
        testenv,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": READER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    try:
        yield token_for(testenv, namespace, "reader"), token_for(testenv, namespace, "stranger")
    finally:
        admin_request(
            testenv, "DELETE", f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{binding}"
        )


def test_scrapes_need_a_token_and_the_metrics_reader_role(
    testenv: ControlPlane,
    installed: None,
    client: Client,
    namespace: str,
    scrapers: tuple[str, str],
    tmp_path: Path,
) -> None:
    reader, stranger = scrapers
    proc = ControllerProcess(
        "",
        str(tmp_path / "state"),
        ["--namespace", namespace, "--no-leader-elect"],
        in_cluster_env(testenv, tmp_path),
    )
    proc.start()
    try:
        metrics = f"https://127.0.0.1:{proc.served_port('metrics')}/metrics"
        probes = f"http://127.0.0.1:{proc.served_port('health probes')}"
        wait_until(lambda: _get(f"{probes}/readyz")[0] == 200, 60, "/readyz without a token")
        assert _get(f"{probes}/healthz") == (200, "ok")
        assert _get(f"{probes}/metrics")[0] == 404  # no data on the probe port

        nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
        nets.create(network("m1"))
        proc.wait_for(lambda line: "Successfully synced" in line, 0)

        assert _get(metrics) == (401, "Unauthorized\n")
        assert _get(metrics, "not-a-token")[0] == 401
        code, body = _get(metrics, stranger)
        assert code == 403, body
        assert f"user=system:serviceaccount:{namespace}:stranger" in body
        code, body = _get(metrics, reader)
        assert code == 200, body
        assert 'workqueue_adds_total{name="networks"}' in body
        assert "controller_runtime_reconcile_total" in body
        assert proc.terminate() == 0
    finally:
        proc.kill()
    log = "\n".join(proc.lines)
    for secret in (reader, stranger):
        assert secret not in log
    # The controller's own reviews were allowed by its ClusterRole.
    assert "cannot review" not in log and "Forbidden" not in log, log
