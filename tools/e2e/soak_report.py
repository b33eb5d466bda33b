"""The soak's verdict: its limits applied to the samples, the charts, and the
"Soak" section of docs/reliability.md.

The limits are issue 21's: RSS may grow by at most 5 MB per hour after the
warm-up (a least-squares line through the samples after it, so one
garbage-collection spike neither hides nor fakes a trend), the thread
count may move at most 2 from its first sample (a worker pool that grows
is a leak even if memory does not show it yet), and both queues must read
0 after every burst (a queue that stops draining is a stuck worker or a
lost wake-up).

    verdict = judge(run)
    print(verdict.text)     # each limit, met or missed, with its figure
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.e2e.doc_sections import write_section
from tools.e2e.soak_data import Sample, SoakRun

RSS_SLOPE_LIMIT_MB_PER_HOUR = 5.0
THREAD_DRIFT_LIMIT = 2
CHARTS = (
    ("rss", "RSS (MB)", "rss_mb"),
    ("threads", "threads", "threads"),
    ("workqueue", "workqueue depth", "workqueue_depth"),
    ("informer", "informer queued items", "informer_queued"),
)


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of ``(seconds, value)`` points, per hour.

    >>> round(slope_per_hour([(0, 100.0), (1800, 101.0), (3600, 102.0)]), 3)
    2.0
    """
    n = len(points)
    if n < 2:
        raise ValueError(f"a slope needs two samples, got {n}")
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        raise ValueError("the samples share one time")
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600


def window_slopes(samples: list[Sample], window: float = 300.0) -> list[float]:
    """The RSS slope (MB/h) of each full ``window`` seconds of the run: where
    the memory stops growing, which the warm-up must cover."""
    slopes = []
    start = 0.0
    while start < samples[-1].t:
        points = [(s.t, s.rss_mb) for s in samples if start <= s.t < start + window]
        # A window the run ended early in is too short to say anything.
        if len(points) >= 2 and points[-1][0] - points[0][0] >= 0.8 * window:
            slopes.append(slope_per_hour(points))
        start += window
    return slopes


@dataclass
class Verdict:
    rss_slope: float
    rss_start: float
    rss_end: float
    threads_start: int
    threads_min: int
    threads_max: int
    bursts_drained: int
    bursts: int
    max_drain: float
    warmup: float
    fitted: int
    errors: list[str]

    @property
    def rss_ok(self) -> bool:
        return self.rss_slope <= RSS_SLOPE_LIMIT_MB_PER_HOUR

    @property
    def threads_ok(self) -> bool:
        drift = max(self.threads_max - self.threads_start, self.threads_start - self.threads_min)
        return drift <= THREAD_DRIFT_LIMIT

    @property
    def drain_ok(self) -> bool:
        return self.bursts > 0 and self.bursts_drained == self.bursts

    @property
    def ok(self) -> bool:
        return self.rss_ok and self.threads_ok and self.drain_ok and not self.errors

    @property
    def text(self) -> str:
        def mark(ok: bool) -> str:
            return "met" if ok else "MISSED"

        lines = [
            f"RSS slope after a {self.warmup:.0f} s warm-up ({self.fitted} samples): "
            f"{self.rss_slope:+.2f} MB/h, limit {RSS_SLOPE_LIMIT_MB_PER_HOUR:.0f}: "
            f"{mark(self.rss_ok)}",
            f"threads {self.threads_start} at the start, {self.threads_min}-{self.threads_max} "
            f"over the run, limit +-{THREAD_DRIFT_LIMIT}: {mark(self.threads_ok)}",
            f"queues back at 0 after {self.bursts_drained} of {self.bursts} bursts "
            f"(slowest {self.max_drain:.2f} s after its last write): {mark(self.drain_ok)}",
            f"errors: {len(self.errors)}" + "".join(f"\n  {e}" for e in self.errors[:10]),
        ]
        return "\n".join(lines)


def judge(run: SoakRun) -> Verdict:
    samples = run.samples
    if len(samples) < 3:
        raise ValueError(f"{len(samples)} samples: too few to judge a soak")
    warmup = run.settings.warmup_seconds
    after = [(s.t, s.rss_mb) for s in samples if s.t >= warmup]
    threads = [s.threads for s in samples]
    drains = [b.drained_after for b in run.bursts]
    return Verdict(
        rss_slope=slope_per_hour(after),
        rss_start=after[0][1],
        rss_end=after[-1][1],
        threads_start=threads[0],
        threads_min=min(threads),
        threads_max=max(threads),
        bursts_drained=sum(1 for d in drains if d >= 0),
        bursts=len(drains),
        max_drain=max(drains, default=0.0),
        warmup=warmup,
        fitted=len(after),
        errors=list(run.errors),
    )


