"""TLS on the client: TLS 1.2 at least, a warning once per client when
verification is off, and a certificate failure that names the server, the
name checked and the CA trusted; credentials stay out of reprs."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from kubeloop.client import Client, Config
from kubeloop.client._exec import ExecCredential
from kubeloop.client._tls import build_ssl_context
from kubeloop.errors import TransportError, Unauthorized
from kubeloop.metrics import Decision, MetricsServer
from tests.unit.client.test_urllib3_transport import LOCALHOST_IP, mint_pki


class Nobody:
    def authorize(self, authorization: str | None, path: str, verb: str = "get") -> Decision:
        return Decision(401, "Unauthorized")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[MetricsServer, bytes]]:
    """An HTTPS server on 127.0.0.1 whose certificate is for kube.test, and the
    PEM of "test-ca", which signed it."""
    pki = mint_pki(tmp_path / "pki", [x509.DNSName("kube.test")])
    with MetricsServer("127.0.0.1:0", cert_dir=str(tmp_path / "pki"), authorizer=Nobody()) as s:
        yield s, pki.ca


def test_the_client_context_refuses_tls_before_1_2() -> None:
    ctx = build_ssl_context(Config(host="https://127.0.0.1:6443"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_insecure_skip_tls_verify_warns_once_per_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "kubeloop.client")
    config = Config(host="https://127.0.0.1:6443", insecure_skip_tls_verify=True, source="kc")
    client = Client(config)
    try:
        events = client.with_rate_limiter(5, 10)  # shares the transport: no second warning
        assert events is not client
        warnings = [r for r in caplog.records if "insecure-skip-tls-verify" in r.getMessage()]
        assert len(warnings) == 1
        assert "https://127.0.0.1:6443" in warnings[0].getMessage()
        assert "(kc)" in warnings[0].getMessage()
    finally:
        client.close()


def test_a_verified_client_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "kubeloop.client")
    Client(Config(host="https://127.0.0.1:6443")).close()
    assert not caplog.records


def test_a_certificate_from_another_ca_names_the_server_and_the_ca(
    https_server: tuple[MetricsServer, bytes], tmp_path: Path
) -> None:
    server, _ = https_server
    other = mint_pki(tmp_path / "other", [LOCALHOST_IP])
    config = Config(host=server.url, ca_data=other.ca, source="kubeconfig /k context c")
    client = Client(config)
    try:
        with pytest.raises(TransportError) as caught:
            client.request("GET", "/metrics")
    finally:
        client.close()
    message = str(caught.value)
    assert message.startswith(f"{server.url}: the server certificate for 127.0.0.1 ")
    assert 'against the certificate authority "test-ca" of kubeconfig /k context c' in message
    assert "CERTIFICATE_VERIFY_FAILED" in message


def test_a_certificate_for_another_name_names_the_name_checked(
    https_server: tuple[MetricsServer, bytes],
) -> None:
    server, ca = https_server
    client = Client(Config(host=server.url, ca_data=ca))
    try:
        with pytest.raises(TransportError) as caught:
            client.request("GET", "/metrics")
        message = str(caught.value)
        assert "the server certificate for 127.0.0.1 does not verify" in message
        assert "mismatch" in message  # OpenSSL's own reason follows
    finally:
        client.close()
    # The same CA and the name on the certificate: TLS succeeds (and the
    # server, which allows no one, answers 401).
    named = Client(Config(host=server.url, ca_data=ca, tls_server_name="kube.test"))
    try:
        with pytest.raises(Unauthorized):
            named.request("GET", "/metrics")
    finally:
        named.close()


def test_credentials_stay_out_of_reprs() -> None:
    config = Config(
        host="https://h",
        bearer_token="tok-SECRET",
        key_data=b"KEY-SECRET",
        password="pw-SECRET",
    )
    credential = ExecCredential("exec-SECRET", b"cert", b"exec-KEY-SECRET")
    for text in (repr(config), repr(credential)):
        assert "SECRET" not in text
    assert "https://h" in repr(config)
