"""Side-by-side controller benchmarks on one real API server (``make bench``).

Five peers do the Network controller's job (list and watch Networks, queue
keys, N workers read the object from the cache and compare it with an
in-memory no-op backend, write nothing back), each in its own process against
the same testenv control plane:

- ``kubeloop-lib``: bench/peers/kubeloop_peer.py, the library alone doing the
  official peer's exact job (informer, RateLimitingQueue, worker threads);
- ``kubeloop``: ``python -m network_controller --backend noop --no-api-writes``,
  the application in its production mode (typed models, metrics, klog);
- ``client-go``: bench/peers/go (dynamic informer + workqueue, sample-controller);
- ``kopf``: bench/peers/kopf_peer.py;
- ``official``: bench/peers/official_peer.py (``kubernetes.informer``).

Scenarios per object count N and repetition: S1 initial sync at every size;
S2 update storm (N spec updates) and S3 idle at the storm sizes (10,000);
the largest size for kubeloop and client-go only, kopf at 10,000 only. Every
repetition runs every peer once, the order rotated, so that the peers share
the machine's ups and downs; figures are medians with min and max. S5 is the
write-heavy burst (bench/sample_controller/burst.py: kubeloop's
sample-controller and the unmodified Go one, same per-group budgets); S4 the
micro benchmarks. CPU is utime+stime and memory VmRSS/VmHWM of the peer
process, from /proc. Writes docs/benchmarks.md, docs/benchmarks.json and
charts under docs/img/.

Usage: python -m bench.run [--quick] [--sizes 10000,30000,100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from bench import report
from bench.proc import BENCH_SERVING_FLAGS, byte_compile_sources, cpu_seconds, memory_kb

REPO = Path(__file__).resolve().parents[1]
CRD = REPO / "config" / "crd" / "networks.samplecrd.k8s.io.yaml"
NAMESPACE = "bench"
EMPTY_NAMESPACE = "bench-empty"
PEERS = ("kubeloop-lib", "kubeloop", "client-go", "kopf", "official")
WORKERS = 2
# Concurrent writes when seeding and in the S2 storm (the Go writer).
WRITERS = 64
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubeloop" / "bench"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- peers ---------------------------------------------------------------------
def build_go_peer() -> Path:
    src = REPO / "bench" / "peers" / "go"
    CACHE.mkdir(parents=True, exist_ok=True)
    binary = CACHE / "network-peer-go"
    newest = max(p.stat().st_mtime for p in src.iterdir())
    if not binary.exists() or binary.stat().st_mtime < newest:
        log("building the Go peer")
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=src, check=True)
    return binary


@dataclass(frozen=True)
class PeerSpec:
    name: str
    argv: list[str]
    stream: str  # which of the child's streams carries the lines below
    synced: re.Pattern[bytes] | None
    reconciled: re.Pattern[bytes]


def peer_specs(kubeconfig: str, namespace: str, go_binary: Path, state: str) -> dict[str, PeerSpec]:
    py = sys.executable
    common = ["--kubeconfig", kubeconfig, "--namespace", namespace, "--workers", str(WORKERS)]
    line = re.compile(rb"^reconciled (\S+)")
    return {
        "kubeloop": PeerSpec(
            "kubeloop",
            [
                *(py, "-m", "network_controller", *common, "--resync", "0"),
                *("--backend", "noop", "--no-api-writes", "--kube-api-qps", "0"),
                *("--state-dir", state),
                *BENCH_SERVING_FLAGS,  # plain-HTTP metrics on free ports
            ],
            "stderr",
            re.compile(rb"Starting workers"),
            re.compile(rb"Successfully synced '([^']+)'"),
        ),
        "kubeloop-lib": PeerSpec(
            "kubeloop-lib",
            [py, str(REPO / "bench/peers/kubeloop_peer.py"), *common],
            "stdout",
            re.compile(rb"^synced"),
            line,
        ),
        "client-go": PeerSpec(
            "client-go", [str(go_binary), *common], "stdout", re.compile(rb"^synced"), line
        ),
        "kopf": PeerSpec(
            "kopf", [py, str(REPO / "bench/peers/kopf_peer.py"), *common], "stdout", None, line
        ),
        "official": PeerSpec(
            "official",
            [py, str(REPO / "bench/peers/official_peer.py"), *common],
            "stdout",
            re.compile(rb"^synced"),
            line,
        ),
    }


class PeerProcess:
    """One running peer; a reader thread timestamps its lines and, when the
    reconcile count reaches ``target``, snapshots CPU and memory at once."""

    def __init__(self, spec: PeerSpec, log_path: Path) -> None:
        self.spec = spec
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        streams: dict[str, Any] = {"stdout": self._log, "stderr": self._log}
        streams[spec.stream] = subprocess.PIPE
        self.proc = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL, **streams)
        self.pid = self.proc.pid
        # Guards count, target and the snapshot fields below.
        self._lock = threading.Lock()
        self.count = 0
        self._keys: set[bytes] = set()
        self.target = -1
        self.synced_at: float | None = None
        self.last_at = 0.0
        self.done = threading.Event()
        self.snapshot: dict[str, float] = {}
        pipe = self.proc.stdout if spec.stream == "stdout" else self.proc.stderr
        assert pipe is not None
        self._reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._reader.start()

    def _read(self, pipe: IO[bytes]) -> None:
        for raw in pipe:
            now = time.monotonic()
            if self.spec.stream == "stderr":
                self._log.write(raw)
            m = self.spec.reconciled.search(raw)
            if m:
                with self._lock:
                    # Distinct keys: a key requeued while in flight counts once.
                    self._keys.add(m.group(1))
                    self.count = len(self._keys)
                    self.last_at = now
                    if self.count == self.target and not self.done.is_set():
                        self._take_snapshot(now)
            elif self.synced_at is None and self.spec.synced and self.spec.synced.search(raw):
                self.synced_at = now

    def _take_snapshot(self, now: float) -> None:
        with contextlib.suppress(OSError):
            mem = memory_kb(self.pid)
            self.snapshot = {
                "at": now,
                "cpu": cpu_seconds(self.pid),
                "rss_kb": mem["VmRSS"],
                "hwm_kb": mem["VmHWM"],
            }
        self.done.set()

    def expect(self, n: int) -> None:
        """Reset the count; ``done`` is set once ``n`` more reconciles are seen."""
        with self._lock:
            self.count, self.snapshot = 0, {}
            self._keys = set()
            self.done.clear()
            self.target = n
            if n == 0:
                self._take_snapshot(time.monotonic())

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.done.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return False
        return True

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.synced_at is None and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return self.synced_at is not None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self._log.close()


# -- the API server side ------------------------------------------------------
class Cluster:
    """The testenv control plane plus the writes the harness makes to it."""

    def __init__(self, kubeconfig: str, writer: Path) -> None:
        from kubeloop.client import Client, load_config

        config = load_config(kubeconfig=kubeconfig)
        config.qps, config.burst = 0, 0
        self.client = Client(config)
        self.kubeconfig = kubeconfig
        self.writer = writer  # the Go peer binary's -write mode
        self.networks = self.client.resource(
            "samplecrd.k8s.io/v1", "networks", namespace=NAMESPACE, namespaced=True
        )
        self.count = 0
        self.gateway_octet = 1

    def setup(self) -> None:
        from kubeloop.errors import AlreadyExists

        crds = self.client.resource(
            "apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False
        )
        manifest = yaml.safe_load(CRD.read_text())
        with contextlib.suppress(AlreadyExists):
            crds.create(manifest)
        namespaces = self.client.resource("v1", "namespaces", namespaced=False)
        for ns in (NAMESPACE, EMPTY_NAMESPACE):
            with contextlib.suppress(AlreadyExists):
                namespaces.create({"metadata": {"name": ns}})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conditions = (crds.get(manifest["metadata"]["name"]).get("status") or {}).get(
                "conditions"
            ) or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                # The CRD's REST endpoint may still be a moment behind.
                with contextlib.suppress(Exception):
                    self.networks.list_page()
                    return
            time.sleep(0.2)
        raise RuntimeError("the Network CRD was not established")

    def _write(self, mode: str, start: int, end: int, octet: int) -> None:
        subprocess.run(
            [
                *(str(self.writer), "-kubeconfig", self.kubeconfig, "-namespace", NAMESPACE),
                *("-write", mode, "-from", str(start), "-count", str(end)),
                *("-gateway-octet", str(octet), "-writers", str(WRITERS)),
            ],
            check=True,
        )

    def grow_to(self, n: int) -> float:
        """Create Networks up to ``n``; returns seconds taken."""
        started = time.monotonic()
        if n > self.count:
            self._write("create", self.count, n, self.gateway_octet)
        self.count = max(self.count, n)
        return time.monotonic() - started

    def update_all(self) -> tuple[float, float]:
        """One spec update per Network, as fast as the server takes them;
        returns (time of the first write, seconds the writes took)."""
        self.gateway_octet += 1
        first = time.monotonic()
        self._write("update", 0, self.count, self.gateway_octet)
        return first, time.monotonic() - first

    def close(self) -> None:
        self.client.close()


# -- one peer, one repetition -------------------------------------------------
def run_peer(
    spec: PeerSpec,
    cluster: Cluster,
    n: int,
    idle: float,
    workdir: Path,
    tag: str,
    storm: bool = True,
) -> dict[str, Any]:
    timeout = 60 + n / 50  # generous: kopf is slow, but a hang must not eat the run
    p = PeerProcess(spec, workdir / f"{spec.name}-{tag}.log")
    r: dict[str, Any] = {"peer": spec.name, "n": n}
    try:
        p.expect(n)
        if not p.wait(timeout):
            r["error"] = f"S1: {p.count}/{n} reconciled after {timeout:.0f}s"
            return r
        s = p.snapshot
        r["s1_synced_s"] = (p.synced_at - p.started) if p.synced_at else None
        r["s1_all_s"] = s["at"] - p.started
        r["s1_cpu_s"] = s["cpu"]
        r["s1_peak_rss_mb"] = s["hwm_kb"] / 1024
        time.sleep(2.0)  # let the collector and the allocator settle
        r["steady_rss_mb"] = memory_kb(p.pid)["VmRSS"] / 1024
        if not storm:
            return r

        cpu0 = cpu_seconds(p.pid)
        p.expect(n)
        first, write_s = cluster.update_all()
        if not p.wait(timeout):
            r["error"] = f"S2: {p.count}/{n} reconciled after {timeout:.0f}s"
            return r
        s = p.snapshot
        r["s2_write_s"] = write_s
        r["s2_drain_s"] = s["at"] - first
        r["s2_lag_s"] = s["at"] - (first + write_s)
        r["s2_cpu_per_1k"] = (s["cpu"] - cpu0) / n * 1000
        r["s2_peak_rss_mb"] = s["hwm_kb"] / 1024

        if idle <= 0:
            return r
        time.sleep(1.0)
        cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(idle)
        r["s3_idle_cpu_pct"] = (cpu_seconds(p.pid) - cpu0) / (time.monotonic() - t0) * 100
        r["s3_rss_mb"] = memory_kb(p.pid)["VmRSS"] / 1024
        return r
    finally:
        p.stop()


def baseline(spec: PeerSpec) -> tuple[float, float]:
    """VmRSS (MB) and CPU seconds of a peer watching an empty namespace, 3 s
    after it synced (after 3 s for kopf, which has no synced moment): the
    fixed cost of the runtime, imports and an empty informer."""
    p = PeerProcess(spec, Path(tempfile.gettempdir()) / f"bench-baseline-{spec.name}.log")
    try:
        if spec.synced is not None:
            p.wait_synced(60)
        time.sleep(3.0)
        return memory_kb(p.pid)["VmRSS"] / 1024, cpu_seconds(p.pid)
    finally:
        p.stop()


# -- S4 micro -----------------------------------------------------------------
def micro(quick: bool) -> dict[str, str]:
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    runs = {
        "workqueue": [py, "bench/workqueue/bench_workqueue.py"]
        + (["--min-time", "0.2", "--reps", "1"] if quick else []),
        "delta": [py, "bench/informer/bench_delta_throughput.py"]
        + (["--objects", "5000", "--events", "20000", "--repeat", "1"] if quick else []),
    }
    if (REPO / "bench" / "imports.py").exists():
        runs["imports"] = [py, "bench/imports.py"]
    out: dict[str, str] = {}
    for name, argv in runs.items():
        log(f"S4 {name}")
        try:
            done = subprocess.run(
                argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            out[name] = done.stdout if done.returncode == 0 else f"failed:\n{done.stderr[-2000:]}"
        except subprocess.TimeoutExpired:
            out[name] = "timed out after 300 s"
    return out


def bursts(sizes: str, repeat: int) -> list[dict[str, Any]]:
    """S5: bench/sample_controller/burst.py in its own process and testenv."""
    out = Path(tempfile.mkdtemp(prefix="kubeloop-burst-out-")) / "burst.json"
    argv = [sys.executable, "-m", "bench.sample_controller.burst", "--foos", sizes]
    argv += ["--repeat", str(repeat), "--budget", "matched", "--json", str(out)]
    log(f"S5 sample-controller bursts of {sizes} Foos, {repeat} round(s)")
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, timeout=7200)
    if done.returncode != 0 or not out.exists():
        return [{"error": f"burst.py exited {done.returncode}"}]
    results: list[dict[str, Any]] = json.loads(out.read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    return results


# -- main ---------------------------------------------------------------------
#: Only these peers run at the largest size (the issue: kubeloop and client-go).
LARGE_PEERS = ("kubeloop-lib", "kubeloop", "client-go")
#: kopf needs 13 s and 140 MB for 10,000 objects: larger sizes only cost time.
KOPF_MAX = 10000


@dataclass
class Options:
    quick: bool
    sizes: list[int]
    storm_sizes: list[int]
    repeat: int
    idle: float
    peers: list[str]
    out: Path
    bursts: str
    results: list[dict[str, Any]] = field(default_factory=list)

    def peers_at(self, n: int) -> list[str]:
        """Who runs at ``n`` objects: everyone, kopf only up to KOPF_MAX,
        and only LARGE_PEERS at the largest of three or more sizes."""
        peers = [p for p in self.peers if p != "kopf" or n <= KOPF_MAX]
        if len(self.sizes) >= 3 and n == max(self.sizes):
            peers = [p for p in peers if p in LARGE_PEERS]
        return peers


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=2000, 1 repetition, 10 s idle")
    ap.add_argument("--sizes", help="comma-separated object counts (default 10000,30000,100000)")
    ap.add_argument(
        "--storm-sizes", help="sizes that also run S2 and S3 (default: the smallest size)"
    )
    ap.add_argument("--repeat", type=int, help="repetitions (default 5; quick 1)")
    ap.add_argument("--idle", type=float, help="S3 window in seconds (default 30; quick 10)")
    ap.add_argument(
        "--bursts",
        help="S5 burst sizes in Foos, comma-separated, or 'none' (default 500; quick none)",
    )
    ap.add_argument(
        "--bursts-from",
        help="take S5 from this JSON (burst.py --json) instead of running it (same commit)",
    )
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--no-micro", action="store_true", help="skip S4")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the page (and charts) from the .json next to --out, without running",
    )
    args = ap.parse_args()
    if args.render_only:
        out = Path(args.out)
        saved = json.loads(out.with_suffix(".json").read_text())
        report.write(out, saved["results"], saved["meta"], saved.get("micro", {}))
        return
    default_sizes = "2000" if args.quick else "10000,30000,100000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    opts = Options(
        quick=args.quick,
        sizes=sizes,
        storm_sizes=[int(s) for s in args.storm_sizes.split(",")]
        if args.storm_sizes
        else [min(sizes)],
        repeat=args.repeat or (1 if args.quick else 5),
        idle=args.idle or (10.0 if args.quick else 30.0),
        peers=args.peers.split(","),
        out=Path(args.out),
        bursts=args.bursts or ("none" if args.quick else "500"),
    )

    from kubeloop.testenv import ControlPlane

    started = time.monotonic()
    load_before = os.getloadavg()
    go_binary = build_go_peer()
    byte_compile_sources()
    workdir = Path(tempfile.mkdtemp(prefix="kubeloop-bench-"))
    # etcd on tmpfs where there is one: fsync on a shared VM disk, not the
    # controllers, would otherwise bound every write-heavy step.
    shm = Path("/dev/shm")
    cp_dir = Path(tempfile.mkdtemp(prefix="kubeloop-bench-cp-", dir=shm if shm.is_dir() else None))
    cp = ControlPlane(cp_dir).start()
    cluster = Cluster(str(cp.kubeconfig), go_binary)
    seeding: dict[int, float] = {}
    baselines: dict[str, float] = {}
    baseline_cpu: dict[str, float] = {}
    try:
        cluster.setup()
        empty = peer_specs(cluster.kubeconfig, EMPTY_NAMESPACE, go_binary, str(workdir / "st"))
        for name in opts.peers:
            baselines[name], baseline_cpu[name] = baseline(empty[name])
            log(f"baseline {name}: {baselines[name]:.1f} MB, {baseline_cpu[name]:.2f} CPU s")
        specs = peer_specs(cluster.kubeconfig, NAMESPACE, go_binary, str(workdir / "state"))
        for n in opts.sizes:
            seeding[n] = cluster.grow_to(n)
            log(f"{n} Networks in place ({seeding[n]:.1f} s to create)")
            peers = opts.peers_at(n)
            storm = n in opts.storm_sizes
            for rep in range(opts.repeat):
                # Rotate the order so no peer always runs first (cold caches).
                order = peers[rep % len(peers) :] + peers[: rep % len(peers)]
                for name in order:
                    # S3 only in the first repetition: its window per peer fits once.
                    idle = opts.idle if rep == 0 and storm else 0.0
                    tag = f"{n}-{rep}"
                    r = run_peer(specs[name], cluster, n, idle, workdir, tag, storm)
                    r["rep"] = rep
                    if "steady_rss_mb" in r:
                        r["rss_per_object_kb"] = (r["steady_rss_mb"] - baselines[name]) * 1024 / n
                    opts.results.append(r)
                    log(json.dumps(r))
    finally:
        cluster.close()
        cp.stop()
    if args.bursts_from:
        burst_results = json.loads(Path(args.bursts_from).read_text())
    elif opts.bursts == "none":
        burst_results = []
    else:
        burst_results = bursts(opts.bursts, opts.repeat)
    micro_out = {} if args.no_micro else micro(opts.quick)
    meta = report.machine_info(go_binary)
    meta.update(
        load_before=load_before,
        load_after=os.getloadavg(),
        elapsed_s=time.monotonic() - started,
        mode="quick" if opts.quick else "full",
        sizes=opts.sizes,
        repeat=opts.repeat,
        idle_s=opts.idle,
        workers=WORKERS,
        seeding_s=seeding,
        baseline_rss_mb=baselines,
        baseline_cpu_s=baseline_cpu,
        storm_sizes=opts.storm_sizes,
        peers_at={n: opts.peers_at(n) for n in opts.sizes},
        bursts=burst_results,
    )
    report.write(opts.out, opts.results, meta, micro_out)
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(cp_dir, ignore_errors=True)
    log(f"wrote {opts.out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
