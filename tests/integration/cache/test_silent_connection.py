"""A connection that stays open but carries nothing (a NAT or load balancer
that dropped its flows and still ACKs) must not hang an informer: its watch
ends after ``watch_idle_timeout`` without a byte and resumes, from its last
resourceVersion, on a new connection; requests stuck on the silent path end
at their read timeout and the next ones open new connections.

The proxy silences every connection open at that moment, for good, and lets
new ones through (``FaultProxy.silence_open``). Here the idle timeout is 3 s
so the test is quick; the network-controller's test in
tests/integration/network_controller/test_guarantees.py runs the same fault
with the defaults (75 s) against its 90 s bound.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from kubeloop.cache import ExponentialBackoffManager, ReflectorOptions, SharedInformerFactory
from kubeloop.client import Client, load_config
from kubeloop.testenv import FaultProxy, proxied_config
from tests.integration.cache.helpers import Mirror, running

pytestmark = pytest.mark.integration

IDLE = 3.0


@pytest.fixture
def silent_path_client(kubeconfig: str, proxy: FaultProxy) -> Iterator[Client]:
    config = proxied_config(load_config(kubeconfig=kubeconfig), proxy.port)
    config.qps, config.burst = 0, 0
    config.watch_idle_timeout = IDLE
    config.timeout = 2.0  # each read of a request: a stuck one ends soon
    with Client(config) as c:
        yield c


def _configmap(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"k": "v"}}


def test_an_informer_on_a_silenced_connection_resumes_on_a_new_one(
    client: Client, silent_path_client: Client, proxy: FaultProxy, namespace: str
) -> None:
    factory = SharedInformerFactory(
        silent_path_client,
        0,
        namespace=namespace,
        reflector_options=ReflectorOptions(
            backoff=ExponentialBackoffManager(initial=0.05, maximum=0.5)
        ),
    )
    informer = factory.informer_for(
        silent_path_client.resource("v1", "configmaps", namespace=namespace)
    )
    mirror = Mirror()
    informer.add_event_handler(mirror)
    direct = client.resource("v1", "configmaps", namespace=namespace)
    with running(factory):
        direct.create(_configmap("before"))
        assert mirror.wait_for(lambda m: f"{namespace}/before" in m.state)
        accepted = proxy.accepted

        silenced = proxy.silence_open()
        assert silenced >= 1  # the watch, at least
        silenced_at = time.monotonic()
        direct.create(_configmap("after"))
        assert mirror.wait_for(lambda m: f"{namespace}/after" in m.state, timeout=30), (
            "the informer never heard of a ConfigMap created after its connection went silent"
        )
        took = time.monotonic() - silenced_at
        # Found by the idle timeout (not by luck before it), within a few
        # seconds after it: one new watch, no relist needed.
        assert IDLE * 0.8 <= took <= IDLE + 10, f"took {took:.1f}s"
        assert proxy.accepted > accepted
        assert mirror.violations == []

        # A request on the client that owns the silenced connections works
        # at once: the timed-out watch closed the idle ones.
        name = f"req-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        silent_path_client.resource("v1", "configmaps", namespace=namespace).create(
            _configmap(name)
        )
        assert time.monotonic() - started < 2.0
        assert mirror.wait_for(lambda m: f"{namespace}/{name}" in m.state)


def test_a_request_on_a_silenced_connection_ends_at_its_read_timeout(
    silent_path_client: Client, proxy: FaultProxy, namespace: str
) -> None:
    configmaps = silent_path_client.resource("v1", "configmaps", namespace=namespace)
    configmaps.create(_configmap("warm"))  # one keep-alive connection in the pool
    assert proxy.silence_open() == 1
    started = time.monotonic()
    # A GET is safe to send again: it is retried on a new connection.
    assert configmaps.get("warm")["metadata"]["name"] == "warm"
    took = time.monotonic() - started
    assert 1.5 <= took <= 8.0, f"took {took:.1f}s"
