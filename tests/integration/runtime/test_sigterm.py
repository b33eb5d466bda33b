"""SIGTERM on a real controller process: the reconcile in flight finishes,
queued keys are not started, the process exits 0."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import IO

import pytest

from kubeloop.client import Client
from tests.integration.support import REPO, wait_until

from .conftest import WAIT, configmap


class Lines:
    """The lines of a stream, read by a thread, with a condition to wait on."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(
            target=self._read, args=(stream,), name="kubeloop-test-reader"
        )
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, what: Callable[[list[str]], bool]) -> list[str]:
        with self.cond:
            assert self.cond.wait_for(lambda: what(self.lines), WAIT), self.lines
            return list(self.lines)


@pytest.fixture
def app(kubeconfig: str, namespace: str) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.runtime.drain_app",
            "--kubeconfig",
            kubeconfig,
            "--namespace",
            namespace,
            "--no-leader-elect",
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--metrics-secure=false",  # the test reads the queue depth
            "--health-probe-bind-address",
            "127.0.0.1:0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        yield proc, out, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        out.thread.join(WAIT)
        err.thread.join(WAIT)


def queue_depth(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'^workqueue_depth\{name="configmap"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else -1.0


def test_sigterm_finishes_the_reconcile_in_flight_and_exits_0(
    client: Client, namespace: str, app: tuple[subprocess.Popen[str], Lines, Lines]
) -> None:
    proc, out, err = app
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    cms.create(configmap("slow"))
    lines = err.wait_for(lambda ls: any("serving metrics on" in line for line in ls))
    port = int(
        next(
            re.search(r"\(http, port (\d+)\)", x) for x in lines if "serving metrics on" in x
        ).group(1)
    )  # type: ignore[union-attr]
    out.wait_for(lambda ls: "start slow" in ls)
    cms.create(configmap("queued"))
    wait_until(lambda: queue_depth(port) == 1, WAIT, "'queued' to wait in the queue")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0
    out.thread.join(WAIT)
    assert out.lines == ["start slow", "end slow"]
    err.thread.join(WAIT)
    assert any("Received signal, shutting down" in line for line in err.lines)
    assert all(re.match(r"[IWEF]\d{4} ", line) for line in err.lines if line), err.lines
    assert not any("Traceback" in line for line in err.lines)
