"""Fixtures for the cache tests (the thread-leak check every test gets is in
tests/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """A stop event that is set when the test ends (ending every helper
    thread waiting on it) before the leak check runs."""
    event = threading.Event()
    yield event
    event.set()
