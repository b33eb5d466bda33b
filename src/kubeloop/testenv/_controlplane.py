"""Start and stop the real control plane (kube-apiserver + etcd +
kube-controller-manager) as one child process.

The child is tied to our lifetime with ``--exit-with-parent`` (it watches
its parent pid and shuts down when we die, even by SIGKILL), and the
controller manager is tied to it with ``PR_SET_PDEATHSIG``, so interrupted
test runs leave no processes behind. (Not PDEATHSIG for the direct child: it
fires when the starting *thread* exits, so a restart from a worker thread
would be killed when that thread ends.)
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from kubeloop.errors import KubeloopError
from kubeloop.testenv._build import ensure_binary

#: etcd's message when asked to compact to a revision at or below the
#: one it is already compacted to (mvcc.ErrCompacted).
_ALREADY_COMPACTED = "required revision has been compacted"


class ControlPlaneError(KubeloopError):
    """The control plane failed to start or died."""


class ControlPlane:
    """A running testenv. Use as a context manager, or call :meth:`start` and
    :meth:`stop`.

    ``dir`` holds certificates, etcd data and the admin kubeconfig; starting
    again on the same ``dir`` keeps every object.

    Example::

        with ControlPlane("/tmp/kl") as cp:
            print(cp.kubeconfig)
    """

    def __init__(
        self,
        dir: str | os.PathLike[str],
        *,
        port: int = 0,
        etcd_compaction_interval: str = "5m",
        extra_apiserver_args: list[str] | None = None,
    ) -> None:
        self.dir = Path(dir).resolve()
        self.port = port
        self.etcd_compaction_interval = etcd_compaction_interval
        self.extra_apiserver_args = list(extra_apiserver_args or [])
        self.kubeconfig = self.dir / "kubeconfig"
        self.log_path = self.dir / "testenv.log"
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 180.0) -> ControlPlane:
        binary = ensure_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        args = [
            str(binary),
            "up",
            "--dir",
            str(self.dir),
            "--port",
            str(self.port),
            "--etcd-compaction-interval",
            self.etcd_compaction_interval,
            "--exit-with-parent",
        ]
        if self.extra_apiserver_args:
            args += ["--", *self.extra_apiserver_args]
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        finally:
            log.close()
        ready = threading.Event()
        line_box: list[bytes] = []

        def read_ready() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                if line.startswith(b"READY "):
                    line_box.append(line)
                    ready.set()
            ready.set()  # EOF: the process ended

        threading.Thread(target=read_ready, name="testenv-stdout", daemon=True).start()
        if not ready.wait(timeout) or not line_box:
            self.stop()
            raise ControlPlaneError(
                f"control plane did not become ready within {timeout:.0f}s; "
                f"see the last lines of {self.log_path}:\n{self.log_tail()}"
            )
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would (for restart tests)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- facts about the running server ------------------------------------
    @property
    def server(self) -> str:
        for line in self.kubeconfig.read_text().splitlines():
            if line.strip().startswith("server:"):
                return line.split("server:", 1)[1].strip()
        raise ControlPlaneError(f"no server in {self.kubeconfig}")

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def etcd_url(self) -> str:
        client_port = (self.dir / "etcd-ports").read_text().split()[0]
        return f"http://127.0.0.1:{client_port}"

    def compact_etcd(self, revision: int | None = None) -> int:
        """Compact etcd to ``revision`` (default: its current one) now,
        physically, so that watches and lists from any older resourceVersion
        get 410 Gone once the apiserver's watch cache has noticed. Returns the
        revision asked for; etcd is compacted at least that far.

        A revision that is already compacted counts as done: with no write
        since the last compaction, or with the API server's own periodic
        compaction landing first, etcd answers "required revision has been
        compacted", and the state the caller asked for holds. Any other
        refusal, or an etcd that cannot be reached, raises
        :class:`ControlPlaneError` with etcd's own message.

        Example::

            rev = cp.compact_etcd()
        """
        if revision is None:
            header = self._etcd_post("/v3/kv/range", {"key": "AA=="})["header"]
            assert isinstance(header, dict)
            revision = int(header["revision"])
        rev = revision
        try:
            self._etcd_post("/v3/kv/compaction", {"revision": rev, "physical": True})
        except ControlPlaneError as err:
            if _ALREADY_COMPACTED not in str(err):
                raise
        return rev

    def _etcd_post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """POST to etcd's JSON gateway; every failure is a ControlPlaneError
        that carries etcd's message (its body says why, the status does not)."""
        req = urllib.request.Request(
            self.etcd_url + path, data=json.dumps(body).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                result: dict[str, object] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as err:
            raw = err.read().decode(errors="replace")
            try:
                message = str(json.loads(raw).get("message") or raw)
            except (ValueError, AttributeError):
                message = raw
            raise ControlPlaneError(
                f"etcd refused POST {path} ({err.code}): {message.strip()}"
            ) from err
        except OSError as err:  # URLError, connection refused or reset, timeout
            raise ControlPlaneError(f"etcd unreachable at {self.etcd_url}{path}: {err}") from err

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
