"""The ``kubeloop`` command: help that lists its commands, a usage error
(exit 2) without one, and each command reached with its own arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeloop import __version__
from kubeloop.__main__ import main

CRD = Path(__file__).resolve().parents[3] / "config" / "crd" / "networks.samplecrd.k8s.io.yaml"


def test_help_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: kubeloop" in out
    assert "gen " in out and "testenv " in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"kubeloop {__version__}"


def test_gen_gets_its_own_arguments(tmp_path: Path) -> None:
    out = tmp_path / "models.py"
    assert main(["gen", str(CRD), "-o", str(out)]) == 0
    assert "class Network(" in out.read_text()


def test_the_installed_entry_point_prints_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubeloop", "testenv", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "{build,up,demo}" in proc.stdout
