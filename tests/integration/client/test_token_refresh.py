"""A bearer token file the kubelet rotates, against the real API server: a
401 makes the client re-read the file and send the request once more, with
no restart and no error, as client-go's cached file token source does."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.client import Client, Config
from kubeloop.errors import ApiError
from kubeloop.testenv import ControlPlane
from tests.integration.support import token_for, wait_until
from tests.integration.testenv.test_control_plane import exists

pytestmark = pytest.mark.integration


def _service_account_token(cp: ControlPlane, namespace: str) -> str:
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
    wait_until(lambda: exists(cp, path), what="the default ServiceAccount")
    return token_for(cp, namespace, "default")


def test_a_rotated_token_file_is_reread_after_a_401(
    testenv: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-token")
    config = Config(
        host=testenv.server,
        ca_data=(testenv.pki / "ca.crt").read_bytes(),
        bearer_token_file=str(token_file),
    )
    with Client(config) as client:
        # The file holds a bad token: re-reading it gives the same, so the
        # 401 is the caller's.
        with pytest.raises(ApiError) as refused:
            client.version()
        assert refused.value.code == 401

        # The kubelet rotates the file; the cached bad token is refused once,
        # the file re-read, and the request sent again, within one call.
        token_file.write_text(_service_account_token(testenv, namespace))
        assert client.version()["major"] == "1"
