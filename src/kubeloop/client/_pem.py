"""Early checks of PEM certificates and private keys.

Certificates and keys arrive from kubeconfig files, the in-cluster ``ca.crt``
and exec plugins. A typo there would otherwise surface much later as an
opaque TLS failure on the first request, so loaders check them at load time
and name the field at fault. The checks use only the standard library (the
``cryptography`` package is a test-only dependency): certificates are parsed
by OpenSSL through :mod:`ssl`; a private key is checked for PEM framing and a
well-formed DER envelope, and the TLS layer does the rest.

Each function raises :class:`ValueError` with a short reason; callers prefix
the file and field.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The ``(type, DER bytes)`` of each PEM block in ``data``, in order."""
    blocks: list[tuple[str, bytes]] = []
    for match in _BLOCK.finditer(data):
        kind = match.group(1).decode("ascii")
        if match.group(3).decode("ascii") != kind:
            raise ValueError(f"PEM block BEGIN {kind} ends with END {match.group(3).decode()}")
        body = match.group(2)
        if b":" in body:
            # RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") only occur in
            # legacy password-protected keys, which Go and httpx cannot use.
            raise ValueError(f"PEM block {kind} is encrypted (has headers); not supported")
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise ValueError(f"PEM block {kind} has invalid base64") from None
        _check_der(kind, der)
        blocks.append((kind, der))
    return blocks


def _check_der(kind: str, der: bytes) -> None:
    """The block must hold exactly one DER SEQUENCE (every certificate and
    key format is one); this catches truncation and pasted garbage."""
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError(f"PEM block {kind} does not hold DER data")
    length, header = der[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or len(der) < 2 + n:
            raise ValueError(f"PEM block {kind} does not hold DER data")
        length, header = int.from_bytes(der[2 : 2 + n], "big"), 2 + n
    if header + length != len(der):
        raise ValueError(f"PEM block {kind} is truncated or has trailing bytes")


def check_certificates(data: bytes) -> None:
    """``data`` must hold one or more PEM ``CERTIFICATE`` blocks that parse as X.509."""
    blocks = pem_blocks(data)
    certs = [der for kind, der in blocks if kind == "CERTIFICATE"]
    if not certs:
        raise ValueError("no PEM certificate found (expected '-----BEGIN CERTIFICATE-----')")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=b"".join(certs))
    except ssl.SSLError as err:
        raise ValueError(f"certificate does not parse: {err.reason or err}") from None


def check_private_key(data: bytes) -> None:
    """``data`` must hold a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)."""
    kinds = [kind for kind, _ in pem_blocks(data)]
    if "ENCRYPTED PRIVATE KEY" in kinds:
        raise ValueError("the private key is encrypted; not supported")
    if not any(kind.endswith("PRIVATE KEY") for kind in kinds):
        raise ValueError("no PEM private key found (expected '-----BEGIN ... PRIVATE KEY-----')")
