"""The soak: the network-controller under steady churn for a long time,
watched from outside its process, then judged against fixed limits.

A leak shows only over time: memory that grows by a few objects a minute,
a thread that one code path starts and never joins, a queue that stops
draining after the hundredth burst. Tests do not run long enough to see
any of them, so ``make soak`` runs one controller (``python -m
network_controller --backend noop``) against testenv for 30 minutes:

- steady churn at a fixed rate: each tick picks one of ``--pool`` names
  (seeded) and creates it if absent, else updates it (3 in 4) or deletes it;
- every ``--burst-every`` seconds a burst: every present Network updated at
  once by concurrent writers;
- every ``--interval`` seconds a sample, read from outside the process:
  VmRSS and Threads from ``/proc/<pid>/status``, ``workqueue_depth`` and
  ``informer_queued_items`` (summed over their series) from its /metrics;
- after each burst the metrics are polled until both queues read 0.

Acceptance (:mod:`tools.e2e.soak_report`): the least-squares RSS slope
after the warm-up (15 minutes; why: :class:`~tools.e2e.soak_data.SoakSettings`)
at most 5 MB per hour, the thread count within +-2 of
its first sample, both queues back at 0 after every burst. The samples go
to docs/soak.json, the charts to docs/img/soak-*.png and the figures to
the "Soak" section of docs/reliability.md.

    python -m tools.e2e.soak --minutes 2    # a smoke check
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.client import Client, load_config
from kubeloop.errors import KubeloopError, is_already_exists, is_not_found
from kubeloop.testenv import ControlPlane
from tools.e2e.process import CRD, ControllerProcess, proc_status
from tools.e2e.soak_data import Burst, Sample, SoakRun, SoakSettings
from tools.e2e.soak_report import write_report
from tools.e2e.writers import concurrently

API = "samplecrd.k8s.io/v1"
NAMESPACE = "soak"


def rss_and_threads(pid: int) -> tuple[float, int]:
    """(VmRSS in MB, Threads) of ``pid``."""
    fields = proc_status(pid)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def queue_lengths(metrics_text: str) -> tuple[float, float]:
    """(workqueue_depth, informer_queued_items) of a /metrics page, each
    summed over its series (one per queue, one per informer)."""
    depth = queued = 0.0
    seen: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == "workqueue_depth":
                depth += s.value
                seen.add(s.name)
            elif s.name == "informer_queued_items":
                queued += s.value
                seen.add(s.name)
    missing = {"workqueue_depth", "informer_queued_items"} - seen
    if missing:
        raise ValueError(f"/metrics has no {', '.join(sorted(missing))}")
    return depth, queued


def _network(name: str, rng: random.Random) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Network", "metadata": {"name": name}, "spec": _spec(rng)}


def _spec(rng: random.Random) -> dict[str, str]:
    a, b = rng.randrange(256), rng.randrange(256)
    return {"cidr": f"10.{a}.{b}.0/24", "gateway": f"10.{a}.{b}.{rng.randrange(1, 255)}"}


class Soak:
    """One soak run in ``workdir`` (see the module docs); :meth:`run` returns the samples."""

    def __init__(self, settings: SoakSettings, workdir: Path) -> None:
        self.s = settings
        self.dir = workdir
        self.run_ = SoakRun(settings)
        self.cp = ControlPlane(workdir / "cluster", port=_free_port())
        self.controller: ControllerProcess | None = None
        self._client: Client | None = None
        self._metrics_url = ""
        # Guards _present and run_.ops: the churn and the burst writers share them.
        self._lock = threading.Lock()
        self._present: set[str] = set()
        # Held while reading /proc or scraping: a scrape's server thread is never counted.
        self._observe_lock = threading.Lock()
        self._stop = threading.Event()
        self._t0 = 0.0

    @property
    def client(self) -> Client:
        assert self._client is not None
        return self._client

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def setup(self) -> None:
        self.cp.start()
        config = load_config(kubeconfig=str(self.cp.kubeconfig))
        config.qps = 0
        self._client = Client(config)
        crds = self.client.resource(
            "apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False
        )
        crds.create(yaml.safe_load(CRD.read_text()))
        self.client.resource("v1", "namespaces", namespaced=False).create(
            {"metadata": {"name": NAMESPACE}}
        )
        nets = self.client.resource(API, "networks", namespaced=True)
        deadline = time.monotonic() + 60
        while True:  # the CRD is served a moment after it is created
            try:
                nets.list_page()
                break
            except KubeloopError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.controller = ControllerProcess(
            str(self.cp.kubeconfig),
            str(self.dir / "state"),
            [
                *("--backend", "noop", "--metrics-secure=false"),
                *("--kube-api-qps", str(self.s.qps), "--kube-api-burst", str(int(self.s.qps * 2))),
            ],
        )
        self.controller.start()
        port = self.controller.served_port("metrics")
        self._metrics_url = f"http://127.0.0.1:{port}/metrics"
        # Both controllers (Networks, Deployments) synced and working.
        self.controller.wait_for_lines(lambda line: '"Starting workers"' in line, 0, 2, 120)
        assert self.controller._proc is not None
        self.run_.pid = self.controller._proc.pid

    # -- observing ------------------------------------------------------------
    def observe(self) -> Sample:
        with self._observe_lock:
            rss, threads = rss_and_threads(self.run_.pid)
            with urllib.request.urlopen(self._metrics_url, timeout=10) as resp:
                text = resp.read().decode()
        depth, queued = queue_lengths(text)
        return Sample(round(self._now(), 2), round(rss, 2), threads, depth, queued)

    def _sampler(self) -> None:
        next_at = 0.0
        while not self._stop.is_set():
            try:
                self.run_.samples.append(self.observe())
            except (OSError, ValueError) as err:
                self.run_.errors.append(f"sample at {self._now():.0f}s: {err}")
            next_at += self.s.interval
            self._stop.wait(max(0.0, next_at - self._now()))

    def _watch_burst(self, burst: Burst, done: threading.Event, until: float) -> None:
        """Poll /metrics every 0.25 s from the burst's start until, after its
        last write (``done``), both queues read 0, or ``until`` passes."""
        while self._now() < until and not self._stop.is_set():
            written = done.is_set()
            try:
                sample = self.observe()
            except (OSError, ValueError) as err:
                self.run_.errors.append(f"burst poll at {self._now():.0f}s: {err}")
            else:
                self.run_.burst_samples.append(sample)
                burst.peak_workqueue = max(burst.peak_workqueue, sample.workqueue_depth)
                burst.peak_informer = max(burst.peak_informer, sample.informer_queued)
                if written and sample.workqueue_depth == 0 and sample.informer_queued == 0:
                    burst.drained_after = round(sample.t - burst.written, 2)
                    return
            self._stop.wait(0.25)

    # -- the workload ---------------------------------------------------------
    def _count(self, what: str) -> None:
        with self._lock:
            self.run_.ops[what] = self.run_.ops.get(what, 0) + 1

    def _write(self, name: str, kind: str, rng: random.Random) -> None:
        nets = self.client.resource(API, "networks", namespaced=True)
        try:
            if kind == "create":
                nets.create(_network(name, rng), namespace=NAMESPACE)
            elif kind == "update":
                nets.patch(name, {"spec": _spec(rng)}, namespace=NAMESPACE)
            else:
                nets.delete(name, namespace=NAMESPACE)
        except KubeloopError as err:
            if not (is_not_found(err) or is_already_exists(err)):
                self.run_.errors.append(f"{kind} {name}: {str(err)[:200]}")
            self._count("refused")
            return
        with self._lock:
            if kind == "delete":
                self._present.discard(name)
            else:
                self._present.add(name)
        self._count(kind)

    def _churn(self, until: float) -> None:
        rng = random.Random(f"{self.s.seed}:churn")
        pace = 1.0 / self.s.rate
        started = self._now()
        i = 0
        while not self._stop.is_set() and self._now() < until:
            name = f"net-{rng.randrange(self.s.pool)}"
            with self._lock:
                present = name in self._present
            kind = "create" if not present else "update" if rng.random() < 0.75 else "delete"
            self._write(name, kind, rng)
            i += 1
            self._stop.wait(max(0.0, started + i * pace - self._now()))

    def _burst(self, rng: random.Random, until: float) -> threading.Thread:
        """Update every present Network at once; returns the thread that
        watches the queues drain (see :meth:`_watch_burst`)."""
        with self._lock:
            names = sorted(self._present)
        burst = Burst(started=round(self._now(), 2), writes=len(names))
        self.run_.bursts.append(burst)
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch_burst, args=(burst, done, until), name="soak-burst-watch"
        )
        watcher.start()
        seeds = [rng.randrange(1 << 30) for _ in names]
        concurrently(
            lambda pair: self._write(pair[0], "update", random.Random(pair[1])),
            list(zip(names, seeds, strict=True)),
            self.s.burst_writers,
        )
        burst.written = round(self._now(), 2)
        done.set()
        return watcher

    def run(self) -> SoakRun:
        try:
            self.setup()
            self._t0 = time.monotonic()
            end = self.s.minutes * 60
            sampler = threading.Thread(target=self._sampler, name="soak-sampler")
            churn = threading.Thread(target=self._churn, args=(end,), name="soak-churn")
            sampler.start()
            churn.start()
            rng = random.Random(f"{self.s.seed}:bursts")
            next_burst = self.s.burst_every / 2
            try:
                # Bursts until there is no time left to see one drain.
                room = min(30.0, self.s.burst_every / 2)
                while next_burst + room < end and not self._stop.wait(next_burst - self._now()):
                    next_burst += self.s.burst_every
                    self._burst(rng, until=min(next_burst, end)).join()
                self._stop.wait(max(0.0, end - self._now()))
            finally:
                self._stop.set()
                churn.join()
                sampler.join()
            self.run_.seconds = round(self._now(), 1)
            self._check_controller()
        finally:
            if self.controller is not None:
                self.controller.kill()
            if self._client is not None:
                self._client.close()
            self.cp.stop()
        return self.run_

    def _check_controller(self) -> None:
        assert self.controller is not None
        if not self.controller.running:
            tail = "\n".join(self.controller.lines[-20:])
            self.run_.errors.append(f"the controller exited during the soak:\n{tail}")
        tracebacks = [line for line in self.controller.lines if "Traceback" in line]
        if tracebacks:
            self.run_.errors.append(f"{len(tracebacks)} tracebacks in the controller's log")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    defaults = SoakSettings()
    ap = argparse.ArgumentParser(prog="python -m tools.e2e.soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=defaults.minutes)
    ap.add_argument("--rate", type=float, default=defaults.rate, help="churn operations/s")
    ap.add_argument("--pool", type=int, default=defaults.pool, help="Network names churned")
    ap.add_argument("--burst-every", type=float, default=defaults.burst_every, help="seconds")
    ap.add_argument("--interval", type=float, default=defaults.interval, help="sample period, s")
    ap.add_argument("--warmup", type=float, default=None, help="seconds left out of the RSS fit")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--docs", default="docs", help="where soak.json, img/ and reliability.md are")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.pool <= 0 or args.interval <= 0:
        ap.error("--minutes, --rate, --pool and --interval must be positive")
    if args.burst_every < 40:
        ap.error("--burst-every must be at least 40 s (a burst needs time to drain)")
    settings = SoakSettings(
        minutes=args.minutes,
        rate=args.rate,
        pool=args.pool,
        burst_every=args.burst_every,
        interval=args.interval,
        warmup=args.warmup,
        seed=args.seed if args.seed is not None else random.randrange(1 << 30),
    )
    print(f"soak: {settings}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kubeloop-soak-") as tmp:
        run = Soak(settings, Path(tmp)).run()
    verdict = write_report(run, Path(args.docs))
    print(verdict.text)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
