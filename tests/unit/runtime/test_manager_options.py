"""Manager.from_args: what the standard flags turn into (no server needed:
nothing connects before run)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket
from kubeloop.runtime import LeaderElectionOptions, Manager, argument_parser


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return str(path)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def manager(argv: list[str]) -> Manager:
    args = argument_parser("foo-controller").parse_args(argv)
    return Manager.from_args(args, registry=CollectorRegistry())


def test_defaults(kubeconfig: str, restore_logging: None) -> None:
    m = manager(["--kubeconfig", kubeconfig])
    try:
        assert (m.config.qps, m.config.burst) == (20.0, 30)
        assert isinstance(m.client._rest.limiter, TokenBucket)
        assert m.leader_election is None  # not in a cluster
        assert m.server is not None and m.server.bind_address == ":8443"
        assert m.server.secure and m.server.authorizer is not None
        assert m.probes is not None and m.probes.bind_address == ":8081"
        assert m.name == "foo-controller" and m.graceful_shutdown_timeout == 30.0
        # Events have a budget of their own, of the same size.
        events = m.recorder.client
        assert events._rest.limiter is not m.client._rest.limiter
        assert (events.config.qps, events.config.burst) == (20.0, 30)
    finally:
        m.client.close()


def test_flags(kubeconfig: str, restore_logging: None) -> None:
    m = manager(
        [
            *("--kubeconfig", kubeconfig, "--kube-api-qps", "50", "--kube-api-burst", "60"),
            *("--kube-api-qps-per-group", "--metrics-bind-address", "0", "--leader-elect"),
            *("--leader-elect-namespace", "ops", "--leader-elect-renew-deadline", "8s"),
            *("--graceful-shutdown-timeout", "1m", "--namespace", "prod"),
        ]
    )
    try:
        assert (m.config.qps, m.config.burst) == (50.0, 60)
        assert isinstance(m.client._rest.limiter, PerGroupTokenBuckets)
        assert m.server is None
        assert m.probes is not None
        assert m.leader_election == LeaderElectionOptions(
            id="foo-controller", namespace="ops", renew_deadline=8.0
        )
        assert m.graceful_shutdown_timeout == 60.0
    finally:
        m.client.close()


def test_a_configuration_that_cannot_load_exits_1(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        manager(["--kubeconfig", str(tmp_path / "missing")])
    assert exit_info.value.code == 1
    line = capsys.readouterr().err.strip()  # a klog line, from the logging set up first
    assert line.startswith("E") and '"unable to load a client configuration"' in line


def test_controller_names_are_unique(kubeconfig: str, restore_logging: None) -> None:
    m = manager(["--kubeconfig", kubeconfig])
    try:
        m.controller(("v1", "ConfigMap"), lambda ctx, obj: None)
        with pytest.raises(ValueError, match="configmap"):
            m.controller(("v1", "configmaps"), lambda ctx, obj: None, name="configmap")
        assert [c.name for c in m.controllers] == ["configmap"]
    finally:
        m.client.close()


def test_metrics_secure_false_is_plain_http_and_probes_can_be_off(
    kubeconfig: str, restore_logging: None
) -> None:
    m = manager(
        [
            *("--kubeconfig", kubeconfig, "--metrics-secure=false"),
            *("--metrics-bind-address", "127.0.0.1:9090", "--health-probe-bind-address", "0"),
        ]
    )
    try:
        assert m.server is not None and not m.server.secure and m.server.authorizer is None
        assert m.probes is None
    finally:
        m.client.close()


def test_a_cert_dir_without_a_certificate_exits_with_a_message(
    kubeconfig: str, restore_logging: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        manager(["--kubeconfig", kubeconfig, "--metrics-cert-dir", str(tmp_path)])
    assert exit_info.value.code == 1
    assert f"--metrics-cert-dir {tmp_path}: no tls.crt there" in capsys.readouterr().err
