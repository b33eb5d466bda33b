"""Where a Python peer spends its CPU in S1 and S2 (all threads, py-spy).

Starts a testenv, creates N Networks, runs the peer under ``py-spy record``
through the initial sync and one update storm (``--s1-only``: no storm), then
prints the functions with the most samples (own time, and inclusive time for
kubeloop/network_controller frames). ``--s2-only`` profiles the storm alone
(py-spy attaches to the running peer after the initial sync).

Usage: python -m bench.profile_peer [--peer kubeloop] [--n 10000] [--s2-only]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.proc import byte_compile_sources
from bench.run import (
    NAMESPACE,
    Cluster,
    PeerProcess,
    PeerSpec,
    build_go_peer,
    peer_specs,
)

# Leaf frames of a thread that waits (py-spy counts some of them as active):
# conditions, the event loop's select, a watch blocked on its line queue.
IDLE = ("Condition.wait", "EpollSelector.select", "Watch.__iter__ (kubeloop/client/_watch.py:171)")


def summarise(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE):
            continue  # a thread parked in a wait, not working
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if "kubeloop" in f or "network_controller" in f:
                inclusive[f] += n
    print(f"{total} samples of working threads (waits left out)")
    print("\nown time:")
    for f, n in own.most_common(top):
        print(f"  {n / total:6.1%}  {f}")
    print("\ninclusive (kubeloop and network_controller frames):")
    for f, n in inclusive.most_common(top):
        print(f"  {n / total:6.1%}  {f}")


def initial_sync(p: PeerProcess, n: int, how: str) -> None:
    """S1: wait for the N reconciles of the initial sync."""
    p.expect(n)
    p.wait(300)
    print(f"S1: all reconciled after {p.snapshot['at'] - p.started:.2f} s ({how})")


def update_storm(p: PeerProcess, cluster: Cluster, n: int) -> None:
    """S2: one spec update per Network; wait for the N reconciles."""
    p.expect(n)
    first, _ = cluster.update_all()
    p.wait(300)
    print(f"S2: drained {p.snapshot['at'] - first:.2f} s after the first write")


def whole_run(
    spec: PeerSpec, cluster: Cluster, n: int, record: list[str], workdir: Path, *, storm: bool
) -> None:
    """The peer started under py-spy: S1, then (``storm``) S2."""
    profiled = PeerSpec(spec.name, [*record, *spec.argv], spec.stream, spec.synced, spec.reconciled)
    p = PeerProcess(profiled, workdir / "peer.log")
    initial_sync(p, n, "under py-spy")
    if storm:
        update_storm(p, cluster, n)
    time.sleep(1)
    # SIGINT to py-spy (its Ctrl-C): it writes the file, then ends the peer.
    os.kill(p.pid, signal.SIGINT)
    try:
        p.proc.wait(60)
    finally:
        p.stop()


def storm_only(spec: PeerSpec, cluster: Cluster, n: int, record: list[str], workdir: Path) -> None:
    """The peer started plain; py-spy attached after S1, for S2 alone."""
    p = PeerProcess(spec, workdir / "peer.log")
    try:
        initial_sync(p, n, "not profiled")
        spy = subprocess.Popen([*record, "--pid", str(p.pid)], stdin=subprocess.DEVNULL)
        time.sleep(1)  # py-spy attaching; what it misses is idle time before the storm
        update_storm(p, cluster, n)
        spy.send_signal(signal.SIGINT)  # py-spy writes the file and detaches
        spy.wait(60)
    finally:
        p.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default="kubeloop")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--raw", help="summarise this py-spy raw file and exit")
    ap.add_argument("--rate", type=int, default=50, help="samples per second")
    ap.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (CPU, not waits)"
    )
    ap.add_argument("--s1-only", action="store_true", help="profile the initial sync only, no S2")
    ap.add_argument(
        "--s2-only",
        action="store_true",
        help="profile the update storm only (py-spy attaches once the initial sync is done)",
    )
    args = ap.parse_args()
    if args.raw:
        summarise(Path(args.raw), args.top)
        return
    from kubeloop.testenv import ControlPlane

    go = build_go_peer()
    byte_compile_sources()
    cp_dir = Path(tempfile.mkdtemp(prefix="kubeloop-prof-", dir="/dev/shm"))
    cp = ControlPlane(cp_dir).start()
    cluster = Cluster(str(cp.kubeconfig), go)
    raw = cp_dir / "profile.txt"
    try:
        cluster.setup()
        cluster.grow_to(args.n)
        spec = peer_specs(cluster.kubeconfig, NAMESPACE, go, str(cp_dir / "state"))[args.peer]
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        record = [py_spy, "record", "--format", "raw", "-r", str(args.rate), "--nonblocking"]
        record += ["--gil"] if args.gil else []
        record += ["-o", str(raw)]
        if args.s2_only:
            storm_only(spec, cluster, args.n, record, cp_dir)
        else:
            whole_run(spec, cluster, args.n, [*record, "--"], cp_dir, storm=not args.s1_only)
        summarise(raw, args.top)
        shutil.copy(raw, Path(tempfile.gettempdir()) / f"profile-{args.peer}.txt")
    finally:
        cluster.close()
        cp.stop()
        shutil.rmtree(cp_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
