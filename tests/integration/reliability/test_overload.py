"""Overload on the real API server: API Priority and Fairness rejects the
network-controller's requests with 429 and Retry-After, and the controller
backs off, holds a bounded request rate and converges.

The controller runs in-cluster as deploy/'s service account (the testenv
admin is in system:masters, which APF's exempt FlowSchema matches: it never
sees a 429). A control plane of this module's own runs with the smallest
in-flight totals, and a FlowSchema sends that service account's requests to
a priority level of one seat that rejects rather than queues (what an
operator configures to fence a tenant off). With the stock FlowSchemas the
service account lands in ``workload-low``, whose queues hold 6 x 50 requests
per flow: a controller with a few requests in flight waits there (tried:
no 429 reached it, all 300 Networks Ready in 1.6 s). Leases are left out
of the FlowSchema, as clusters keep leader election at a priority of its
own.

What the server counts for that FlowSchema (``/metrics`` as admin) is
exactly the controller's traffic: dispatched and rejected requests.

A burst of 5xx comes from the real server too: a validating webhook that
is down (failurePolicy Fail) on the controller's status writes makes each
of them a 500, until the webhook is deleted. No way was found to make this
testenv send a 5xx *with* Retry-After on demand; the client's rule for one
is unit-tested (tests/unit/client/test_rest.py).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client, load_config
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.pytest_plugin import kubectl_path
from tests.integration.deploy.conftest import DEPLOY, NS, in_cluster_env
from tests.integration.support import NETWORK_CRD, ensure_crd, network, wait_until

pytestmark = pytest.mark.integration

FLOW = "kubeloop-overload"
#: The namespace of the 429 test; the FlowSchema matches only requests there.
OVERLOAD_NS = "overload"
NETWORKS = 300
WORKERS = 8
#: Threads of the controller that send requests the FlowSchema matches:
#: the workers, the two informers' list/watch and the event writer.
SENDERS = WORKERS + 3
#: The least Retry-After APF sends, in seconds.
MIN_RETRY_AFTER = 1.0
CONVERGE = 75.0

PRIORITY_LEVEL = {
    "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
    "kind": "PriorityLevelConfiguration",
    "metadata": {"name": FLOW},
    "spec": {
        "type": "Limited",
        "limited": {
            "nominalConcurrencyShares": 1,
            "lendablePercent": 0,
            "borrowingLimitPercent": 0,
            "limitResponse": {"type": "Reject"},
        },
    },
}

FLOW_SCHEMA = {
    "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
    "kind": "FlowSchema",
    "metadata": {"name": FLOW},
    "spec": {
        "priorityLevelConfiguration": {"name": FLOW},
        "matchingPrecedence": 500,
        "distinguisherMethod": {"type": "ByUser"},
        "rules": [
            {
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "serviceAccount": {"name": "network-controller", "namespace": NS},
                    }
                ],
                "resourceRules": [
                    {
                        "verbs": ["*"],
                        "apiGroups": ["samplecrd.k8s.io", "apps", "events.k8s.io", ""],
                        "resources": ["*"],
                        "namespaces": [OVERLOAD_NS],
                    }
                ],
            }
        ],
    },
}


@dataclass
class Overloaded:
    cp: ControlPlane
    admin: Client


# One control plane per test: the 5xx test, run after the APF test on the
# same overloaded server during the whole suite, converged slower than its
# bound allowed (the APF test's Networks and flows stay on that server).
@pytest.fixture
def overloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Overloaded]:
    """A control plane with in-flight totals of 2 (reads) and 1 (writes),
    the Network CRD, deploy/'s service account and RBAC, and the FlowSchema
    that confines that service account to one seat."""
    cp = ControlPlane(
        tmp_path_factory.mktemp("overload"),
        extra_apiserver_args=["--max-requests-inflight=2", "--max-mutating-requests-inflight=1"],
    )
    cp.start()
    try:
        config = load_config(kubeconfig=str(cp.kubeconfig))
        config.qps, config.burst = 500.0, 1000
        with Client(config) as admin:
            ensure_crd(admin, yaml.safe_load(NETWORK_CRD.read_text()))
            for manifest in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
                subprocess.run(
                    [kubectl_path(), "apply", "--server-side", "-f", str(DEPLOY / manifest)],
                    env={"KUBECONFIG": str(cp.kubeconfig), "HOME": str(cp.dir)},
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
            flowcontrol = "flowcontrol.apiserver.k8s.io/v1"
            admin.resource(flowcontrol, "prioritylevelconfigurations", namespaced=False).create(
                PRIORITY_LEVEL
            )
            admin.resource(flowcontrol, "flowschemas", namespaced=False).create(FLOW_SCHEMA)
            yield Overloaded(cp, admin)
    finally:
        cp.stop()


def server_metrics(admin: Client) -> str:
    return admin.request_bytes("GET", "/metrics", accept="text/plain").decode()


def counter(metrics: str, name: str, **labels: str) -> float:
    """The sum of a kube-apiserver counter over the series whose labels
    include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(metrics):
        if family.name == name:
            total += sum(
                sample.value
                for sample in family.samples
                if sample.name == f"{name}_total" and labels.items() <= sample.labels.items()
            )
    return total


