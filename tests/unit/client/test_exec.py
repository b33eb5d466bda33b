"""Exec credential plugins, with a real plugin: a small Python script that
issues a new token on every run (a counter file) and records what it was
given (arguments, environment, KUBERNETES_EXEC_INFO, stdin)."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client._auth import build_auth, exec_client_certificate
from kubeloop.client._config import Config, ExecConfig
from kubeloop.client._exec import ExecCredentialProvider
from kubeloop.client._loader import load_kubeconfig
from kubeloop.errors import ApiError, ConfigError

from .fake_transport import FakeResponse, Handler, Sent, make_rest
from .support import Certs, WriteKubeconfig, b64, simple_doc

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
#: 2030-01-01T00:00:00Z
EXPIRES, EXPIRES_AT = "2030-01-01T00:00:00Z", 1893456000.0

PLUGIN = """\
#!{python}
import json, os, sys, time

state = os.environ["PLUGIN_STATE"]
counter = os.path.join(state, "counter")
run = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as f:
    f.write(str(run))
with open(os.path.join(state, "runs.jsonl"), "a") as f:
    f.write(json.dumps({{
        "run": run,
        "argv": sys.argv[1:],
        "exec_info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]),
        "region": os.environ.get("REGION"),
        "inherited": os.environ.get("INHERITED"),
        "stdin": os.path.realpath("/proc/self/fd/0"),
    }}) + "\\n")

mode = os.environ.get("PLUGIN_MODE", "token")
if mode == "fail":
    sys.stderr.write("login required: run corp-login first\\n")
    sys.exit(3)
if mode == "sleep":
    time.sleep(30)
if mode == "badjson":
    print("Please log in")
    sys.exit(0)
