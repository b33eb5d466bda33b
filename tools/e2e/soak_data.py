"""What a soak run records: its settings, the samples taken from outside the
controller's process, and the bursts with how long each took to drain.

Plain data, kept as JSON next to the report (docs/soak.json), so a chart or
a verdict can be recomputed without running the soak again::

    run = SoakRun(SoakSettings(minutes=2))
    run.samples.append(Sample(t=5.0, rss_mb=61.2, threads=14, workqueue_depth=0, informer_queued=0))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SoakSettings:
    """What to run; the defaults are ``make soak``'s.

    The warm-up is 15 minutes of a 30-minute run because the first 20-minute
    soak (a 5-minute warm-up) measured the controller's RSS still rising
    until about 14 minutes in, at a falling rate, then flat (+0.2 MB/h over
    the last 5 minutes): the bounded caches filling (the Event recorder's
    4096-entry LRUs are the likely ones), not a leak. A fit that starts
    before they are full measures the fill. The report prints the slope of
    every 5-minute window, so a run shows its own plateau.
    """

    minutes: float = 30.0
    #: Steady churn, operations per second.
    rate: float = 10.0
    #: Names the churn picks from (about 4 in 5 exist at any time).
    pool: int = 1000
    burst_every: float = 120.0
    burst_writers: int = 8
    interval: float = 5.0
    #: Seconds excluded from the RSS fit; None: half the run, at most 15 minutes.
    warmup: float | None = None
    seed: int = 0
    #: The controller's client-side rate limit (its status writes).
    qps: float = 50.0

    @property
    def warmup_seconds(self) -> float:
        if self.warmup is not None:
            return self.warmup
        return min(900.0, self.minutes * 60 / 2)


@dataclass
class Sample:
    t: float
    rss_mb: float
    threads: int
    workqueue_depth: float
    informer_queued: float


@dataclass
class Burst:
    started: float
    writes: int
    #: When the last write of the burst returned, seconds since the start.
    written: float = 0.0
    #: Seconds from ``written`` until both queues read 0; -1 if they never did.
    drained_after: float = -1.0
    #: The largest depths the burst's own polls (every 0.25 s) saw.
    peak_workqueue: float = 0.0
    peak_informer: float = 0.0


@dataclass
class SoakRun:
    settings: SoakSettings
    pid: int = 0
    samples: list[Sample] = field(default_factory=list)
    #: The polls during and after each burst, every 0.25 s until both queues
    #: read 0: charted, but not in the RSS fit (they would weight the bursts).
    burst_samples: list[Sample] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