def flow_counts(admin: Client) -> tuple[float, float]:
    """(dispatched, rejected) requests of the FlowSchema: the controller's."""
    metrics = server_metrics(admin)
    dispatched = counter(metrics, "apiserver_flowcontrol_dispatched_requests", flow_schema=FLOW)
    rejected = counter(metrics, "apiserver_flowcontrol_rejected_requests", flow_schema=FLOW)
    return dispatched, rejected


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"]["generation"] and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


RETRY_LINE = re.compile(r": 429, retrying after (\d+(?:\.\d+)?)s")


def start_controller(overloaded: Overloaded, tmp_path: Path, namespace: str) -> ControllerProcess:
    """The controller in-cluster as deploy/'s service account, its client
    throttle far above what the server admits, logging each retry (-v 4)."""
    overloaded.admin.resource("v1", "namespaces", namespaced=False).create(
        {"metadata": {"name": namespace}}
    )
    env = in_cluster_env(overloaded.cp, tmp_path)
    args = [
        "--namespace", namespace,
        "--workers", str(WORKERS),
        "--kube-api-qps", "200",
        "--kube-api-burst", "400",
        "--metrics-bind-address=0",
        "-v", "4",
    ]  # fmt: skip
    proc = ControllerProcess("", str(tmp_path / "state"), args, env)
    proc.start()
    proc.wait_for(lambda line: '"Starting workers" controller="networks"' in line, 0)
    return proc


def create_networks(nets: Any, count: int) -> None:
    """``count`` Networks at once, from the admin client (exempt: no 429)."""

    def create(i: int) -> None:
        prefix = f"10.{i // 256}.{i % 256}"
        nets.create(network(f"n{i}", f"{prefix}.0/24", f"{prefix}.1"))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(count)))


def wait_converged(nets: Any, count: int, backed_off_for: float = 0.0) -> None:
    """All ``count`` Networks Ready within CONVERGE seconds, plus
    ``backed_off_for``: a key that kept failing for that long is waiting out
    a per-item backoff of up to about as long (the delays double, so the
    last one is about the sum of the others), and a loaded machine makes
    the failing stretch longer, not the controller wrong."""

    def converged() -> bool:
        return sum(_ready(n) for n in nets.list().items) == count

    wait_until(converged, CONVERGE + backed_off_for, f"all {count} Networks Ready")


def test_the_controller_backs_off_on_apf_429s_and_converges(
    overloaded: Overloaded, tmp_path: Path
) -> None:
    admin = overloaded.admin
    # Over the controller's whole life (its FlowSchema matches only it), for
    # the retries it logged: a 429 met before the window below opened (or
    # in flight as it did) is retried, and logged, inside it.
    _, rejected_ever0 = flow_counts(admin)
    proc = start_controller(overloaded, tmp_path, OVERLOAD_NS)
    try:
        nets = admin.resource("samplecrd.k8s.io/v1", "networks", namespace=OVERLOAD_NS)
        dispatched0, rejected0 = flow_counts(admin)
        started = time.monotonic()
        create_networks(nets, NETWORKS)
        wait_converged(nets, NETWORKS)
        seconds = time.monotonic() - started
        dispatched1, rejected1 = flow_counts(admin)
        assert proc.running, "\n".join(proc.lines[-20:])
    finally:
        proc.kill()
    _, rejected_ever1 = flow_counts(admin)
    dispatched, rejected = dispatched1 - dispatched0, rejected1 - rejected0
    waits = [float(m.group(1)) for line in proc.lines if (m := RETRY_LINE.search(line))]
    figures = {
        "networks": NETWORKS,
        "workers": WORKERS,
        "converged_seconds": round(seconds, 1),
        "requests_dispatched": dispatched,
        "requests_rejected_429": rejected,
        "request_rate_per_second": round((dispatched + rejected) / seconds, 1),
        "rejected_rate_per_second": round(rejected / seconds, 1),
        "retries_logged": len(waits),
        "retry_after_seconds": sorted(set(waits)),
    }
    (tmp_path / "overload.json").write_text(json.dumps(figures, indent=2))
    print("overload figures:", json.dumps(figures))

    # Real 429s from APF, each retried after the server's Retry-After.
    assert rejected > 0, figures
    assert waits and min(waits) >= MIN_RETRY_AFTER, figures
    assert len(waits) <= rejected_ever1 - rejected_ever0, figures
    # No hot loop: each sending thread waits Retry-After (>= 1 s) after a
    # rejection, so rejections per second cannot exceed the senders.
    assert rejected / seconds <= SENDERS / MIN_RETRY_AFTER, figures
    # Nor a reconcile loop: a Network costs a status patch and an Event
    # (and at most one more attempt), whatever the 429s.
    assert dispatched <= 3 * NETWORKS, figures
    assert "Traceback" not in "\n".join(proc.lines)


