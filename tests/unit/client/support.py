"""Builders for kubeconfig documents and test certificates (minted with
``cryptography``) used by the configuration tests."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

#: ``write_kubeconfig(doc_or_text, name="config", subdir="")`` -> path.
WriteKubeconfig = Callable[..., Path]


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def kubeconfig_doc(
    *,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig mapping from name -> body dicts (the file format uses
    named lists)."""
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if clusters is not None:
        doc["clusters"] = [{"name": n, "cluster": c} for n, c in clusters.items()]
    if users is not None:
        doc["users"] = [{"name": n, "user": u} for n, u in users.items()]
    if contexts is not None:
        doc["contexts"] = [{"name": n, "context": c} for n, c in contexts.items()]
    if current is not None:
        doc["current-context"] = current
    return doc


def simple_doc(
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """One context 'ctx' -> cluster 'c' (server https://c.example:6443) and user 'u'."""
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace is not None:
        context["namespace"] = namespace
    return kubeconfig_doc(
        clusters={"c": {"server": "https://c.example:6443", **(cluster or {})}},
        users={"u": user or {}},
        contexts={"ctx": context},
        current="ctx",
    )


@dataclass(frozen=True)
class Certs:
    """PEM bytes: a CA, a client certificate it signed, and client keys."""

    ca: bytes
    cert: bytes
    key: bytes  # EC, PKCS#8 ("PRIVATE KEY")
    ec_key: bytes  # EC, SEC1 ("EC PRIVATE KEY")
    rsa_key: bytes  # RSA, PKCS#1 ("RSA PRIVATE KEY")
    encrypted_key: bytes  # PKCS#8 with a password


def name_of(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def mint_ca(common_name: str = "test-ca") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA, valid from yesterday to tomorrow, usable to sign
    both client and (with its KeyUsage and key identifier, which strict TLS
    verification wants) server certificates."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name_of(common_name))
        .issuer_name(name_of(common_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, ca_key


def make_certs() -> Certs:
    now = datetime.now(UTC)
    ca, ca_key = mint_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name_of("tester"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    plain = serialization.NoEncryption()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Certs(
        ca=ca.public_bytes(pem),
        cert=cert.public_bytes(pem),
        key=key.private_bytes(pem, pkcs8, plain),
        ec_key=key.private_bytes(pem, traditional, plain),
        rsa_key=rsa_key.private_bytes(pem, traditional, plain),
        encrypted_key=key.private_bytes(
            pem, pkcs8, serialization.BestAvailableEncryption(b"secret")
        ),
    )
