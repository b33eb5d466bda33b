"""Credentials that stop being valid while the controller's watches are open
(issue 21, item 2), against the real kube-apiserver.

The controller's token is a TokenRequest token bound to a Secret, so
deleting the Secret revokes it. An open watch was authenticated when it
was opened and keeps streaming; the credential is only checked again when
a request is made. So the test revokes the token, waits until the server
refuses it (kube-apiserver caches a successful authentication for about
10 s), makes the next token valid, and cuts every connection through a
FaultProxy: the re-watch (or re-list) is refused with 401, the client
fetches the credential again (the exec plugin runs again; the token file is
re-read) and sends it once more, and no watch event is lost.

``--resync 10m`` keeps the backend sweep out of the picture: a deleted
Network can only leave the backend because its DELETED event arrived.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.errors import is_not_found
from kubeloop.testenv import ControlPlane, FaultProxy
from kubeloop.testenv.pytest_plugin import admin_request

# ``installed``: deploy/'s namespace, service account and RBAC, applied and
# removed once per module (tests/integration/deploy's fixture, used by name).
from tests.integration.deploy.conftest import NS, in_cluster_env, installed  # noqa: F401
from tests.integration.support import network, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("installed")]

SA = "network-controller"

#: An exec credential plugin (client.authentication.k8s.io/v1) that serves
#: the token the test last wrote to ``<dir>/token`` and counts its runs,
#: one line each in ``<dir>/runs``: when it ran (seconds since the epoch) and
#: which token it served (a digest), written after the token was read.
PLUGIN = """#!{python}
import hashlib, json, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
token = (state / "token").read_text().strip()
with open(state / "runs", "a") as runs:
    runs.write(f"{{time.time()}} {{hashlib.sha256(token.encode()).hexdigest()}}\\n")
print(json.dumps({{
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {{"token": token}},
}}))
"""


@dataclass(frozen=True)
class Run:
    """One run of :data:`PLUGIN`."""

    at: float
    served: str  # the sha256 of the token it returned


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ExecPlugin:
    """:data:`PLUGIN` in ``directory``, and a kubeconfig that runs it for a
    user of the cluster at ``https://127.0.0.1:<port>``."""

    def __init__(self, directory: Path, cp: ControlPlane, port: int) -> None:
        directory.mkdir()
        self.dir = directory
        command = directory / "token-plugin"
        command.write_text(PLUGIN.format(python=sys.executable))
        command.chmod(0o755)
        exec_config = {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(command),
            "args": [str(directory)],
            "interactiveMode": "Never",
        }
        cluster = {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority": str(cp.pki / "ca.crt"),
        }
        self.kubeconfig = directory / "kubeconfig"
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "testenv", "cluster": cluster}],
                    "users": [{"name": SA, "user": {"exec": exec_config}}],
                    "contexts": [{"name": "c", "context": {"cluster": "testenv", "user": SA}}],
                    "current-context": "c",
                }
            )
        )

    def serve(self, token: str) -> None:
        """The token the next runs return."""
        (self.dir / "token").write_text(token)

    def runs(self) -> list[Run]:
        """Its runs so far, in order."""
        path = self.dir / "runs"
        lines = path.read_text().splitlines() if path.exists() else []
        return [Run(float(at), served) for at, served in (line.split() for line in lines)]


