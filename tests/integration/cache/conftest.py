"""Fixtures for informer tests against the real API server: a fault proxy in
front of it, a client that goes through the proxy, a second namespace, and
the check that every informer thread has ended after each test (that one is
tests/conftest.py's, for the whole suite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from kubeloop.client import Client, load_config
from kubeloop.testenv import ControlPlane, FaultProxy, proxied_config


@pytest.fixture
def proxy(testenv: ControlPlane) -> Iterator[FaultProxy]:
    server = urlsplit(testenv.server)
    assert server.hostname is not None and server.port is not None
    with FaultProxy(server.hostname, server.port) as p:
        yield p


@pytest.fixture
def proxied_client(kubeconfig: str, proxy: FaultProxy) -> Iterator[Client]:
    """A client whose every connection goes through ``proxy`` (TLS verified
    end to end), not throttled."""
    config = proxied_config(load_config(kubeconfig=kubeconfig), proxy.port)
    config.qps, config.burst = 0, 0
    with Client(config) as c:
        yield c


@pytest.fixture
def other_namespace(client: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    namespaces = client.resource("v1", "namespaces", namespaced=False)
    namespaces.create({"metadata": {"name": name}})
    yield name
    namespaces.delete(name)
