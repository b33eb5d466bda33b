"""The program as installed (``sample-controller``, here ``python -m
sample_controller``): upstream's flags, a Foo reconciled, exit 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from kubeloop.client import Client

from .conftest import WAIT, Observer
from .test_sample_controller import foo, foos


def test_the_program_reconciles_foos_and_exits_0_on_sigterm(
    client: Client, kubeconfig: str, namespace: str, observer: Observer, tmp_path: Path
) -> None:
    log = tmp_path / "stderr"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "sample_controller", "--kubeconfig", kubeconfig, "-v", "4"),
                *("--namespace", namespace, "--metrics-bind-address", "0"),
                *("--health-probe-bind-address", "0"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            foos(client, namespace).create(foo("from-main", "from-main", replicas=2))
            got = observer.wait_for(lambda: observer.get("deployments", "from-main"), "it")
            assert got["spec"]["replicas"] == 2
            observer.wait_for(lambda: observer.events_of("from-main", "Synced"), "Synced")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(WAIT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(WAIT)
    text = log.read_text()
    assert "Received signal, shutting down" in text
    assert "Traceback" not in text, text
