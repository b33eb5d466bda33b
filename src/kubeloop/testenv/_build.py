"""Build (or reuse) the testenv control-plane binary from the Go module
shipped inside this package (``kubeloop/testenv/go/``).

The module source travels in the wheel, so an installed kubeloop builds the
same binary as a source checkout. The binary is keyed by a hash of the
module's inputs (go.mod, go.sum, *.go) and the Kubernetes version, and cached
outside the installation (``$XDG_CACHE_HOME/kubeloop/testenv``), so a rerun
starts in seconds and a changed module is never served by a stale binary.

Two environment variables override the defaults:

- ``KUBELOOP_TESTENV_BINARY``: a binary built elsewhere (CI images, a machine
  without Go); used as is, nothing is built.
- ``KUBELOOP_TESTENV_SRC``: another directory holding the Go module.

Example::

    from kubeloop.testenv import ensure_binary
    print(ensure_binary())      # builds once (10-20 minutes on 2 cores), then reuses
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kubeloop.errors import KubeloopError

#: The kube-apiserver version the Go module pins; reported by ``/version``.
KUBE_VERSION = "v1.37.2"


class BuildError(KubeloopError):
    """The testenv binary could not be built."""


#: Where the package keeps the Go module's source.
_SHIPPED_SOURCE = Path(__file__).resolve().parent / "go"


def source_dir() -> Path:
    """The Go module: ``$KUBELOOP_TESTENV_SRC``, else the copy shipped in
    this package."""
    src = Path(os.environ.get("KUBELOOP_TESTENV_SRC") or _SHIPPED_SOURCE)
    if not (src / "go.mod").is_file():
        where = "KUBELOOP_TESTENV_SRC" if os.environ.get("KUBELOOP_TESTENV_SRC") else "the package"
        raise BuildError(
            f"the testenv Go module is missing: no go.mod in {src} (from {where}); "
            "reinstall kubeloop, or set KUBELOOP_TESTENV_SRC to a directory holding it"
        )
    return src


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubeloop" / "testenv"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "building the testenv control plane needs the Go toolchain (>= 1.26), "
            "and 'go' is not on PATH. Install Go (https://go.dev/dl/) and retry, or set "
            "KUBELOOP_TESTENV_BINARY to a testenv binary built elsewhere "
            "(python -m kubeloop.testenv build prints its path)"
        )
    return go


def input_hash(src: Path) -> str:
    h = hashlib.sha256()
    files = [src / "go.mod", src / "go.sum", *sorted(src.glob("*.go"))]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(KUBE_VERSION.encode())
    return h.hexdigest()[:16]


def binary_path(src: Path | None = None) -> Path:
    """Where the binary for ``src`` is (or will be) cached."""
    src = src or source_dir()
    return cache_root() / input_hash(src) / "testenv"


def _prebuilt() -> Path | None:
    """``$KUBELOOP_TESTENV_BINARY``, checked, or None when unset."""
    env = os.environ.get("KUBELOOP_TESTENV_BINARY")
    if not env:
        return None
    path = Path(env)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BuildError(f"KUBELOOP_TESTENV_BINARY={env} is not an executable file")
    return path


def ensure_binary(*, quiet: bool = False) -> Path:
    """Return the cached binary, building it first if needed.

    A first build of kube-apiserver on 2 cores takes 10-20 minutes, so the
    go command's package list (``-v``) is streamed as progress.
    """
    prebuilt = _prebuilt()
    if prebuilt is not None:
        return prebuilt
    src = source_dir()
    target = binary_path(src)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    minor = KUBE_VERSION.split(".")[1]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={KUBE_VERSION}",
            "-X k8s.io/component-base/version.gitMajor=1",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
            "-X k8s.io/client-go/pkg/version.gitVersion=" + KUBE_VERSION,
        ]
    )
    tmp = target.with_suffix(".tmp")
    cmd = [_go(), "build", "-v", "-o", str(tmp), "-ldflags", ldflags, "."]
    started = time.monotonic()
    out = sys.stderr
    print(
        f"testenv: building kube-apiserver {KUBE_VERSION} + etcd from Go modules into {target}\n"
        "testenv: a first build takes 10-20 minutes on 2 cores; progress follows",
        file=out,
        flush=True,
    )
    proc = subprocess.Popen(
        cmd, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for count, line in enumerate(proc.stdout, start=1):
        tail = [*tail[-40:], line.rstrip()]
        if not quiet and (count % 50 == 0 or not line.startswith(("k8s.io", "github.com", "go."))):
            elapsed = time.monotonic() - started
            print(
                f"testenv: [{elapsed:6.0f}s] {count} packages ... {line.rstrip()}",
                file=out,
                flush=True,
            )
    if proc.wait() != 0:
        raise BuildError("go build of testenv failed:\n" + "\n".join(tail))
    tmp.rename(target)
    print(f"testenv: built in {time.monotonic() - started:.0f}s", file=out, flush=True)
    return target
