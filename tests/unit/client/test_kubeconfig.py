"""Kubeconfig features: every field of a context, its cluster and its user,
files vs inline data, relative paths, and the $KUBECONFIG merge rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeloop.client._loader import load_kubeconfig
from kubeloop.errors import ConfigError

from .support import Certs, WriteKubeconfig, b64, kubeconfig_doc, simple_doc


def test_current_context_gives_server_namespace_and_token(
    write_kubeconfig: WriteKubeconfig,
) -> None:
    path = write_kubeconfig(simple_doc(user={"token": "abc"}, namespace="team-a"))
    config = load_kubeconfig(path)
    assert config.host == "https://c.example:6443"
    assert config.namespace == "team-a"
    assert config.bearer_token == "abc"
    assert config.bearer_token_file is None
    assert config.ca_data is None and config.cert_data is None
    assert config.source == f"kubeconfig {path} context ctx"


def test_namespace_defaults_to_default(write_kubeconfig: WriteKubeconfig) -> None:
    assert load_kubeconfig(write_kubeconfig(simple_doc())).namespace == "default"


def test_explicit_context_wins_over_current_context(write_kubeconfig: WriteKubeconfig) -> None:
    doc = kubeconfig_doc(
        clusters={"dev": {"server": "https://dev:6443"}, "prod": {"server": "https://prod:6443"}},
        users={"dev": {"token": "dev-token"}, "prod": {"token": "prod-token"}},
        contexts={
            "dev": {"cluster": "dev", "user": "dev"},
            "prod": {"cluster": "prod", "user": "prod", "namespace": "live"},
        },
        current="dev",
    )
    path = write_kubeconfig(doc)
    assert load_kubeconfig(path).host == "https://dev:6443"
    prod = load_kubeconfig(path, context="prod")
    assert (prod.host, prod.bearer_token, prod.namespace) == (
        "https://prod:6443",
        "prod-token",
        "live",
    )


def test_context_without_user_is_anonymous(write_kubeconfig: WriteKubeconfig) -> None:
    doc = kubeconfig_doc(
        clusters={"c": {"server": "https://c:6443"}}, contexts={"x": {"cluster": "c"}}, current="x"
    )
    config = load_kubeconfig(write_kubeconfig(doc))
    assert config.bearer_token is None and config.username is None and config.exec_config is None


def test_tls_fields_of_the_cluster(write_kubeconfig: WriteKubeconfig) -> None:
    doc = simple_doc(
        cluster={
            "insecure-skip-tls-verify": True,
            "tls-server-name": "api.internal",
            "proxy-url": "http://proxy:3128",
        }
    )
    config = load_kubeconfig(write_kubeconfig(doc))
    assert config.insecure_skip_tls_verify is True
    assert config.tls_server_name == "api.internal"
    assert config.proxy_url == "http://proxy:3128"


def test_inline_data_is_base64_decoded_to_pem(
    write_kubeconfig: WriteKubeconfig, certs: Certs
) -> None:
    doc = simple_doc(
        cluster={"certificate-authority-data": b64(certs.ca)},
        user={"client-certificate-data": b64(certs.cert), "client-key-data": b64(certs.key)},
    )
    config = load_kubeconfig(write_kubeconfig(doc))
    assert (config.ca_data, config.cert_data, config.key_data) == (certs.ca, certs.cert, certs.key)


def test_base64_wrapped_over_lines_is_accepted(
    write_kubeconfig: WriteKubeconfig, certs: Certs
) -> None:
    encoded = b64(certs.ca)
    wrapped = "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    config = load_kubeconfig(write_kubeconfig(simple_doc({"certificate-authority-data": wrapped})))
    assert config.ca_data == certs.ca


def test_files_are_read_relative_to_the_kubeconfig_directory(
    write_kubeconfig: WriteKubeconfig,
    certs: Certs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "kube" / "pki").mkdir(parents=True)
    (tmp_path / "kube" / "pki" / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "kube" / "pki" / "me.crt").write_bytes(certs.cert)
    (tmp_path / "kube" / "pki" / "me.key").write_bytes(certs.key)
    (tmp_path / "kube" / "token").write_text("file-token\n")
    doc = simple_doc(
        cluster={"certificate-authority": "pki/ca.crt"},
        user={"client-certificate": "pki/me.crt", "client-key": "pki/me.key", "tokenFile": "token"},
    )
    path = write_kubeconfig(doc, subdir="kube")
    # The working directory must not matter.
    monkeypatch.chdir(tmp_path / "home")
    config = load_kubeconfig(path)
    assert (config.ca_data, config.cert_data, config.key_data) == (certs.ca, certs.cert, certs.key)
    assert config.bearer_token == "file-token"
    assert config.bearer_token_file == str(tmp_path / "kube" / "token")


def test_absolute_file_paths_are_kept(
    write_kubeconfig: WriteKubeconfig, certs: Certs, tmp_path: Path
) -> None:
    ca = tmp_path / "elsewhere" / "ca.crt"
    ca.parent.mkdir()
    ca.write_bytes(certs.ca)
    path = write_kubeconfig(simple_doc({"certificate-authority": str(ca)}), subdir="kube")
    assert load_kubeconfig(path).ca_data == certs.ca


def test_certificate_authority_data_wins_over_the_file(
    write_kubeconfig: WriteKubeconfig, certs: Certs
) -> None:
    cluster = {"certificate-authority": "missing.crt", "certificate-authority-data": b64(certs.ca)}
    assert load_kubeconfig(write_kubeconfig(simple_doc(cluster))).ca_data == certs.ca


@pytest.mark.parametrize("key_kind", ["key", "ec_key", "rsa_key"])
def test_private_key_formats_are_accepted(
    write_kubeconfig: WriteKubeconfig, certs: Certs, key_kind: str
) -> None:
    key: bytes = getattr(certs, key_kind)
    user = {"client-certificate-data": b64(certs.cert), "client-key-data": b64(key)}
    assert load_kubeconfig(write_kubeconfig(simple_doc(user=user))).key_data == key


def test_token_and_token_file_together_keep_both(
    write_kubeconfig: WriteKubeconfig, tmp_path: Path
) -> None:
    # client-go keeps the inline token and re-reads the file for later requests.
    (tmp_path / "tok").write_text("from-file")
    config = load_kubeconfig(
        write_kubeconfig(simple_doc(user={"token": "inline", "tokenFile": "tok"}))
    )
    assert config.bearer_token == "inline"
    assert config.bearer_token_file == str(tmp_path / "tok")


def test_basic_auth(write_kubeconfig: WriteKubeconfig) -> None:
    config = load_kubeconfig(write_kubeconfig(simple_doc(user={"username": "u", "password": "p"})))
    assert (config.username, config.password) == ("u", "p")


def test_exec_plugin_fields(write_kubeconfig: WriteKubeconfig, tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "bin/get-token",
            "args": ["--cluster", "prod"],
            "env": [{"name": "REGION", "value": "eu"}, {"name": "EMPTY"}],
            "installHint": "install get-token from your IT portal",
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        }
    }
    path = write_kubeconfig(simple_doc(user=user), subdir="kube")
    exec_config = load_kubeconfig(path).exec_config
    assert exec_config is not None
    # A command with a path separator is relative to the kubeconfig's directory.
    assert exec_config.command == str(tmp_path / "kube" / "bin" / "get-token")
    assert exec_config.api_version == "client.authentication.k8s.io/v1"
    assert exec_config.args == ["--cluster", "prod"]
    assert exec_config.env == {"REGION": "eu", "EMPTY": ""}
    assert exec_config.install_hint == "install get-token from your IT portal"
    assert exec_config.provide_cluster_info is True
    assert exec_config.interactive_mode == "Never"
    assert exec_config.source == str(path)


def test_exec_command_without_separator_is_looked_up_on_path(
    write_kubeconfig: WriteKubeconfig,
) -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws"}}
    exec_config = load_kubeconfig(write_kubeconfig(simple_doc(user=user))).exec_config
    assert exec_config is not None
    assert exec_config.command == "aws"
    # v1beta1 defaults interactiveMode to IfAvailable (v1 requires it).
    assert exec_config.interactive_mode == "IfAvailable"


def test_exec_cluster_extension_is_kept_for_the_plugin(write_kubeconfig: WriteKubeconfig) -> None:
    extension = {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "x"}}
    doc = simple_doc(cluster={"extensions": [extension, {"name": "other", "extension": {}}]})
    assert load_kubeconfig(write_kubeconfig(doc)).extra["exec_cluster_config"] == {"audience": "x"}


def test_broken_entries_of_other_contexts_do_not_matter(
    write_kubeconfig: WriteKubeconfig,
) -> None:
    # clientcmd validates only what the chosen context uses.
    doc = kubeconfig_doc(
        clusters={
            "good": {"server": "https://good:6443"},
            "bad": {"certificate-authority": "nope"},
        },
        users={
            "good": {"token": "t"},
            "bad": {"exec": {"command": ""}, "token": "x", "username": "y"},
        },
        contexts={
            "good": {"cluster": "good", "user": "good"},
            "bad": {"cluster": "bad", "user": "bad"},
        },
        current="good",
    )
    assert load_kubeconfig(write_kubeconfig(doc)).bearer_token == "t"


def test_kind_and_api_version_may_be_omitted(write_kubeconfig: WriteKubeconfig) -> None:
    doc = simple_doc()
    del doc["kind"], doc["apiVersion"]
    assert load_kubeconfig(write_kubeconfig(doc)).host == "https://c.example:6443"


def test_tilde_in_the_explicit_path_is_expanded(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(simple_doc(), subdir="home/.kube")
    assert load_kubeconfig("~/.kube/config").source == f"kubeconfig {path} context ctx"


# -- merging ------------------------------------------------------------------


def _two_files(write_kubeconfig: WriteKubeconfig) -> tuple[Path, Path]:
    first = write_kubeconfig(
        kubeconfig_doc(
            clusters={
                "shared": {"server": "https://first:6443"},
                "only1": {"server": "https://o1"},
            },
            users={"shared": {"token": "first-token"}},
            contexts={"shared": {"cluster": "shared", "user": "shared", "namespace": "ns1"}},
            current="shared",
        ),
        name="first",
    )
    second = write_kubeconfig(
        kubeconfig_doc(
            clusters={
                "shared": {"server": "https://second:6443"},
                "only2": {"server": "https://o2"},
            },
            users={"shared": {"token": "second-token"}, "u2": {"token": "u2-token"}},
            contexts={
                "shared": {"cluster": "only2", "user": "u2"},
                "mixed": {"cluster": "shared", "user": "u2"},
                "from2": {"cluster": "only1", "user": "u2"},
            },
            current="mixed",
        ),
        name="second",
    )
    return first, second


def test_first_file_to_set_a_name_wins_the_whole_entry(
    write_kubeconfig: WriteKubeconfig,
) -> None:
    first, second = _two_files(write_kubeconfig)
    config = load_kubeconfig([first, second])
    # current-context from the first file; context, cluster and user "shared" from it too.
    assert (config.host, config.bearer_token, config.namespace) == (
        "https://first:6443",
        "first-token",
        "ns1",
    )
    # A context defined only in the second file sees the merged clusters and users.
    mixed = load_kubeconfig([first, second], context="mixed")
    assert (mixed.host, mixed.bearer_token) == ("https://first:6443", "u2-token")
    assert load_kubeconfig([first, second], context="from2").host == "https://o1"
    # The order decides.
    assert load_kubeconfig([second, first]).host == "https://second:6443"  # context "mixed"
    assert load_kubeconfig([second, first], context="shared").host == "https://o2"


def test_current_context_comes_from_the_first_file_that_sets_it(
    write_kubeconfig: WriteKubeconfig,
) -> None:
    _, second = _two_files(write_kubeconfig)
    unset = write_kubeconfig(kubeconfig_doc(clusters={}), name="unset")
    assert load_kubeconfig([unset, second]).source.endswith("context mixed")


def test_kubeconfig_env_is_a_merged_list_skipping_missing_files(
    write_kubeconfig: WriteKubeconfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = _two_files(write_kubeconfig)
    missing = tmp_path / "missing"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(missing), "", str(second), str(first)]))
    config = load_kubeconfig()
    # Read as [second, first]: second's current-context "mixed", its cluster "shared".
    assert (config.host, config.bearer_token) == ("https://second:6443", "u2-token")


def test_kubeconfig_env_with_no_existing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    with pytest.raises(ConfigError, match=r"no kubeconfig found: \$KUBECONFIG .* does not exist"):
        load_kubeconfig()


def test_relative_paths_resolve_against_their_own_file(
    write_kubeconfig: WriteKubeconfig, certs: Certs, tmp_path: Path
) -> None:
    (tmp_path / "b" / "ca.crt").parent.mkdir()
    (tmp_path / "b" / "ca.crt").write_bytes(certs.ca)
    a = write_kubeconfig(
        kubeconfig_doc(contexts={"x": {"cluster": "c"}}, current="x"), name="config", subdir="a"
    )
    b = write_kubeconfig(
        kubeconfig_doc(clusters={"c": {"server": "https://c", "certificate-authority": "ca.crt"}}),
        subdir="b",
    )
    assert load_kubeconfig([a, b]).ca_data == certs.ca


def test_explicit_path_is_not_merged_with_kubeconfig_env(
    write_kubeconfig: WriteKubeconfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _two_files(write_kubeconfig)
    monkeypatch.setenv("KUBECONFIG", str(first))
    with pytest.raises(
        ConfigError, match=r"cluster 'only1' not found \(available: only2, shared\)"
    ):
        load_kubeconfig(second, context="from2")


def test_default_is_home_kube_config(write_kubeconfig: WriteKubeconfig) -> None:
    write_kubeconfig(simple_doc(user={"token": "home"}), subdir="home/.kube")
    assert load_kubeconfig().bearer_token == "home"


def test_same_file_twice_in_the_list_is_read_once(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(simple_doc())
    assert load_kubeconfig([path, path]).host == "https://c.example:6443"
