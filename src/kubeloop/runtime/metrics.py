"""Reconcile metrics under controller-runtime's names, so its dashboards and
alerts work on a kubeloop controller unchanged.

::

    metrics = ReconcileMetrics("foos", registry)
    metrics.set_max_concurrent_reconciles(2)
    metrics.observe("success", 0.012)

Families (label ``controller``), as controller-runtime's
``pkg/internal/controller/metrics``:

- ``controller_runtime_reconcile_total{controller, result}``: ``result`` is
  ``success``, ``error``, ``requeue`` or ``requeue_after``;
- ``controller_runtime_reconcile_errors_total``: failed reconciles,
  terminal ones included;
- ``controller_runtime_terminal_reconcile_errors_total``: terminal ones only;
- ``controller_runtime_reconcile_time_seconds``: a histogram of durations;
- ``controller_runtime_active_workers``: workers inside a reconcile now;
- ``controller_runtime_max_concurrent_reconciles``: the worker count.

The controller's queue reports client-go's ``workqueue_*`` families with
``name=<controller>`` into the same registry.

Why not ``prometheus_client.Counter`` and friends: every reconcile makes
four updates (active up and down, a result, a duration), each behind a lock
of its own, and two workers contending for those locks under the GIL made a
lock convoy: with the runtime's other locks already yielding, two workers
of a no-op reconcile cost 15.6 us of CPU per key, against 11.7 us with the
metrics taken out (see :mod:`kubeloop._locks`). So, as the workqueue's and the
informer's metrics do, each controller name's series are plain numbers
behind one yielding lock, turned into the families when the registry is
scraped. ReconcileMetrics of one name in one registry share those series,
as they would share one labelled child.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from kubeloop._locks import YieldingLock
from kubeloop._prometheus import BucketHistogram, SeriesCollector, registered

__all__ = ["RECONCILE_TIME_BUCKETS", "ReconcileMetrics", "ResultLabel"]

ResultLabel = Literal["success", "error", "requeue", "requeue_after"]

#: controller-runtime's buckets: 5 ms to a minute, dense below a second.
RECONCILE_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)

_RESULTS: tuple[ResultLabel, ...] = ("success", "error", "requeue", "requeue_after")


class _Series:
    """Every series of one controller name, as plain numbers."""

    def __init__(self) -> None:
        # Guards every number below but the histogram (which has its own).
        self.lock = YieldingLock()
        self.total: dict[ResultLabel, int] = dict.fromkeys(_RESULTS, 0)
        self.errors = 0
        self.terminal = 0
        self.active = 0
        self.max_concurrent = 0
        self.time = BucketHistogram(RECONCILE_TIME_BUCKETS, self.lock)


class _ReconcileCollector(SeriesCollector[str, _Series]):
    """Turns every controller's series into controller-runtime's six families on scrape."""

    def __init__(self) -> None:
        super().__init__(_Series)

    def describe(self) -> Iterable[Metric]:
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        total, errors, terminal, time, active, max_concurrent = families = _families()
        for controller, s in self.named():
            with s.lock:
                counts = dict(s.total)
                numbers = (s.errors, s.terminal, s.active, s.max_concurrent)
            for result, count in counts.items():
                total.add_metric([controller, result], count)
            errors.add_metric([controller], numbers[0])
            terminal.add_metric([controller], numbers[1])
            time.add_metric([controller], *s.time.snapshot())
            active.add_metric([controller], numbers[2])
            max_concurrent.add_metric([controller], numbers[3])
        return list(families)


def _families() -> tuple[
    CounterMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    HistogramMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
]:
    labels = ["controller"]
    return (
        CounterMetricFamily(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            labels=[*labels, "result"],
        ),
        CounterMetricFamily(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            labels=labels,
        ),
        CounterMetricFamily(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            labels=labels,
        ),
        HistogramMetricFamily(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            labels=labels,
        ),
        GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels=labels,
        ),
        GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels=labels,
        ),
    )


_collector_for = registered(_ReconcileCollector)


class ReconcileMetrics:
    """The series of one controller. Every result label starts at zero, as
    controller-runtime initialises them, so a rate() over a fresh
    controller is 0 rather than absent."""

    def __init__(self, controller: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.controller = controller
        self._series = _collector_for(registry).series(controller)

    def set_max_concurrent_reconciles(self, workers: int) -> None:
        self._series.max_concurrent = workers  # one store: atomic under the GIL

    def started(self) -> None:
        """A worker entered a reconcile (``active_workers`` up)."""
        s = self._series
        with s.lock:
            s.active += 1

    def ended(self) -> None:
        """A worker left a reconcile (``active_workers`` down)."""
        s = self._series
        with s.lock:
            s.active -= 1

    def observe(
        self, result: ResultLabel, duration: float, *, terminal: bool = False, ended: bool = False
    ) -> None:
        """Count one reconcile of ``duration`` seconds that ended in ``result``;
        ``ended``: also :meth:`ended`, under the same lock (the runner's path)."""
        s = self._series
        with s.lock:
            s.total[result] += 1
            if result == "error":
                s.errors += 1
                if terminal:
                    s.terminal += 1
            s.time.observe_locked(duration)
            if ended:
                s.active -= 1
