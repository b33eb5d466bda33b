"""What the operating system accounts for one process, from /proc."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

#: The checkout: the kubeloop peers run from its sources (an editable install).
REPO = Path(__file__).resolve().parents[1]

TICKS = os.sysconf("SC_CLK_TCK")

#: The kubeloop peers' metrics and probe servers: plain-HTTP metrics on free
#: ports, as before issue 24 made them HTTPS by default, so the numbers stay
#: comparable with earlier runs (no certificate made, no cryptography
#: imported) and two peers never collide on a port.
BENCH_SERVING_FLAGS = (
    "--metrics-secure=false",
    "--metrics-bind-address=127.0.0.1:0",
    "--health-probe-bind-address=127.0.0.1:0",
)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of ``pid``, in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


def byte_compile_sources() -> None:
    """Byte-compile kubeloop's and the applications' sources into
    ``__pycache__``, as pip does for a package it installs from a wheel.

    Why: the kubeloop peers start from the checkout (an editable install),
    whose modules have no ``.pyc`` until something writes one, and with
    ``PYTHONDONTWRITEBYTECODE`` set (this machine's environment sets it)
    nothing does: every start of the network-controller compiled about 230
    modules, 0.15 s of CPU and wall time before its first line, while the
    Python peers' packages (kubernetes, kopf) start from the ``.pyc`` pip
    wrote at install. Reading ``.pyc`` is allowed under that variable; only
    writing them on import is not.
    """
    for tree in ("src", "apps"):
        compileall.compile_dir(REPO / tree, quiet=1)