api_version = os.environ.get("PLUGIN_API_VERSION") or json.loads(
    os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
status = {{"token": "token-%d" % run}}
if mode == "cert":
    status = {{"clientCertificateData": open(os.environ["PLUGIN_CERT"]).read(),
              "clientKeyData": open(os.environ["PLUGIN_KEY"]).read()}}
if mode == "empty":
    status = {{}}
if os.environ.get("PLUGIN_EXPIRES"):
    status["expirationTimestamp"] = os.environ["PLUGIN_EXPIRES"]
doc = {{"apiVersion": api_version, "kind": "ExecCredential", "status": status}}
if mode == "nostatus":
    del doc["status"]
print(json.dumps(doc))
"""


@dataclass
class Plugin:
    command: Path
    state: Path

    def config(self, api_version: str = V1, mode: str = "Never", **env: str) -> ExecConfig:
        return ExecConfig(
            command=str(self.command),
            api_version=api_version,
            env={"PLUGIN_STATE": str(self.state), **env},
            interactive_mode=mode,
            install_hint="",
        )

    def runs(self) -> list[dict[str, Any]]:
        path = self.state / "runs.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def plugin(tmp_path: Path) -> Plugin:
    command = tmp_path / "bin" / "token-plugin"
    command.parent.mkdir()
    command.write_text(PLUGIN.format(python=sys.executable))
    command.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    return Plugin(command, state)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _provider(exec_config: ExecConfig, **kwargs: Any) -> ExecCredentialProvider:
    return ExecCredentialProvider(exec_config, **kwargs)


# -- caching ------------------------------------------------------------------


def test_token_is_cached_until_expiration_then_the_plugin_runs_again(plugin: Plugin) -> None:
    clock = Clock(EXPIRES_AT - 600)
    provider = _provider(plugin.config(PLUGIN_EXPIRES=EXPIRES), clock=clock)
    assert provider.token() == "token-1"
    assert provider.credential().expiration == EXPIRES_AT
    clock.now = EXPIRES_AT  # still valid at the instant of expiry, as in client-go
    assert provider.token() == "token-1"
    assert len(plugin.runs()) == 1
    clock.now = EXPIRES_AT + 1
    assert provider.needs_refresh()
    assert provider.token() == "token-2"
    assert len(plugin.runs()) == 2


def test_expiration_with_offset_and_fraction(plugin: Plugin) -> None:
    config = plugin.config(PLUGIN_EXPIRES="2030-01-01T02:00:00.5+02:00")
    assert _provider(config).credential().expiration == EXPIRES_AT + 0.5


def test_without_expiration_the_token_is_kept_until_invalidated(plugin: Plugin) -> None:
    clock = Clock(0)
    provider = _provider(plugin.config(), clock=clock)
    assert provider.token() == "token-1"
    clock.now = 10**10
    assert provider.token() == "token-1"
    provider.invalidate()
    assert provider.token() == "token-2"


def test_invalidating_a_stale_token_does_not_run_the_plugin_again(plugin: Plugin) -> None:
    provider = _provider(plugin.config())
    assert provider.token() == "token-1"
    provider.invalidate("token-1")  # the first failed request
    assert provider.token() == "token-2"
    provider.invalidate("token-1")  # a request that failed at the same time
    assert provider.token() == "token-2"
    assert len(plugin.runs()) == 2


def test_concurrent_callers_share_one_run(plugin: Plugin) -> None:
    provider = _provider(plugin.config())
    tokens: list[str | None] = []
    threads = [threading.Thread(target=lambda: tokens.append(provider.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tokens == ["token-1"] * 8
    assert len(plugin.runs()) == 1


# -- the protocol ---------------------------------------------------------------


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_exec_info_names_the_api_version(plugin: Plugin, api_version: str) -> None:
    assert _provider(plugin.config(api_version)).token() == "token-1"
    (run,) = plugin.runs()
    assert run["exec_info"] == {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }


def test_args_and_env_are_passed_over_our_environment(
    plugin: Plugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGION", "from-parent")
    monkeypatch.setenv("INHERITED", "yes")
    config = plugin.config(REGION="eu-west-1")
    config.args = ["get-token", "--cluster", "prod"]
    _provider(config).token()
    (run,) = plugin.runs()
    assert run["argv"] == ["get-token", "--cluster", "prod"]
    assert (run["region"], run["inherited"]) == ("eu-west-1", "yes")


def test_cluster_info_is_provided_only_when_asked(plugin: Plugin, certs: Certs) -> None:
    config = Config(
        host="https://api.example:6443",
        ca_data=certs.ca,
        tls_server_name="api.internal",
        proxy_url="http://proxy:3128",
        exec_config=plugin.config(),
        extra={"exec_cluster_config": {"audience": "kubeloop"}},
    )
    exec_client_certificate(config)  # runs the plugin (no certificate: None)
    assert "cluster" not in plugin.runs()[0]["exec_info"]["spec"]
    assert config.exec_config is not None
    config.exec_config.provide_cluster_info = True
    exec_client_certificate(config)
    assert plugin.runs()[1]["exec_info"]["spec"]["cluster"] == {
        "server": "https://api.example:6443",
        "certificate-authority-data": b64(certs.ca),
        "tls-server-name": "api.internal",
        "proxy-url": "http://proxy:3128",
        "config": {"audience": "kubeloop"},
    }


def test_not_interactive_gets_no_stdin(plugin: Plugin) -> None:
    _provider(plugin.config(mode="Never"), is_terminal=lambda: True).token()
    (run,) = plugin.runs()
    assert run["exec_info"]["spec"]["interactive"] is False
    assert run["stdin"] == "/dev/null"


def test_if_available_is_interactive_on_a_terminal(plugin: Plugin) -> None:
    _provider(plugin.config(mode="IfAvailable"), is_terminal=lambda: True).token()
    _provider(plugin.config(mode="IfAvailable"), is_terminal=lambda: False).token()
    first, second = plugin.runs()
    assert first["exec_info"]["spec"]["interactive"] is True
    assert second["exec_info"]["spec"]["interactive"] is False
    assert second["stdin"] == "/dev/null"


def test_always_interactive_without_a_terminal_is_an_error(plugin: Plugin) -> None:
    provider = _provider(plugin.config(mode="Always"), is_terminal=lambda: False)
    with pytest.raises(ConfigError) as info:
        provider.token()
    assert str(info.value) == (
        f"exec plugin {plugin.command}: interactiveMode is Always but standard input"
        " is not a terminal"
    )
    assert plugin.runs() == []


def test_client_certificate_from_the_plugin(
    plugin: Plugin, certs: Certs, tmp_path: Path, write_kubeconfig: WriteKubeconfig
) -> None:
    (tmp_path / "c.pem").write_bytes(certs.cert)
    (tmp_path / "k.pem").write_bytes(certs.key)
    exec_config = {
        "apiVersion": V1,
        "command": "bin/token-plugin",  # relative to the kubeconfig
        "interactiveMode": "Never",
        "env": [
            {"name": "PLUGIN_STATE", "value": str(plugin.state)},
            {"name": "PLUGIN_MODE", "value": "cert"},
            {"name": "PLUGIN_CERT", "value": str(tmp_path / "c.pem")},
            {"name": "PLUGIN_KEY", "value": str(tmp_path / "k.pem")},
        ],
    }
    config = load_kubeconfig(write_kubeconfig(simple_doc(user={"exec": exec_config})))
    assert exec_client_certificate(config) == (certs.cert, certs.key)
    # The auth flow shares the provider: no second run, and no token to send.
    auth = build_auth(config)
    assert auth is not None
    assert auth.authorization() is None
    assert len(plugin.runs()) == 1


# -- 401 through the request layer ---------------------------------------------


def _server(accepted: str, seen: list[str]) -> Handler:
    def handle(sent: Sent) -> FakeResponse:
        seen.append(sent.headers.get("Authorization", ""))
        if sent.method == "POST":  # a retried request carries its body again
            assert sent.body == b'{"a": 1}'
        ok = sent.headers.get("Authorization") == f"Bearer {accepted}"
        return FakeResponse(200 if ok else 401, b'{"kind": "Status"}')

    return handle


def test_unauthorized_runs_the_plugin_again_and_retries_once(plugin: Plugin) -> None:
    config = Config(host="https://api", exec_config=plugin.config())
    seen: list[str] = []
    rest = make_rest(_server("token-2", seen), auth=build_auth(config))
    assert rest.send("POST", "/x", content=b'{"a": 1}').status == 200
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert rest.send("GET", "/y").status == 200  # the new token is cached
    assert seen[-1] == "Bearer token-2"
    assert len(plugin.runs()) == 2


def test_a_second_unauthorized_is_returned(plugin: Plugin) -> None:
    seen: list[str] = []
    auth = build_auth(Config(host="https://api", exec_config=plugin.config()))
    with pytest.raises(ApiError) as info:
        make_rest(_server("never", seen), auth=auth).send("GET", "/x")
    assert info.value.code == 401
    assert seen == ["Bearer token-1", "Bearer token-2"]


# -- failures --------------------------------------------------------------------


def test_missing_command_shows_the_install_hint() -> None:
    config = ExecConfig(
        command="kubeloop-no-such-plugin",
        api_version=V1,
        install_hint="Install it with: brew install no-such-plugin",
        source="/home/u/.kube/config",
    )
    with pytest.raises(ConfigError) as info:
        _provider(config).token()
    message = str(info.value)
    assert message.startswith(
        "exec plugin kubeloop-no-such-plugin (configured in /home/u/.kube/config):"
        " executable not found"
    )
    assert "credential plugin that is not installed" in message
    assert message.endswith("\n\nInstall it with: brew install no-such-plugin")


def test_command_without_execute_permission(plugin: Plugin) -> None:
    plugin.command.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        _provider(plugin.config()).token()
    assert str(info.value) == (f"exec plugin {plugin.command}: {plugin.command} is not executable")


def test_failing_plugin_shows_exit_code_and_stderr(plugin: Plugin) -> None:
    with pytest.raises(ConfigError) as info:
        _provider(plugin.config(PLUGIN_MODE="fail")).token()
    assert str(info.value) == (
        f"exec plugin {plugin.command}: failed with exit code 3;"
        " stderr: login required: run corp-login first"
    )


def test_hanging_plugin_times_out(plugin: Plugin) -> None:
    with pytest.raises(ConfigError, match=r"did not finish within 0\.5 s"):
        _provider(plugin.config(PLUGIN_MODE="sleep"), timeout=0.5).token()


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PLUGIN_MODE": "badjson"}, "output is not valid JSON: Expecting value"),
        (
            {"PLUGIN_API_VERSION": V1BETA1},
            f"configured for apiVersion {V1}, but the plugin returned apiVersion '{V1BETA1}'",
        ),
        ({"PLUGIN_MODE": "nostatus"}, "the ExecCredential has no status"),
        ({"PLUGIN_MODE": "empty"}, "returned neither a token nor a certificate and key"),
        (
            {"PLUGIN_EXPIRES": "tomorrow"},
            "status.expirationTimestamp 'tomorrow' is not an RFC 3339 time",
        ),
        (
            {"PLUGIN_EXPIRES": "2030-01-01T00:00:00"},
            "status.expirationTimestamp '2030-01-01T00:00:00' is not an RFC 3339 time",
        ),
    ],
)
def test_bad_output_is_an_error(plugin: Plugin, env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        _provider(plugin.config(**env)).token()
    assert str(info.value).startswith(f"exec plugin {plugin.command}: {problem}")


def test_garbage_certificate_from_the_plugin(plugin: Plugin, tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "c.pem").write_text("nope")
    (tmp_path / "k.pem").write_bytes(certs.key)
    config = plugin.config(
        PLUGIN_MODE="cert", PLUGIN_CERT=str(tmp_path / "c.pem"), PLUGIN_KEY=str(tmp_path / "k.pem")
    )
    with pytest.raises(ConfigError, match=r"status\.clientCertificateData: no PEM certificate"):
        _provider(config).token()
