"""Cross-checks against the real kubectl (client-go's clientcmd): files that
kubectl writes load here, and merged $KUBECONFIG lists resolve to the same
server, credentials and namespace that ``kubectl config view --minify`` shows."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client._loader import load_kubeconfig
from kubeloop.errors import ConfigError

from .support import Certs, WriteKubeconfig, kubeconfig_doc

_KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(_KUBECTL is None, reason="kubectl is not installed")


def kubectl(*args: str, kubeconfig: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert _KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    return subprocess.run(
        [_KUBECTL, *args], env=env, capture_output=True, text=True, check=check, timeout=60
    )


def minified(kubeconfig: str, context: str | None = None) -> dict[str, Any]:
    args = ["config", "view", "--minify", "--flatten", "-o", "json"]
    if context:
        args += ["--context", context]
    view: dict[str, Any] = json.loads(kubectl(*args, kubeconfig=kubeconfig).stdout)
    return view


def test_kubeconfig_written_by_kubectl(tmp_path: Path, certs: Certs) -> None:
    for name, data in (("ca.crt", certs.ca), ("me.crt", certs.cert), ("me.key", certs.key)):
        (tmp_path / name).write_bytes(data)
    path = str(tmp_path / "written")
    for args in (
        ["set-cluster", "c", "--server=https://10.0.0.1:6443", "--embed-certs",
         f"--certificate-authority={tmp_path / 'ca.crt'}", "--tls-server-name=api.internal"],
        ["set-credentials", "cert-user", "--embed-certs",
         f"--client-certificate={tmp_path / 'me.crt'}", f"--client-key={tmp_path / 'me.key'}"],
        ["set-credentials", "exec-user", "--exec-command=aws",
         "--exec-api-version=client.authentication.k8s.io/v1", "--exec-arg=eks",
         "--exec-arg=get-token", "--exec-env=AWS_PROFILE=prod", "--exec-interactive-mode=Never"],
        ["set-context", "certs", "--cluster=c", "--user=cert-user", "--namespace=team"],
        ["set-context", "exec", "--cluster=c", "--user=exec-user"],
        ["use-context", "certs"],
    ):  # fmt: skip
        kubectl("config", *args, kubeconfig=path)

    config = load_kubeconfig(path)
    assert config.host == "https://10.0.0.1:6443"
    assert config.tls_server_name == "api.internal"
    assert (config.ca_data, config.cert_data, config.key_data) == (certs.ca, certs.cert, certs.key)
    assert config.namespace == "team"

    exec_config = load_kubeconfig(path, context="exec").exec_config
    assert exec_config is not None
    assert (exec_config.command, exec_config.args, exec_config.env) == (
        "aws",
        ["eks", "get-token"],
        {"AWS_PROFILE": "prod"},
    )
    assert exec_config.interactive_mode == "Never"


def _merge_fixture(write_kubeconfig: WriteKubeconfig, certs: Certs) -> list[Path]:
    a = write_kubeconfig(
        kubeconfig_doc(
            clusters={"shared": {"server": "https://a:6443"}, "a-only": {"server": "https://ao"}},
            users={"shared": {"token": "a-token"}},
            contexts={"shared": {"cluster": "shared", "user": "shared", "namespace": "a-ns"}},
            current="shared",
        ),
        subdir="a",
    )
    (a.parent.parent / "b" / "pki").mkdir(parents=True)
    (a.parent.parent / "b" / "pki" / "ca.crt").write_bytes(certs.ca)
    b = write_kubeconfig(
        kubeconfig_doc(
            clusters={
                "shared": {"server": "https://b:6443"},
                "b-only": {"server": "https://bo", "certificate-authority": "pki/ca.crt"},
            },
            users={"shared": {"token": "b-token"}, "b-user": {"token": "b-user-token"}},
            contexts={
                "shared": {"cluster": "b-only", "user": "b-user"},
                "mixed": {"cluster": "shared", "user": "b-user", "namespace": "m"},
                "cross": {"cluster": "a-only", "user": "shared"},
                "b-ca": {"cluster": "b-only", "user": "shared"},
            },
            current="mixed",
        ),
        subdir="b",
    )
    return [a, b]


@pytest.mark.parametrize("order", ["ab", "ba"])
@pytest.mark.parametrize("context", [None, "shared", "mixed", "cross", "b-ca"])
def test_merged_list_resolves_like_kubectl(
    write_kubeconfig: WriteKubeconfig, certs: Certs, order: str, context: str | None
) -> None:
    a, b = _merge_fixture(write_kubeconfig, certs)
    paths = [a, b] if order == "ab" else [b, a]
    joined = os.pathsep.join(str(p) for p in paths)

    view = minified(joined, context)
    cluster = view["clusters"][0]["cluster"]
    user = view["users"][0]["user"] if view.get("users") else {}
    ctx = view["contexts"][0]["context"]

    config = load_kubeconfig(paths, context=context)
    assert config.host == cluster["server"]
    assert config.bearer_token == user.get("token")
    assert config.namespace == ctx.get("namespace", "default")
    ca = cluster.get("certificate-authority-data")
    assert config.ca_data == (base64.b64decode(ca) if ca else None)


def test_unknown_context_fails_in_both(write_kubeconfig: WriteKubeconfig, certs: Certs) -> None:
    joined = os.pathsep.join(str(p) for p in _merge_fixture(write_kubeconfig, certs))
    result = kubectl(
        "config", "view", "--minify", "--context", "nope", kubeconfig=joined, check=False
    )
    assert result.returncode != 0 and "nope" in result.stderr
    with pytest.raises(ConfigError, match="context 'nope' not found"):
        load_kubeconfig(joined.split(os.pathsep), context="nope")
