"""The metrics server's TLS context: a mounted certificate, else a self-signed one.

::

    ctx = serving_context("/tmp/k8s-metrics-server/serving-certs")  # tls.crt, tls.key
    ctx = serving_context(None)                                     # self-signed now

A certificate directory holds ``tls.crt`` and ``tls.key`` (a
``kubernetes.io/tls`` Secret mounted as a volume, e.g. from cert-manager);
Prometheus then verifies the server against its CA, and a renewed pair is
served from the next connection on (:class:`CertWatcher`). Without one, as
controller-runtime does, a self-signed certificate is made at start: the
traffic is encrypted and the bearer token never crosses the network in the
clear, but a scraper has to skip verification (``insecureSkipVerify``).

Why self-signing needs the ``cryptography`` package, an optional extra
(``pip install kubeloop[tls]``), and nothing else: the standard library's
``ssl`` loads certificates but cannot make a key or sign one, and shelling out
to ``openssl`` would make a binary in the image part of the contract. It is
imported only here, only when a certificate has to be made, so ``import
kubeloop.runtime`` stays cheap and a controller that mounts its certificate
never needs it. Without it and without a certificate directory the manager
refuses to start with a message saying which of the two to provide
(:func:`check_can_serve`).

TLS 1.2 is the minimum (controller-runtime's default, and what the API
server accepts).
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from kubeloop.errors import ConfigError

__all__ = ["CertWatcher", "check_can_serve", "self_signed_certificate", "serving_context"]

_log = logging.getLogger("kubeloop.metrics.certs")

#: A self-signed certificate's validity: longer than any process lives.
SELF_SIGNED_DAYS = 365

_NO_CRYPTOGRAPHY = (
    "secure metrics need a serving certificate: mount one (--metrics-cert-dir with "
    "tls.crt and tls.key), or install kubeloop[tls] (the 'cryptography' package) to "
    "self-sign one at start, or serve plain HTTP with --metrics-secure=false"
)


def check_can_serve(cert_dir: str | None) -> None:
    """Raise :class:`ConfigError` now, at configuration time, if :func:`serving_context`
    could not build a context later (no files and no ``cryptography``)."""
    if cert_dir:
        for name in ("tls.crt", "tls.key"):
            if not (Path(cert_dir) / name).is_file():
                raise ConfigError(f"--metrics-cert-dir {cert_dir}: no {name} there")
    elif importlib.util.find_spec("cryptography") is None:
        raise ConfigError(_NO_CRYPTOGRAPHY)


def _new_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def serving_context(cert_dir: str | None) -> ssl.SSLContext:
    """A server context, TLS 1.2 or later, with the directory's certificate
    (followed when it is rotated, see :class:`CertWatcher`) or a fresh one."""
    if cert_dir:
        return CertWatcher(cert_dir).context
    ctx = _new_context()
    cert, key = self_signed_certificate()
    with tempfile.TemporaryDirectory(prefix="kubeloop-serving-") as tmp:
        paths = []
        for name, data in (("tls.crt", cert), ("tls.key", key)):
            path = os.path.join(tmp, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        ctx.load_cert_chain(*paths)
    return ctx


class CertWatcher:
    """The certificate of a directory, re-read when its files change
    (controller-runtime's ``certwatcher``).

    A mounted Secret is rotated in place (cert-manager renews it, the
    kubelet swaps the volume's ``..data`` symlink), and a process that read
    it once serves an expired certificate some weeks later. Each TLS
    handshake asks :meth:`current` (from the context's SNI callback, which
    OpenSSL calls for every ClientHello, with or without a server name)
    whether ``tls.crt`` or ``tls.key`` changed since the last load (their
    inode, size and mtime: two ``stat`` calls, far cheaper than the
    handshake); if so the connection gets a context with the new pair. A
    pair that does not load (a rotation half written) keeps the old
    certificate and is tried again at the next handshake.
    """

    def __init__(self, cert_dir: str) -> None:
        self.cert_dir = cert_dir
        self.paths = (os.path.join(cert_dir, "tls.crt"), os.path.join(cert_dir, "tls.key"))
        # Guards _current and _stamp (handshakes run in parallel threads).
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._current = self._load()
        #: The listening socket's context: its SNI callback hands out the current one.
        self.context = self._load()
        self.context.sni_callback = self._on_hello

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        try:
            stats = [os.stat(path) for path in self.paths]
        except OSError:
            return ()
        return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)

    def _load(self) -> ssl.SSLContext:
        ctx = _new_context()
        try:
            ctx.load_cert_chain(*self.paths)
        except (OSError, ssl.SSLError) as err:
            # The error names the files, never their content.
            raise ConfigError(
                f"--metrics-cert-dir {self.cert_dir}: cannot load tls.crt/tls.key: "
                f"{type(err).__name__}"
            ) from None
        return ctx

    def current(self) -> ssl.SSLContext:
        """The context of the pair on disk now (the last one that loaded)."""
        stamp = self._stat()
        with self._lock:
            if stamp and stamp != self._stamp:
                try:
                    self._current = self._load()
                    _log.info("metrics: reloaded the serving certificate from %s", self.cert_dir)
                except ConfigError as err:
                    _log.warning("metrics: keeping the previous certificate: %s", err)
                self._stamp = stamp
            return self._current

    def _on_hello(self, sock: ssl.SSLSocket | ssl.SSLObject, name: str | None, _: object) -> None:
        sock.context = self.current()


def self_signed_certificate(hosts: list[str] | None = None) -> tuple[bytes, bytes]:
    """PEM certificate and key (ECDSA P-256) for ``hosts`` (default: this host's
    name, ``localhost``, 127.0.0.1 and ::1), valid from now for a year."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise ConfigError(_NO_CRYPTOGRAPHY) from None
    hosts = hosts or [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{hosts[0]}@kubeloop")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
