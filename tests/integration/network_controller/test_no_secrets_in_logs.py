"""No credential reaches the controller's output at any verbosity.

The network-controller runs at ``-v 10`` (everything kubeloop logs, DEBUG
included; the HTTP libraries' loggers, which print headers, stay at
WARNING) with a kubeconfig whose user carries both a client key and a real
bound token (TokenRequest), is taken through create, update and delete of a
Network, and has its secure metrics endpoint scraped with that token (so the
token also passes through the TokenReview path). Neither the token nor any
part of the key, in PEM or in the kubeconfig's base64, appears in a line it
wrote to stdout or stderr."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.testenv import ControlPlane
from kubeloop.testenv.pytest_plugin import admin_request
from tests.integration.support import network, token_for

pytestmark = pytest.mark.integration


def _token(cp: ControlPlane, namespace: str) -> str:
    admin_request(
        cp, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "t"}}
    )
    return token_for(cp, namespace, "t")


def _scrape(port: int, token: str) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the controller's self-signed certificate
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=ctx) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def _secret_fragments(token: str, key_pem: bytes) -> list[str]:
    """The token, each line of the key's PEM body, and its base64 in the kubeconfig."""
    lines = [
        line for line in key_pem.decode().splitlines() if line and not line.startswith("-----")
    ]
    assert lines and all(len(line) >= 16 for line in lines[:-1])
    return [token, *lines, base64.b64encode(key_pem).decode()[:64]]


def test_no_token_or_key_in_the_output_at_verbosity_10(
    testenv: ControlPlane, client: Client, network_crd: str, namespace: str, tmp_path: Path
) -> None:
    token = _token(testenv, namespace)
    kubeconfig: dict[str, Any] = yaml.safe_load(Path(testenv.kubeconfig).read_text())
    user = kubeconfig["users"][0]["user"]
    key_pem = base64.b64decode(user["client-key-data"])
    user["token"] = token
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    fragments = _secret_fragments(token, key_pem)

    proc = ControllerProcess(
        str(path), str(tmp_path / "state"), ["--namespace", namespace, "-v", "10"]
    )
    proc.start()
    try:
        proc.wait_for(lambda line: '"Starting workers" controller="networks"' in line, 0)
        nets = client.resource(network_crd, "networks", namespace=namespace)
        nets.create(network("s1"))
        proc.wait_for(lambda line: "Successfully synced" in line and "s1" in line, 0)
        mark = proc.mark()
        nets.patch("s1", {"spec": {"gateway": "10.0.0.254"}})
        proc.wait_for(lambda line: "Successfully synced" in line and "s1" in line, mark)
        mark = proc.mark()
        nets.delete("s1")
        proc.wait_for(lambda line: f"Deleting network {namespace}/s1" in line, mark)
        # The token through the metrics filter: a TokenReview, then a SAR
        # (the service account has no metrics-reader role: 403).
        port = proc.served_port("metrics")
        assert _scrape(port, token) == 403
        assert _scrape(port, token + "x") == 401
        assert proc.terminate() == 0
    finally:
        proc.kill()
    output = "\n".join(proc.lines)
    # Verbosity 10 really logged DEBUG: the metrics server's request lines
    # are debug records.
    assert '"GET /metrics HTTP/1.1" 403' in output, output
    for fragment in fragments:
        assert fragment not in output
    assert (token + "x") not in output
