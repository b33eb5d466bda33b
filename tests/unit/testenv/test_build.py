"""Finding the testenv binary and its Go module source: the module ships in
the package, a prebuilt binary can be named, and each thing missing is named
in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.testenv import BuildError, ensure_binary
from kubeloop.testenv._build import _SHIPPED_SOURCE, input_hash, source_dir


def test_the_go_module_ships_inside_the_package() -> None:
    assert source_dir() == _SHIPPED_SOURCE
    assert {p.name for p in _SHIPPED_SOURCE.iterdir()} >= {"go.mod", "go.sum", "main.go"}
    assert "kubeloop" in _SHIPPED_SOURCE.parts


def test_a_prebuilt_binary_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "testenv"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("KUBELOOP_TESTENV_BINARY", str(binary))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go: nothing may be built
    assert ensure_binary() == binary


def test_a_prebuilt_binary_that_is_not_executable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBELOOP_TESTENV_BINARY", str(tmp_path / "nothing"))
    with pytest.raises(BuildError, match=r"KUBELOOP_TESTENV_BINARY=.*not an executable file"):
        ensure_binary()


def test_without_go_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBELOOP_TESTENV_BINARY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing cached
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        BuildError, match=r"needs the Go toolchain \(>= 1.26\).*KUBELOOP_TESTENV_BINARY"
    ):
        ensure_binary()


def test_a_source_dir_without_go_mod_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBELOOP_TESTENV_SRC", str(tmp_path))
    with pytest.raises(
        BuildError, match=f"no go.mod in {tmp_path} \\(from KUBELOOP_TESTENV_SRC\\)"
    ):
        source_dir()


def test_the_cache_key_follows_the_module_content(tmp_path: Path) -> None:
    for f in ("go.mod", "go.sum", "main.go"):
        (tmp_path / f).write_bytes((_SHIPPED_SOURCE / f).read_bytes())
    (tmp_path / "pki.go").write_bytes((_SHIPPED_SOURCE / "pki.go").read_bytes())
    assert input_hash(tmp_path) == input_hash(_SHIPPED_SOURCE)
    with open(tmp_path / "main.go", "a") as f:
        f.write("\n// changed\n")
    assert input_hash(tmp_path) != input_hash(_SHIPPED_SOURCE)
