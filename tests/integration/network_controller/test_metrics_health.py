"""The controller's /metrics, /healthz and /readyz: ready only once the
caches have synced; metrics scraped and parsed. The probes are on their own
port; the metrics are plain HTTP here (--metrics-secure=false), the secure
default's token checks are tests/integration/deploy/test_metrics_auth.py's."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.faultproxy import FaultProxy, proxied_kubeconfig
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_readyz_waits_for_synced_caches_and_metrics_parse(
    testenv: ControlPlane, client: Client, network_crd: str, namespace: str, tmp_path: Path
) -> None:
    api_port = int(testenv.server.rsplit(":", 1)[1])
    port, probe_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{probe_port}"
    metrics = f"http://127.0.0.1:{port}/metrics"
    with FaultProxy("127.0.0.1", api_port) as proxy:
        proxy.refuse(True)  # the API server is unreachable: caches cannot sync
        kubeconfig = proxied_kubeconfig(testenv.kubeconfig, tmp_path / "kc", proxy.port)
        proc = ControllerProcess(
            str(kubeconfig),
            str(tmp_path / "state"),
            [
                *("--namespace", namespace, f"--metrics-bind-address=127.0.0.1:{port}"),
                *("--metrics-secure=false", f"--health-probe-bind-address=127.0.0.1:{probe_port}"),
            ],
        )
        proc.start()
        try:
            wait_until(lambda: _get(f"{base}/healthz")[0] == 200, 30, "/healthz")
            code, body = _get(f"{base}/readyz?verbose")
            assert code == 503, body
            assert "informer-networks" in body

            proxy.refuse(False)
            wait_until(lambda: _get(f"{base}/readyz")[0] == 200, 60, "/readyz after sync")
            nets = client.resource(network_crd, "networks", namespace=namespace)
            nets.create(network("m1"))
            proc.wait_for(lambda line: "Successfully synced" in line, 0)

            assert _get(f"{base}/metrics")[0] == 404  # not on the probe port
            code, text = _get(metrics)
            assert code == 200
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            names = {name for name, _ in samples}
            for expected in (
                "workqueue_adds_total",
                "workqueue_depth",
                "workqueue_work_duration_seconds_bucket",
                "controller_runtime_reconcile_total",
                "controller_runtime_reconcile_time_seconds_bucket",
                "controller_runtime_max_concurrent_reconciles",
                # The manager names its informers: their queue length (issue 21's soak).
                "informer_queued_items",
            ):
                assert expected in names, sorted(names)
            assert not [n for n in names if n.startswith("kubeloop_reconcile")], sorted(names)
            ok = samples[
                (
                    "controller_runtime_reconcile_total",
                    (("controller", "networks"), ("result", "success")),
                )
            ]
            assert ok >= 1
            assert samples[("workqueue_adds_total", (("name", "networks"),))] >= 1
            assert proc.terminate() == 0
        finally:
            proc.kill()
