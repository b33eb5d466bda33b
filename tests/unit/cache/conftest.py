"""Every cache test must leave no kubeloop thread running."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in before and t.name.startswith("kubeloop")]
    deadline = time.monotonic() + 5.0
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [t.name for t in new if t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """A stop event that is set when the test ends (ending every helper
    thread waiting on it) before the leak check runs."""
    event = threading.Event()
    yield event
    event.set()
