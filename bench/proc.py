"""What the operating system accounts for one process, from /proc."""

from __future__ import annotations

import os

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
