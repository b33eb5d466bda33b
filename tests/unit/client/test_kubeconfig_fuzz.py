"""Whatever a kubeconfig file holds, loading it either gives a Config or
raises ConfigError: no other exception escapes to the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubeloop.client._config import Config
from kubeloop.client._loader import load_kubeconfig
from kubeloop.errors import ConfigError

from .support import b64, make_certs

_CERTS = make_certs()
_CLUSTER_FIELDS = [
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "extensions",
]
_USER_FIELDS = [
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "username",
    "password",
    "auth-provider",
]
_FIELDS = [
    "server",
    *_CLUSTER_FIELDS,
    *_USER_FIELDS,
    "exec",
    "command",
    "args",
    "env",
    "apiVersion",
    "interactiveMode",
    "installHint",
    "provideClusterInfo",
    "name",
    "value",
    "cluster",
    "user",
    "namespace",
]
_NAME = st.sampled_from(["a", "b"])
_NAMES = st.sampled_from(["a", "b", "c", ""])
_INTERESTING = st.sampled_from(
    [
        "https://h:6443",
        "ca.crt",
        "garbage.crt",
        "missing.crt",
        "/etc/passwd",
        ".",
        "\x00",
        b64(_CERTS.ca),
        b64(_CERTS.cert),
        b64(_CERTS.key),
        b64(_CERTS.encrypted_key),
        b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
        "Never",
        "Always",
        "QUJD=",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | _NAMES
    | _INTERESTING
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)

# -- anything in any place -----------------------------------------------------

_BODIES = st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=8) | _VALUES


def _named(inner: str) -> st.SearchStrategy[Any]:
    entry = st.fixed_dictionaries(
        {"name": _NAMES | _VALUES}, optional={inner: _BODIES | st.fixed_dictionaries({})}
    )
    return st.lists(entry, max_size=4) | _VALUES


_CHAOTIC_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": st.just("v1") | _VALUES,
        "kind": st.just("Config") | _VALUES,
        "clusters": _named("cluster"),
        "users": _named("user"),
        "contexts": _named("context"),
        "current-context": _NAMES | _VALUES,
    },
)

# -- well-formed structure, odd values -------------------------------------------
# Most of these get as far as resolving a context: reading files, checking
# PEM, validating exec settings.

_FIELD_VALUES = _INTERESTING | _NAMES | st.booleans() | st.text(max_size=8) | _VALUES
_EXEC = st.fixed_dictionaries(
    {"command": _INTERESTING | _NAMES, "apiVersion": _INTERESTING},
    optional={
        "interactiveMode": _INTERESTING,
        "args": st.lists(_SCALARS, max_size=3),
        "env": st.lists(st.dictionaries(st.sampled_from(["name", "value"]), _SCALARS), max_size=2),
        "provideClusterInfo": _FIELD_VALUES,
    },
)
_USER = st.dictionaries(st.sampled_from(_USER_FIELDS), _FIELD_VALUES, max_size=3).flatmap(
    lambda user: st.fixed_dictionaries({}, optional={"exec": _EXEC}).map(lambda e: user | e)
)
_CLUSTER = st.dictionaries(st.sampled_from(_CLUSTER_FIELDS), _FIELD_VALUES, max_size=2).map(
    lambda cluster: {"server": "https://h:6443"} | cluster
)
_CONTEXT = st.fixed_dictionaries(
    {"cluster": _NAME}, optional={"user": _NAME, "namespace": st.text(max_size=5)}
)


def _entries(inner: str, body: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    entry = st.fixed_dictionaries({"name": _NAME, inner: body})
    return st.lists(entry, min_size=1, max_size=2, unique_by=lambda e: e["name"])


_DOCS = st.fixed_dictionaries(
    {
        "clusters": _entries("cluster", _CLUSTER),
        "users": _entries("user", _USER),
        "contexts": _entries("context", _CONTEXT),
        "current-context": _NAME,
    },
)

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "ca.crt").write_bytes(_CERTS.ca)
    (path / "garbage.crt").write_bytes(b"\xff\xfe not pem")
    return path


def _load(folder: Path, data: bytes, context: str | None) -> None:
    path = folder / "config"
    path.write_bytes(data)
    try:
        config = load_kubeconfig(path, context=context)
    except ConfigError as err:
        assert str(err)
    else:
        assert isinstance(config, Config) and config.host


@_SETTINGS
@given(data=st.binary(max_size=2000), context=st.none() | _NAMES)
@example(data=b"a: !!int xyz\n", context=None)
@example(data=b"a: !!bool maybe\n", context=None)
@example(data=b"[" * 5000, context=None)
@example(data=b"\xff\xfe\x00", context=None)
def test_arbitrary_bytes(folder: Path, data: bytes, context: str | None) -> None:
    _load(folder, data, context)


@_SETTINGS
@given(text=st.text(max_size=500))
def test_arbitrary_text(folder: Path, text: str) -> None:
    _load(folder, text.encode("utf-8", "surrogatepass"), None)


@_SETTINGS
@given(doc=_CHAOTIC_DOCS | _DOCS, context=st.none() | _NAMES)
def test_kubeconfig_shaped_documents(
    folder: Path, doc: dict[str, Any], context: str | None
) -> None:
    _load(folder, yaml.safe_dump(doc).encode(), context)


@_SETTINGS
@given(doc=_CHAOTIC_DOCS | _DOCS, cut=st.integers(min_value=0), insert=st.text(max_size=3))
def test_damaged_kubeconfig_shaped_documents(
    folder: Path, doc: dict[str, Any], cut: int, insert: str
) -> None:
    text = yaml.safe_dump(doc)
    at = cut % (len(text) + 1)
    _load(folder, (text[:at] + insert + text[at + 1 :]).encode("utf-8", "surrogatepass"), None)
