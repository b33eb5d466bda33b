"""Shared fixtures for tests against the real control plane (``testenv``,
``namespace``, ``kubectl`` come from kubeloop.testenv.pytest_plugin, see
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import yaml

from kubeloop.testenv import FaultProxy, proxied_config
from kubeloop.testenv._controlplane import ControlPlane
from tests.integration.support import NETWORK_CRD, ensure_crd

if TYPE_CHECKING:
    from kubeloop.client import Client


@pytest.fixture(scope="session")
def client(kubeconfig: str) -> Iterator[Client]:
    from kubeloop.client import Client, load_config

    config = load_config(kubeconfig=kubeconfig)
    # Tests create objects in bulk; client-go's 5 QPS default would make
    # them slow without testing anything more.
    config.qps, config.burst = 500.0, 1000
    with Client(config) as c:
        yield c


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
    from kubeloop.client import Client, load_config

    config = proxied_config(load_config(kubeconfig=kubeconfig), proxy.port)
    config.qps, config.burst = 0, 0
    with Client(config) as c:
        yield c


@pytest.fixture(scope="session")
def network_crd(client: Client) -> str:
    ensure_crd(client, yaml.safe_load(NETWORK_CRD.read_text()))
    return "samplecrd.k8s.io/v1"


#: A second control plane with KEP-5866's ``ShardedListAndWatch`` gate on
#: (the session's ``testenv`` has it off: the client-side fallback's server).
GATE = "--feature-gates=ShardedListAndWatch=true"


@pytest.fixture(scope="session")
def gated_testenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("sharded"), extra_apiserver_args=[GATE]) as cp:
        yield cp


@pytest.fixture(scope="session")
def gated_client(gated_testenv: ControlPlane) -> Iterator[Client]:
    from kubeloop.client import Client, load_config

    config = load_config(kubeconfig=str(gated_testenv.kubeconfig))
    config.qps, config.burst = 500.0, 1000
    with Client(config) as c:
        ensure_crd(c, yaml.safe_load(NETWORK_CRD.read_text()))
        yield c
