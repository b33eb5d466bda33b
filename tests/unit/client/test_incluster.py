"""In-cluster configuration from the service variables and a service-account
directory (a temp dir standing in for the kubelet's mount)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kubeloop.client import _incluster
from kubeloop.client._incluster import load_incluster_config
from kubeloop.errors import ConfigError

from .support import Certs


@pytest.fixture
def service_account(tmp_path: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("sa-token\n")
    (folder / "ca.crt").write_bytes(certs.ca)
    (folder / "namespace").write_text("controllers")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBELOOP_SERVICEACCOUNT_DIR", str(folder))
    return folder


def test_config_from_service_variables_and_mount(service_account: Path, certs: Certs) -> None:
    config = load_incluster_config()
    assert config.host == "https://10.96.0.1:443"
    assert config.ca_data == certs.ca
    assert config.bearer_token == "sa-token"
    # Kept so that the auth layer re-reads the rotated token.
    assert config.bearer_token_file == str(service_account / "token")
    assert config.namespace == "controllers"
    assert config.source == f"in-cluster ({service_account})"


def test_ipv6_host_is_bracketed(service_account: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
    assert load_incluster_config().host == "https://[fd00:10:96::1]:443"


def test_pod_namespace_wins_over_the_file(
    service_account: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "from-downward-api")
    assert load_incluster_config().namespace == "from-downward-api"


def test_namespace_defaults_to_default(service_account: Path) -> None:
    (service_account / "namespace").unlink()
    assert load_incluster_config().namespace == "default"


def test_argument_wins_over_the_environment_variable(
    service_account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "token").write_text("other-token")
    assert load_incluster_config(other).bearer_token == "other-token"


def test_without_argument_or_variable_the_standard_mount_is_read(
    service_account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet's mount is the default. The test points that default at a
    directory of its own, so what the runner has mounted (the runner may be
    a pod) plays no part."""
    assert _incluster.SERVICE_ACCOUNT_DIR == "/var/run/secrets/kubernetes.io/serviceaccount"
    standard = tmp_path / "standard"
    standard.mkdir()
    (standard / "token").write_text("standard-token")
    monkeypatch.setattr(_incluster, "SERVICE_ACCOUNT_DIR", str(standard))
    monkeypatch.delenv("KUBELOOP_SERVICEACCOUNT_DIR")
    config = load_incluster_config()
    assert config.bearer_token == "standard-token"
    assert config.source == f"in-cluster ({standard})"
    (standard / "token").unlink()
    with pytest.raises(ConfigError, match=re.escape(str(standard / "token"))):
        load_incluster_config()


@pytest.mark.parametrize("unset", ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"])
def test_outside_a_pod(service_account: Path, monkeypatch: pytest.MonkeyPatch, unset: str) -> None:
    monkeypatch.delenv(unset)
    with pytest.raises(ConfigError) as info:
        load_incluster_config()
    assert str(info.value) == (
        "in-cluster: not running in a pod: KUBERNETES_SERVICE_HOST and"
        " KUBERNETES_SERVICE_PORT must be set"
    )


def test_missing_token(service_account: Path) -> None:
    (service_account / "token").unlink()
    with pytest.raises(ConfigError) as info:
        load_incluster_config()
    assert str(info.value) == (
        f"in-cluster: cannot read service-account token {service_account / 'token'}:"
        " No such file or directory"
    )


def test_empty_token(service_account: Path) -> None:
    (service_account / "token").write_text("\n")
    with pytest.raises(ConfigError, match=r"service-account token .*/token is empty"):
        load_incluster_config()


def test_missing_ca_falls_back_to_system_trust(
    service_account: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (service_account / "ca.crt").unlink()
    with caplog.at_level(logging.WARNING, logger="kubeloop.client"):
        config = load_incluster_config()
    assert config.ca_data is None
    assert "ca.crt" in caplog.text and "system trust store" in caplog.text


def test_garbage_ca_is_an_error(service_account: Path) -> None:
    (service_account / "ca.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(ConfigError) as info:
        load_incluster_config()
    assert str(info.value) == (
        f"in-cluster: {service_account / 'ca.crt'}: PEM block CERTIFICATE does not hold DER data"
    )
