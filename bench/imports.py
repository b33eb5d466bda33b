"""What importing kubeloop costs a fresh process: wall time and peak RSS (prints figures).

Run with ``make bench-imports``. Each statement runs in ``--reps`` fresh
interpreters (``python -c STATEMENT``), the statements interleaved so that
load from elsewhere on the machine spreads over all of them; the figures are
medians. ``pass`` is the interpreter alone, for reference, and ``from
kubeloop.runtime import Manager`` is what a controller pays at start-up (the
package itself imports its names on first use, see ``kubeloop._lazy``). The
last column names the heavy dependencies the statement loads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

STATEMENTS = (
    "pass",
    "import kubeloop",
    "import kubeloop.client",
    "import kubeloop.cache",
    "import kubeloop.runtime",
    "from kubeloop.runtime import Manager",
)
HEAVY = ("prometheus_client", "urllib3", "msgspec", "yaml", "asyncio", "ssl")


# The child reports its own peak RSS: VmHWM belongs to the address space made
# by exec, whereas getrusage's maxrss (and wait4's) also remembers the size of
# this process, which the child was forked from.
_REPORT_PEAK = "\nprint(next(l.split()[1] for l in open('/proc/self/status') if l[:6] == 'VmHWM:'))"


def run_once(statement: str) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one fresh ``python -c statement``."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", statement + _REPORT_PEAK], capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{statement!r} failed in a fresh interpreter:\n{out.stderr}")
    return wall, int(out.stdout.split()[-1])


def heavy_modules(statement: str) -> list[str]:
    probe = f"{statement}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="fresh processes per statement")
    args = parser.parse_args()

    samples: dict[str, list[tuple[float, int]]] = {s: [] for s in STATEMENTS}
    for _ in range(args.reps):
        for statement in STATEMENTS:
            samples[statement].append(run_once(statement))

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.reps}")
    row = "{:<40}{:>9}{:>10}  {}"
    header = row.format("statement", "wall s", "RSS MB", "heavy modules loaded")
    print(header)
    print("-" * len(header))
    for statement, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        rss = statistics.median(r for _, r in runs) / 1024
        loaded = " ".join(heavy_modules(statement)) or "-"
        print(row.format(statement, f"{wall:.3f}", f"{rss:.1f}", loaded))


if __name__ == "__main__":
    main()
