"""A second control plane with KEP-5866's ``ShardedListAndWatch`` gate on
(the session's ``testenv`` has it off: the client-side fallback's server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from kubeloop.client import Client, load_config
from kubeloop.testenv._controlplane import ControlPlane
from tests.integration.support import NETWORK_CRD, ensure_crd

GATE = "--feature-gates=ShardedListAndWatch=true"


@pytest.fixture(scope="session")
def gated_testenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("sharded"), extra_apiserver_args=[GATE]) as cp:
        yield cp


@pytest.fixture(scope="session")
def gated_client(gated_testenv: ControlPlane) -> Iterator[Client]:
    config = load_config(kubeconfig=str(gated_testenv.kubeconfig))
    config.qps, config.burst = 500.0, 1000
    with Client(config) as c:
        ensure_crd(c, yaml.safe_load(NETWORK_CRD.read_text()))
        yield c
