"""Packages import their public names on first use (kubeloop._lazy).

What is pinned: importing a package, or a light name from it, loads none of
the heavy dependencies; every exported name still resolves, to the object of
the module it lives in; an unknown name fails as a missing attribute does.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

LAZY_PACKAGES = ["kubeloop.client", "kubeloop.cache", "kubeloop.workqueue", "kubeloop.runtime"]
HEAVY = ["prometheus_client", "urllib3", "msgspec", "yaml"]


def loaded_in_fresh_process(statement: str) -> list[str]:
    """The HEAVY modules in sys.modules after ``statement`` in a new interpreter."""
    report = f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    probe = f"{statement}\nimport json, sys\n{report}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import kubeloop.runtime",
        "import kubeloop.cache, kubeloop.client, kubeloop.workqueue",
        "from kubeloop.runtime import Result, TerminalError",
        "from kubeloop.workqueue import RateLimitingQueue",
        "from kubeloop.cache import DeltaFIFO, Indexer",
    ],
)
def test_importing_loads_no_heavy_dependency(statement: str) -> None:
    assert loaded_in_fresh_process(statement) == []


def test_a_named_queue_loads_prometheus_client_when_it_needs_it() -> None:
    statement = "from kubeloop.workqueue import Queue\nQueue('q')"
    assert loaded_in_fresh_process(statement) == ["prometheus_client"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves_to_its_module_object(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert name in dir(module)
        home = getattr(value, "__module__", None)
        if isinstance(home, str) and home.startswith(package):
            assert getattr(importlib.import_module(home), name, value) is value


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_an_unknown_name_is_a_missing_attribute(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import no_such_name", {})
