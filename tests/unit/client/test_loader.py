"""load_config's order: explicit kubeconfig, $KUBECONFIG or ~/.kube/config,
then in-cluster; and the master URL override."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from kubeloop.client._loader import load_config
from kubeloop.errors import ConfigError

from .support import WriteKubeconfig, simple_doc


@pytest.fixture
def in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "sa"
    folder.mkdir()
    (folder / "token").write_text("sa-token")
    monkeypatch.setenv("KUBELOOP_SERVICEACCOUNT_DIR", str(folder))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")


def test_explicit_kubeconfig(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(simple_doc(user={"token": "t"}), name="explicit")
    config = load_config(kubeconfig=path)
    assert (config.host, config.bearer_token) == ("https://c.example:6443", "t")


def test_explicit_kubeconfig_must_exist_even_in_a_cluster(tmp_path: Path, in_cluster: None) -> None:
    with pytest.raises(ConfigError, match="file does not exist"):
        load_config(kubeconfig=tmp_path / "missing")


def test_kubeconfig_env_before_home_and_in_cluster(
    write_kubeconfig: WriteKubeconfig, monkeypatch: pytest.MonkeyPatch, in_cluster: None
) -> None:
    write_kubeconfig(simple_doc(user={"token": "home"}), subdir="home/.kube")
    env_file = write_kubeconfig(simple_doc(user={"token": "env"}), name="env")
    monkeypatch.setenv("KUBECONFIG", str(env_file))
    assert load_config().bearer_token == "env"


def test_home_kube_config_before_in_cluster(
    write_kubeconfig: WriteKubeconfig, in_cluster: None
) -> None:
    write_kubeconfig(simple_doc(user={"token": "home"}), subdir="home/.kube")
    assert load_config().bearer_token == "home"


def test_in_cluster_when_there_is_no_kubeconfig(
    in_cluster: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Set but naming only missing files counts as no kubeconfig.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    config = load_config()
    assert (config.host, config.bearer_token) == ("https://10.0.0.1:443", "sa-token")


def test_nothing_found_says_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config()
    home = tmp_path / "home" / ".kube" / "config"
    assert str(info.value) == (
        f"no configuration found: no kubeconfig ({home} does not exist), and not in a cluster"
        " (in-cluster: not running in a pod: KUBERNETES_SERVICE_HOST and"
        " KUBERNETES_SERVICE_PORT must be set)"
    )


def test_master_overrides_the_server(write_kubeconfig: WriteKubeconfig) -> None:
    path = write_kubeconfig(simple_doc(user={"token": "t"}, namespace="ns"))
    config = load_config(kubeconfig=path, master="https://override:6443")
    assert (config.host, config.bearer_token, config.namespace) == (
        "https://override:6443",
        "t",
        "ns",
    )
    assert config.source.endswith("master https://override:6443")


def test_master_overrides_the_default_kubeconfig_too(write_kubeconfig: WriteKubeconfig) -> None:
    write_kubeconfig(simple_doc(user={"token": "home"}), subdir="home/.kube")
    config = load_config(master="http://127.0.0.1:8080")
    assert (config.host, config.bearer_token) == ("http://127.0.0.1:8080", "home")


def test_master_alone_without_kubeconfig(
    caplog: pytest.LogCaptureFixture, in_cluster: None
) -> None:
    with caplog.at_level(logging.WARNING, logger="kubeloop.client"):
        config = load_config(master="http://127.0.0.1:8080")
    assert config.host == "http://127.0.0.1:8080"
    assert config.bearer_token is None and config.bearer_token_file is None
    assert "no kubeconfig" in caplog.text and "without credentials" in caplog.text


def test_context_without_kubeconfig_is_an_error(in_cluster: None) -> None:
    with pytest.raises(
        ConfigError, match="context 'prod' was asked for, but there is no kubeconfig"
    ):
        load_config(context="prod")


def test_context_selects_from_the_default_kubeconfig(
    write_kubeconfig: WriteKubeconfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(simple_doc())
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(path)]))
    with pytest.raises(ConfigError, match="context 'prod' not found"):
        load_config(context="prod")
    assert load_config(context="ctx").host == "https://c.example:6443"


def test_empty_kubeconfig_argument_means_not_given(write_kubeconfig: WriteKubeconfig) -> None:
    write_kubeconfig(simple_doc(user={"token": "home"}), subdir="home/.kube")
    assert load_config(kubeconfig="").bearer_token == "home"
