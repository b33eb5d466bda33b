"""Fixtures for the configuration tests: test certificates minted with
``cryptography``, a kubeconfig writer, and an environment with no kubeconfig
and no cluster (tests/conftest.py empties the exec-provider cache after each
test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .fake_transport import RecordingClock
from .support import Certs, WriteKubeconfig, make_certs


@pytest.fixture(scope="session")
def certs() -> Certs:
    return make_certs()


@pytest.fixture
def write_kubeconfig(tmp_path: Path) -> WriteKubeconfig:
    """``write_kubeconfig(doc_or_text, name="config", subdir="")`` -> path."""

    def write(doc: dict[str, Any] | str | bytes, name: str = "config", subdir: str = "") -> Path:
        folder = tmp_path / subdir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if isinstance(doc, bytes):
            path.write_bytes(doc)
        elif isinstance(doc, str):
            path.write_text(doc)
        else:
            path.write_text(yaml.safe_dump(doc))
        return path

    return write


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient kubeconfig or cluster leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (
        "KUBECONFIG",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "POD_NAMESPACE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KUBELOOP_SERVICEACCOUNT_DIR", str(tmp_path / "no-service-account"))


@pytest.fixture
def clock() -> RecordingClock:
    """Real time whose sleeps are recorded and return at once."""
    return RecordingClock()
