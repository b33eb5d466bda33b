"""Fixtures for informer tests against the real API server: a second
namespace (the fault proxy and the client through it are
tests/integration/conftest.py's; the check that every informer thread has
ended after each test is tests/conftest.py's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kubeloop.client import Client


@pytest.fixture
def other_namespace(client: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    namespaces = client.resource("v1", "namespaces", namespaced=False)
    namespaces.create({"metadata": {"name": name}})
    yield name
    namespaces.delete(name)