def draw_charts(run: SoakRun, verdict: Verdict, img: Path) -> list[Path]:
    """One PNG per series (docs/img/soak-*.png), bursts shaded, the RSS fit drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    minutes = [s.t / 60 for s in run.samples]
    paths = []
    for slug, label, attr in CHARTS:
        fig, ax = plt.subplots(figsize=(8, 2.6), dpi=100)
        values = [float(getattr(s, attr)) for s in run.samples]
        ax.plot(minutes, values, lw=1.2, color="#1f77b4", label=label)
        if attr != "rss_mb" and attr != "threads":
            polls = run.burst_samples
            ax.plot(
                [p.t / 60 for p in polls],
                [float(getattr(p, attr)) for p in polls],
                ".",
                ms=2,
                color="#ff7f0e",
                label="polls during bursts",
            )
        for b in run.bursts:
            end = b.written + max(b.drained_after, 0.0)
            ax.axvspan(b.started / 60, end / 60, color="#ff7f0e", alpha=0.25, lw=0)
        if attr == "rss_mb":
            _draw_fit(ax, run.samples, verdict)
        ax.set_xlabel("minutes (shaded: bursts, until both queues read 0)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        fig.tight_layout()
        path = img / f"soak-{slug}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _draw_fit(ax: Any, samples: list[Sample], verdict: Verdict) -> None:
    after = [s for s in samples if s.t >= verdict.warmup]
    mean_t = sum(s.t for s in after) / len(after)
    mean_v = sum(s.rss_mb for s in after) / len(after)
    slope = verdict.rss_slope / 3600
    ts = [after[0].t, after[-1].t]
    fit = [mean_v + slope * (t - mean_t) for t in ts]
    ax.plot(
        [t / 60 for t in ts], fit, "--", color="#d62728", label=f"fit {verdict.rss_slope:+.2f} MB/h"
    )
    ax.axvline(verdict.warmup / 60, color="grey", lw=0.8, ls=":")
    ax.legend(loc="lower right", fontsize=8)


def render_section(run: SoakRun, verdict: Verdict, charts: list[Path]) -> str:
    s = run.settings
    ops = ", ".join(f"{k} {v}" for k, v in sorted(run.ops.items()))
    total = sum(run.ops.values())
    drains = ", ".join(f"{b.drained_after:.1f}" for b in run.bursts)
    peaks = ", ".join(f"{b.peak_workqueue:.0f}/{b.peak_informer:.0f}" for b in run.bursts)
    return "\n".join(
        [
            "## Soak",
            "",
            "Regenerated by `make soak` (`python -m tools.e2e.soak`; "
            "`--minutes 2` for a smoke check). The network-controller "
            "(`--backend noop`, 2 workers, `--kube-api-qps "
            f"{s.qps:.0f}`) against testenv for {run.seconds / 60:.1f} minutes: steady churn at "
            f"{s.rate:g} operations/s over {s.pool} names (create if absent, else update 3 in 4, "
            f"delete 1 in 4), and every {s.burst_every:.0f} s a burst updating every present "
            f"Network with {s.burst_writers} concurrent writers. Sampled every "
            f"{s.interval:g} s from outside the process: VmRSS and Threads from "
            "`/proc/<pid>/status`, `workqueue_depth` and `informer_queued_items` from its "
            "/metrics. Seed "
            f"{s.seed}; raw samples in [soak.json](soak.json).",
            "",
            f"- operations: {total} ({ops})",
            f"- bursts: {len(run.bursts)}, {sum(b.writes for b in run.bursts)} writes; "
            f"seconds from each burst's last write until both queues read 0: {drains or 'none'}",
            f"- peak workqueue depth / informer queued items during each burst (polled every "
            f"0.25 s): {peaks or 'none'}",
            f"- RSS {run.samples[0].rss_mb:.1f} MB at the first sample, "
            f"{verdict.rss_start:.1f} MB after the warm-up, {verdict.rss_end:.1f} MB at the end; "
            "slope of each 5-minute window (MB/h): "
            + (", ".join(f"{w:+.1f}" for w in window_slopes(run.samples)) or "none"),
            "- the warm-up: bounded caches (the Event recorder's 4096-entry LRUs are the "
            "likely ones) fill for the first minutes of churn, so RSS rises at a falling rate, "
            "then stays flat; the fit starts after that (see `SoakSettings`)",
            "",
            "| acceptance | figure | limit | result |",
            "|---|---|---|---|",
            f"| RSS slope after a {verdict.warmup:.0f} s warm-up (least squares, "
            f"{verdict.fitted} samples) | {verdict.rss_slope:+.2f} MB/h | "
            f"<= {RSS_SLOPE_LIMIT_MB_PER_HOUR:.0f} MB/h | {_met(verdict.rss_ok)} |",
            f"| threads (first sample {verdict.threads_start}) | "
            f"{verdict.threads_min}-{verdict.threads_max} | +-{THREAD_DRIFT_LIMIT} | "
            f"{_met(verdict.threads_ok)} |",
            f"| bursts after which both queues read 0 | {verdict.bursts_drained} of "
            f"{verdict.bursts} (slowest {verdict.max_drain:.1f} s) | all | "
            f"{_met(verdict.drain_ok)} |",
            f"| errors (harness writes refused, samples failed, controller exits, "
            f"tracebacks) | {len(verdict.errors)} | 0 | {_met(not verdict.errors)} |",
            "",
            *[f"![{p.stem}](img/{p.name})" for p in charts],
            "",
        ]
    )


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_report(run: SoakRun, docs: Path) -> Verdict:
    """soak.json, img/soak-*.png and the Soak section of reliability.md under ``docs``."""
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "soak.json").write_text(json.dumps(run.to_json(), indent=1) + "\n")
    verdict = judge(run)
    charts = draw_charts(run, verdict, docs / "img")
    write_section(docs / "reliability.md", render_section(run, verdict, charts))
    return verdict