#: The burst lasts until the server has failed this many status writes.
BURST_NETWORKS = 100
BURST_FAILURES = 250
#: client-go's default controller rate limiter: overall 10 qps, burst 100.
QUEUE_QPS, QUEUE_BURST = 10.0, 100
WEBHOOK = "kubeloop-5xx-burst"


def failing_webhook(port: int) -> dict[str, Any]:
    """A validating webhook on the controller's status writes (only its
    service account's, by a CEL match condition) at a port where nothing
    listens: with failurePolicy Fail the API server answers each such write
    500 InternalError ("failed calling webhook"), as it does when a real
    webhook is down."""
    user = f"system:serviceaccount:{NS}:network-controller"
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK},
        "webhooks": [
            {
                "name": "down.kubeloop.test",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/validate"},
                "rules": [
                    {
                        "apiGroups": ["samplecrd.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["networks/status"],
                        "scope": "Namespaced",
                    }
                ],
                "matchConditions": [
                    {
                        "name": "the-controller",
                        "expression": f"request.userInfo.username == '{user}'",
                    }
                ],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
            }
        ],
    }


def status_500s(admin: Client) -> float:
    return counter(
        server_metrics(admin),
        "apiserver_request",
        resource="networks",
        subresource="status",
        code="500",
    )


def test_the_controller_backs_off_through_a_burst_of_5xx_and_converges(
    overloaded: Overloaded, tmp_path: Path
) -> None:
    admin = overloaded.admin
    namespace = "burst"
    webhooks = admin.resource(
        "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", namespaced=False
    )
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        webhooks.create(failing_webhook(closed.getsockname()[1]))
        proc = start_controller(overloaded, tmp_path, namespace)
        try:
            nets = admin.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
            failed0 = status_500s(admin)
            mark = proc.mark()
            started = time.monotonic()
            create_networks(nets, BURST_NETWORKS)
            proc.wait_for_lines(
                lambda line: "Reconciler error" in line and "failed calling webhook" in line,
                mark,
                BURST_FAILURES,
            )
            burst_seconds = time.monotonic() - started
            failed = status_500s(admin) - failed0
            webhooks.delete(WEBHOOK)
            lifted = time.monotonic()
            # Writes after the burst still meet the overloaded server's one
            # mutating seat and its 429s, which a loaded machine makes slower.
            wait_converged(nets, BURST_NETWORKS, backed_off_for=60 + 2 * burst_seconds)
            recovered_seconds = time.monotonic() - lifted
            assert proc.running, "\n".join(proc.lines[-20:])
        finally:
            proc.kill()
    figures = {
        "networks": BURST_NETWORKS,
        "burst_seconds": round(burst_seconds, 1),
        "status_writes_failed_500": failed,
        "failed_write_rate_per_second": round(failed / burst_seconds, 1),
        "converged_seconds_after_the_burst": round(recovered_seconds, 1),
    }
    (tmp_path / "burst.json").write_text(json.dumps(figures, indent=2))
    print("5xx burst figures:", json.dumps(figures))

    assert failed >= BURST_FAILURES, figures
    # A 500 without Retry-After is not retried by the client (client-go's
    # rule): the reconcile fails and the workqueue backs the key off.
    assert not any(": 500, retrying after" in line for line in proc.lines)
    # No hot loop: after each Network's first attempt, retries pass the
    # workqueue's limiter (burst 100, then 10 a second); the workers'
    # in-flight attempts are the slack.
    assert failed <= BURST_NETWORKS + QUEUE_BURST + QUEUE_QPS * burst_seconds + WORKERS, figures
    assert "Traceback" not in "\n".join(proc.lines)
