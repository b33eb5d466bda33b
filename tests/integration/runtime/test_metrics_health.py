"""The manager's servers: controller-runtime's metric names, the controller's
workqueue series, readiness once the caches synced, liveness with the elector.
Plain HTTP here (the names are the subject); the secure server's token checks
run on the real API server in tests/integration/deploy/test_metrics_auth.py."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from kubeloop.client import Client
from kubeloop.runtime import LeaderElectionOptions, Manager
from tests.integration.support import wait_until

from .conftest import WAIT, configmap, running


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sample(text: str, family: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(rf"{family}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


def test_metrics_readiness_and_liveness(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    reconciled = threading.Event()
    manager = make_manager(
        metrics_bind_address="127.0.0.1:0",
        metrics_secure=False,
        health_probe_bind_address="127.0.0.1:0",
        leader_election=LeaderElectionOptions(id="runtime-metrics", namespace=namespace),
    )
    manager.controller(("v1", "ConfigMap"), lambda ctx, obj: reconciled.set(), workers=2)
    cms.create(configmap("a"))
    server, probes = manager.server, manager.probes
    assert server is not None and probes is not None
    with running(manager):
        assert reconciled.wait(WAIT)
        base = probes.url
        wait_until(lambda: get(f"{base}/readyz")[0] == 200, WAIT, "/readyz to pass")
        code, body = get(f"{base}/healthz?verbose")
        assert code == 200 and "[+]leaderElection ok" in body
        _, text = get(f"{server.url}/metrics")
    controller = {"controller": "configmap"}
    assert (
        sample(text, "controller_runtime_reconcile_total", result="success", **controller) or 0
    ) >= 1
    for result in ("error", "requeue", "requeue_after"):
        assert sample(text, "controller_runtime_reconcile_total", result=result, **controller) == 0
    assert sample(text, "controller_runtime_reconcile_errors_total", **controller) == 0
    assert sample(text, "controller_runtime_terminal_reconcile_errors_total", **controller) == 0
    assert sample(text, "controller_runtime_max_concurrent_reconciles", **controller) == 2
    assert sample(text, "controller_runtime_active_workers", **controller) is not None
    assert (sample(text, "controller_runtime_reconcile_time_seconds_count", **controller) or 0) >= 1
    assert (sample(text, "workqueue_adds_total", name="configmap") or 0) >= 1
    assert sample(text, "leader_election_master_status", name="runtime-metrics") == 1
    assert "kubeloop_reconcile" not in text
