"""The kubeloop wheel: the library alone, installable into a clean venv, and
testenv working from the installed copy.

The wheel must hold only ``kubeloop`` (the applications and the harness are
projects and tools of their own) and carry testenv's Go module source, so an
installed kubeloop can build its control plane. Building that from scratch
takes minutes; here the installed copy computes its cache key from the
module source *it* ships, so finding the binary already built proves the
shipped source is the one the binary comes from, and ``up`` then runs the
real control plane from the clean venv. (The from-scratch build from an
installed wheel is exercised by hand: ``XDG_CACHE_HOME=<empty dir>
<venv>/bin/python -m kubeloop.testenv build``.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from kubeloop.testenv import binary_path

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("kubeloop-*.whl")
    return built


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with nothing but the wheel and its declared dependencies."""
    where = tmp_path_factory.mktemp("venv")
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return python


def test_the_wheel_holds_only_the_library_and_the_go_module(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"kubeloop", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    go = {n.rsplit("/", 1)[1] for n in names if n.startswith("kubeloop/testenv/go/")}
    assert go >= {"go.mod", "go.sum", "main.go"}, go
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "network_controller" in n or n.startswith(("tools/", "tests/"))]


def test_the_installed_library_imports_outside_the_checkout(
    clean_venv: Path, tmp_path: Path
) -> None:
    code = (
        "import json, kubeloop, kubeloop.cache, kubeloop.client, kubeloop.runtime, "
        "kubeloop.testenv._build as b; "
        "print(json.dumps([kubeloop.__file__, str(b.source_dir()), str(b.binary_path())]))"
    )
    proc = subprocess.run(
        [str(clean_venv), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    module, source, binary = json.loads(proc.stdout)
    assert str(clean_venv.parent.parent) in module, "imported from the checkout, not the venv"
    assert source.startswith(str(clean_venv.parent.parent)), source
    # The same cache key as the checkout's: the shipped source is byte for byte
    # what the cached binary was built from.
    assert binary == str(binary_path())


def test_testenv_up_runs_from_the_installed_wheel(clean_venv: Path, tmp_path: Path) -> None:
    if not binary_path().is_file():  # pragma: no cover - make test builds it first
        pytest.fail(f"no testenv binary at {binary_path()}: run make testenv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELOOP_TESTENV")}
    proc = subprocess.Popen(
        [str(clean_venv), "-m", "kubeloop.testenv", "up", "--dir", str(tmp_path / "kl")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "kubeconfig: <path>" once serving
        assert first.startswith("kubeconfig: "), first + (proc.stderr.read() if proc.stderr else "")
        kubeconfig = first.split(": ", 1)[1].strip()
        version = subprocess.run(
            [
                str(clean_venv),
                "-c",
                "import sys; from kubeloop.client import Client, load_config; "
                "c = Client(load_config(kubeconfig=sys.argv[1])); "
                "print(c.request('GET', '/version')['gitVersion']); c.close()",
                kubeconfig,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert version.stdout.strip() == "v1.37.2"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0
