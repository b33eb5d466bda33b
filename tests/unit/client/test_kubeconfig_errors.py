"""Bad kubeconfigs: each error names the file and the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeloop.client._loader import load_kubeconfig
from kubeloop.errors import ConfigError

from .support import Certs, WriteKubeconfig, b64, kubeconfig_doc, simple_doc


def _load_error(path: Path | list[Path], context: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_kubeconfig(path, context=context)
    return str(info.value)


def test_unknown_context_lists_the_available_ones(write_kubeconfig: WriteKubeconfig) -> None:
    doc = kubeconfig_doc(
        clusters={"c": {"server": "https://c"}},
        contexts={"b": {"cluster": "c"}, "a": {"cluster": "c"}},
        current="a",
    )
    path = write_kubeconfig(doc)
    assert _load_error(path, "prod") == (
        f"kubeconfig {path}: context 'prod' not found (available: a, b)"
    )


def test_missing_current_context_says_so(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(kubeconfig_doc(contexts={"a": {"cluster": "c"}}))
    assert _load_error(path) == (
        f"kubeconfig {path}: current-context is not set and no context was given (available: a)"
    )


def test_empty_file_has_no_context(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig("")
    assert "current-context is not set" in _load_error(path)
    assert "(available: none)" in _load_error(path)


def test_merged_files_are_all_named(write_kubeconfig: WriteKubeconfig) -> None:
    a = write_kubeconfig(kubeconfig_doc(), name="a")
    b = write_kubeconfig(kubeconfig_doc(), name="b")
    assert _load_error([a, b], "x").startswith(f"kubeconfig {a}, {b}: context 'x' not found")


def test_missing_explicit_file(tmp_path: Path) -> None:
    assert _load_error(tmp_path / "nope") == f"kubeconfig {tmp_path / 'nope'}: file does not exist"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert _load_error(tmp_path) == f"kubeconfig {tmp_path}: cannot read: Is a directory"


def test_yaml_syntax_error_names_file_and_line(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig("apiVersion: v1\nclusters:\n- name: a\n  cluster: {server: [}\n")
    message = _load_error(path)
    assert message.startswith(f"kubeconfig {path}: invalid YAML at line 4, column ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "not a kubeconfig: expected a mapping at the top, got a list"),
        ("just text\n", "not a kubeconfig: expected a mapping at the top, got a string"),
        ("kind: Pod\n", "not a kubeconfig: kind is 'Pod', expected 'Config'"),
        ("clusters: {}\n", "clusters: expected a list, got a mapping"),
        (
            "clusters: [7]\n",
            "clusters[0]: expected a list|clusters[0]: expected a mapping, got int",
        ),
        ("clusters: [{cluster: {}}]\n", "clusters[0]: name is missing"),
        ("users: [{name: a}, {name: a}]\n", "users[1]: duplicate name 'a'"),
        (
            "clusters: [{name: a, cluster: []}]\n",
            "clusters[0].cluster: expected a mapping, got a list",
        ),
        (
            "clusters: [{name: a, cluster: {server: 6443}}]\n",
            "clusters[a].server: expected a string, got int",
        ),
        (
            "clusters: [{name: a, cluster: {insecure-skip-tls-verify: maybe}}]\n",
            "clusters[a].insecure-skip-tls-verify: expected true or false, got a string",
        ),
        ("current-context: [a]\n", "current-context: expected a string, got a list"),
        (
            "users: [{name: dev, user: {client-key-data: 'not*base64'}}]\n",
            "users[dev].client-key-data: invalid base64",
        ),
        (
            "clusters: [{name: c, cluster: {certificate-authority-data: 'QUJD='}}]\n",
            "clusters[c].certificate-authority-data: invalid base64",
        ),
    ],
)
def test_malformed_file_is_named_with_the_field(
    write_kubeconfig: WriteKubeconfig, text: str, problem: str
) -> None:
    path = write_kubeconfig(text)
    message = _load_error(path)
    assert any(message == f"kubeconfig {path}: {p}" for p in problem.split("|")), message


def test_bad_base64_in_an_unused_user_still_fails(write_kubeconfig: WriteKubeconfig) -> None:
    # clientcmd decodes every file completely before choosing a context.
    doc = simple_doc()
    doc["users"].append({"name": "other", "user": {"token": "t", "client-key-data": "%%"}})
    path = write_kubeconfig(doc)
    assert _load_error(path) == f"kubeconfig {path}: users[other].client-key-data: invalid base64"


def _ctx(path: Path, field: str, problem: str) -> str:
    return f"kubeconfig {path}: {field}: {problem}"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            kubeconfig_doc(contexts={"x": {"user": "u"}}, current="x"),
            "contexts[x]: cluster is empty",
        ),
        (
            kubeconfig_doc(
                clusters={"b": {"server": "s"}, "a": {"server": "s"}},
                contexts={"x": {"cluster": "c"}},
                current="x",
            ),
            "contexts[x].cluster: cluster 'c' not found (available: a, b)",
        ),
        (
            kubeconfig_doc(
                clusters={"c": {"server": "s"}},
                contexts={"x": {"cluster": "c", "user": "dev"}},
                current="x",
            ),
            "contexts[x].user: user 'dev' not found (available: none)",
        ),
        (
            kubeconfig_doc(clusters={"c": {}}, contexts={"x": {"cluster": "c"}}, current="x"),
            "clusters[c].server is empty",
        ),
    ],
)
def test_context_references(
    write_kubeconfig: WriteKubeconfig, doc: dict[str, Any], expected: str
) -> None:
    path = write_kubeconfig(doc)
    assert _load_error(path) == f"kubeconfig {path}: {expected}"


def test_certificate_authority_file_missing(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(simple_doc({"certificate-authority": "ca.crt"}))
    assert _load_error(path) == (
        f"kubeconfig {path}: clusters[c].certificate-authority:"
        f" cannot read {path.parent / 'ca.crt'}: No such file or directory"
    )


def test_garbage_certificate_authority(write_kubeconfig: WriteKubeconfig, tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("this is not a certificate\n")
    path = write_kubeconfig(simple_doc({"certificate-authority": "ca.crt"}))
    assert _load_error(path) == (
        f"kubeconfig {path}: clusters[c].certificate-authority: no PEM certificate found"
        " (expected '-----BEGIN CERTIFICATE-----')"
    )


def test_certificate_authority_with_insecure_skip_tls_verify(
    write_kubeconfig: WriteKubeconfig, certs: Certs
) -> None:
    cluster = {"certificate-authority-data": b64(certs.ca), "insecure-skip-tls-verify": True}
    path = write_kubeconfig(simple_doc(cluster))
    assert _load_error(path) == (
        f"kubeconfig {path}: clusters[c]: certificate-authority-data and"
        " insecure-skip-tls-verify cannot both be set"
    )


def _truncated(pem: bytes) -> bytes:
    lines = pem.splitlines()
    return b"\n".join([*lines[:2], lines[-1]]) + b"\n"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            {"client-certificate-data": b64("garbage"), "client-key-data": "KEY"},
            "users[u].client-certificate-data: no PEM certificate found"
            " (expected '-----BEGIN CERTIFICATE-----')",
        ),
        (
            {"client-certificate-data": "CERT", "client-key-data": b64("garbage")},
            "users[u].client-key-data: no PEM private key found"
            " (expected '-----BEGIN ... PRIVATE KEY-----')",
        ),
        (
            {"client-certificate-data": "TRUNCATED", "client-key-data": "KEY"},
            "users[u].client-certificate-data: PEM block CERTIFICATE is truncated"
            " or has trailing bytes",
        ),
        (
            {"client-certificate-data": "KEY", "client-key-data": "KEY"},
            "users[u].client-certificate-data: no PEM certificate found"
            " (expected '-----BEGIN CERTIFICATE-----')",
        ),
        (
            {"client-certificate-data": "CERT", "client-key-data": "ENCRYPTED"},
            "users[u].client-key-data: the private key is encrypted; not supported",
        ),
        (
            {"client-certificate-data": "CERT"},
            "users[u]: client-key or client-key-data must be given too for a client certificate",
        ),
        (
            {"client-key-data": "KEY"},
            "users[u]: client-certificate or client-certificate-data must be given too"
            " for a client certificate",
        ),
        (
            {
                "client-certificate-data": "CERT",
                "client-certificate": "c.crt",
                "client-key-data": "KEY",
            },
            "users[u]: client-certificate and client-certificate-data are both set; use one",
        ),
        (
            {"client-certificate": "missing.crt", "client-key-data": "KEY"},
            "users[u].client-certificate: cannot read {dir}/missing.crt: No such file or directory",
        ),
        (
            {"token": "t", "username": "a", "password": "b"},
            "users[u]: more than one authentication method (token, basic auth); use one",
        ),
        (
            {"tokenFile": "no-token"},
            "users[u].tokenFile: cannot read {dir}/no-token: No such file or directory",
        ),
        (
            {"auth-provider": {"name": "oidc"}},
            "users[u].auth-provider: auth-provider 'oidc' is not supported; use an exec plugin",
        ),
    ],
)
def test_bad_credentials(
    write_kubeconfig: WriteKubeconfig, certs: Certs, user: dict[str, Any], expected: str
) -> None:
    values = {
        "CERT": b64(certs.cert),
        "KEY": b64(certs.key),
        "TRUNCATED": b64(_truncated(certs.cert)),
        "ENCRYPTED": b64(certs.encrypted_key),
    }
    user = {k: values.get(v, v) if isinstance(v, str) else v for k, v in user.items()}
    path = write_kubeconfig(simple_doc(user=user))
    assert _load_error(path) == f"kubeconfig {path}: " + expected.format(dir=path.parent)


_V1 = "client.authentication.k8s.io/v1"


@pytest.mark.parametrize(
    ("exec_config", "expected"),
    [
        ({"apiVersion": _V1, "interactiveMode": "Never"}, "command: command must be specified"),
        (
            {"command": "x", "interactiveMode": "Never"},
            "apiVersion: must be specified (use client.authentication.k8s.io/v1 or"
            " client.authentication.k8s.io/v1beta1)",
        ),
        (
            {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"},
            "apiVersion: 'client.authentication.k8s.io/v1alpha1' is not supported",
        ),
        (
            {"command": "x", "apiVersion": _V1},
            "interactiveMode: must be specified for apiVersion v1 (one of Never, IfAvailable,"
            " Always)",
        ),
        (
            {"command": "x", "apiVersion": _V1, "interactiveMode": "Sometimes"},
            "interactiveMode: invalid value 'Sometimes'",
        ),
        (
            {
                "command": "x",
                "apiVersion": _V1,
                "interactiveMode": "Never",
                "env": [{"value": "v"}],
            },
            "env[0]: must be a mapping with a name and a value",
        ),
        (
            {"command": "x", "apiVersion": _V1, "interactiveMode": "Never", "args": ["a", 1]},
            "args: must be a list of strings",
        ),
    ],
)
def test_bad_exec_plugin_config(
    write_kubeconfig: WriteKubeconfig, exec_config: dict[str, Any], expected: str
) -> None:
    path = write_kubeconfig(simple_doc(user={"exec": exec_config}))
    message = _load_error(path)
    assert message.startswith(f"kubeconfig {path}: users[u].exec.{expected}"), message