class BoundTokens:
    """TokenRequest tokens of deploy/'s service account, each bound to a
    Secret of its own: deleting the Secret revokes the token."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        # Only the CA: the admin's client certificate would authenticate the
        # probe whatever its token says.
        self._probe_ctx = ssl.create_default_context(cafile=str(cp.pki / "ca.crt"))

    def issue(self) -> tuple[str, str]:
        """A new (Secret name, token)."""
        name = f"token-{uuid.uuid4().hex[:8]}"
        secret = admin_request(
            self.cp,
            "POST",
            f"/api/v1/namespaces/{NS}/secrets",
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}},
        )
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": name,
                    "uid": secret["metadata"]["uid"],
                },
            },
        }
        path = f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token"
        token: str = admin_request(self.cp, "POST", path, request)["status"]["token"]
        return name, token

    def revoke(self, secret: str, token: str) -> float:
        """Delete ``secret``; return once the server refuses ``token`` (and
        how long that took after the delete)."""
        assert not self.refused(token), "the token works before it is revoked"
        start = time.monotonic()
        admin_request(self.cp, "DELETE", f"/api/v1/namespaces/{NS}/secrets/{secret}")
        wait_until(lambda: self.refused(token), 60, "the server to refuse the revoked token")
        return time.monotonic() - start

    def refused(self, token: str) -> bool:
        req = urllib.request.Request(
            self.cp.server + "/api", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(req, context=self._probe_ctx, timeout=10):
                return False
        except urllib.error.HTTPError as err:
            if err.code == 401:
                return True
            raise


@dataclass
class Figures:
    revoked_after: float  # Secret deleted -> the token refused
    cut_at: float  # when the connections were cut (seconds since the epoch)
    recovered_after: float  # cut (or valid token) -> every change after the cut in place
    lost: list[str]


def _api_port(cp: ControlPlane) -> int:
    match = re.match(r"https://[^:]+:(\d+)", cp.server)
    assert match, cp.server
    return int(match.group(1))


@pytest.fixture
def proxy(testenv: ControlPlane) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", _api_port(testenv)) as p:
        yield p


def _ready(obj: dict[str, Any], generation: int) -> bool:
    status = obj.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return (
        status.get("observedGeneration") == generation
        and bool(ready)
        and ready[0]["status"] == "True"
    )


def _backend(state: Path) -> dict[str, dict[str, Any]]:
    path = state / "networks.json"
    if not path.exists():
        return {}
    doc: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return doc


@contextmanager
def _running(proc: ControllerProcess) -> Iterator[None]:
    """The controller started; at the end it must still be running, and stop
    cleanly."""
    proc.start()
    try:
        yield
        assert proc.running, "\n".join(proc.lines[-30:])
        assert proc.terminate() == 0
    finally:
        proc.kill()


def _survive_revocation(
    proc: ControllerProcess,
    client: Client,
    proxy: FaultProxy,
    tokens: BoundTokens,
    old: tuple[str, str],
    install: Callable[[str], None],
    namespace: str,
    outage: Callable[[], None] | None = None,
) -> Figures:
    """Networks made Ready, the controller's token revoked, the next one
    installed by ``install``, the watches cut, and Networks created, updated
    and deleted after the cut: what of that did not happen (``lost``).

    With ``outage``, the cut and the changes come before the next token: it
    is installed once ``outage()`` returns, and recovery is timed from then.
    """
    state = Path(proc.state_dir)
    proc.wait_for(lambda line: '"Starting workers" controller="networks"' in line, 0)
    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
    for name in ("keep", "update", "delete"):
        nets.create(network(name, "10.31.0.0/16", "10.31.0.1"))
    wait_until(
        lambda: all(_ready(nets.get(n), 1) for n in ("keep", "update", "delete")),
        30,
        "the first Networks Ready",
    )
    # Their Events are written after the status: let them out with the first
    # token, so that no request is due between the revocation and the cut.
    events = client.resource("events.k8s.io/v1", "events", namespace=namespace)
    wait_until(lambda: len(events.list().items) >= 3, 30, "the first Networks' Events")

    revoked_after = tokens.revoke(*old)
    _, fresh = tokens.issue()
    if outage is None:
        install(fresh)

    cut, cut_at = time.monotonic(), time.time()
    assert proxy.cut_all() > 0, "the controller had no open connection to cut"
    created = [f"after-{i}" for i in range(3)]
    for name in created:
        nets.create(network(name, "10.32.0.0/16", "10.32.0.1"))
    nets.patch("update", {"spec": {"gateway": "10.31.0.254"}})
    nets.delete("delete")
    if outage is not None:
        outage()
        install(fresh)
        cut = time.monotonic()  # recovery counts from the valid token (see _report)

    def lost() -> list[str]:
        missing = [n for n in created if not _ready(_get(nets, n), 1)]
        backend = _backend(state)
        if backend.get(f"{namespace}/update", {}).get("gateway") != "10.31.0.254":
            missing.append("update: new gateway not in the backend")
        if not _ready(_get(nets, "update"), 2):
            missing.append("update: not Ready at generation 2")
        if f"{namespace}/delete" in backend:
            missing.append("delete: still in the backend")
        if f"{namespace}/keep" not in backend:
            missing.append("keep: gone from the backend")
        return missing

    try:
        wait_until(lambda: not lost(), 45, "every change made after the cut")
    except AssertionError:
        return Figures(revoked_after, cut_at, time.monotonic() - cut, lost())
    return Figures(revoked_after, cut_at, time.monotonic() - cut, [])


def _get(nets: Any, name: str) -> dict[str, Any]:
    try:
        obj: dict[str, Any] = nets.get(name)
    except Exception as err:
        if is_not_found(err):
            return {}
        raise
    return obj


def _report(what: str, figures: Figures, extra: str = "") -> None:
    print(
        f"\n{what}: lost {len(figures.lost)} {figures.lost}; token refused "
        f"{figures.revoked_after:.1f}s after the Secret's deletion; recovered "
        f"{figures.recovered_after:.1f}s after the cut (or, cut first, the valid token){extra}",
        file=sys.stderr,
    )


@dataclass
class ExecSetup:
    """The controller (not started yet) with a kubeconfig whose exec plugin
    serves ``old``, a token bound to a Secret."""

    tokens: BoundTokens
    plugin: ExecPlugin
    old: tuple[str, str]  # (Secret name, token)
    proc: ControllerProcess


@pytest.fixture
def exec_setup(
    testenv: ControlPlane, namespace: str, proxy: FaultProxy, tmp_path: Path
) -> ExecSetup:
    tokens = BoundTokens(testenv)
    plugin = ExecPlugin(tmp_path / "plugin", testenv, proxy.port)
    old = tokens.issue()
    plugin.serve(old[1])
    args = ["--namespace", namespace, "--resync", "10m"]
    proc = ControllerProcess(str(plugin.kubeconfig), str(tmp_path / "state"), args)
    return ExecSetup(tokens, plugin, old, proc)


def test_an_exec_plugin_token_revoked_under_open_watches_is_fetched_again(
    client: Client, namespace: str, proxy: FaultProxy, exec_setup: ExecSetup
) -> None:
    plugin, proc = exec_setup.plugin, exec_setup.proc
    runs_before: list[int] = []

    def install(token: str) -> None:
        plugin.serve(token)
        runs_before.append(len(plugin.runs()))

    with _running(proc):
        figures = _survive_revocation(
            proc, client, proxy, exec_setup.tokens, exec_setup.old, install, namespace
        )
    runs = plugin.runs()
    rerun = runs[runs_before[0]].at - figures.cut_at if len(runs) > runs_before[0] else -1
    _report(
        "exec plugin",
        figures,
        f"; plugin runs {runs_before[0]} -> {len(runs)}, re-run {rerun:.2f}s after the cut",
    )
    assert figures.lost == [], "\n".join(proc.lines[-30:])
    # Nothing was due between the revocation and the cut: the requests after
    # the cut were refused and ran the plugin again, and sent once more within
    # the same request (the reflectors never saw the 401).
    assert len(runs) > runs_before[0] and rerun >= 0
    assert not [line for line in proc.lines if "Unauthorized" in line]


def test_watches_cut_while_no_token_is_valid_recover_once_one_is(
    client: Client, namespace: str, proxy: FaultProxy, exec_setup: ExecSetup
) -> None:
    """The cut comes first: every re-watch and re-list is refused (the plugin
    still serves the revoked token), the reflectors back off and try again,
    running the plugin each time, and pick up the next token once it exists."""
    plugin, proc, old = exec_setup.plugin, exec_setup.proc, exec_setup.old

    def refused_runs() -> int:
        return sum(run.served == digest(old[1]) for run in plugin.runs()[1:])

    def outage() -> None:
        # Past the first retries (a failed watch-list falls back to LIST at
        # once): the next ones come after the reflectors' backoff.
        wait_until(lambda: refused_runs() >= 6, 30, "six runs of the plugin while refused")

    with _running(proc):
        figures = _survive_revocation(
            proc, client, proxy, exec_setup.tokens, old, plugin.serve, namespace, outage
        )
    runs = plugin.runs()
    _report(
        "exec plugin, cut before a valid token exists",
        figures,
        f"; plugin runs {len(runs)} ({refused_runs()} after the cut served the revoked token)",
    )
    assert figures.lost == [], "\n".join(proc.lines[-30:])
    assert runs[-1].served != digest(old[1])


def test_a_token_file_rotated_under_open_watches_is_reread(
    testenv: ControlPlane,
    client: Client,
    namespace: str,
    proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    """The in-cluster config re-reads its token file every 60 s anyway; this
    test is over well within the first period, so the re-read is the 401's."""
    tokens = BoundTokens(testenv)
    env = in_cluster_env(testenv, tmp_path)
    env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1"
    env["KUBERNETES_SERVICE_PORT"] = str(proxy.port)
    token_file = Path(env["KUBELOOP_SERVICEACCOUNT_DIR"]) / "token"
    old = tokens.issue()
    token_file.write_text(old[1])

    def install(token: str) -> None:
        # As the kubelet does: the new file replaces the old one whole.
        tmp = token_file.with_name("..token.new")
        tmp.write_text(token)
        os.replace(tmp, token_file)

    state = tmp_path / "state"
    # Without leader election, nothing but the Networks' own traffic asks for
    # the token between the revocation and the cut.
    args = ["--namespace", namespace, "--resync", "10m", "--no-leader-elect"]
    proc = ControllerProcess("", str(state), args, env)
    with _running(proc):
        figures = _survive_revocation(proc, client, proxy, tokens, old, install, namespace)
    _report("token file", figures)
    assert figures.lost == [], "\n".join(proc.lines[-30:])
    assert not [line for line in proc.lines if "Unauthorized" in line]
