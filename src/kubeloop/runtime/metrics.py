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
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from kubeloop._prometheus import PerRegistry

__all__ = ["RECONCILE_TIME_BUCKETS", "ReconcileMetrics", "ResultLabel"]

ResultLabel = Literal["success", "error", "requeue", "requeue_after"]

#: controller-runtime's buckets: 5 ms to a minute, dense below a second.
RECONCILE_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)

_RESULTS: tuple[ResultLabel, ...] = ("success", "error", "requeue", "requeue_after")


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self.errors = Counter(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.terminal = Counter(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            registry=registry,
            buckets=RECONCILE_TIME_BUCKETS,
        )
        self.active = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=registry,
        )
        self.max_concurrent = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=registry,
        )


_families_for = PerRegistry(_Families)


class ReconcileMetrics:
    """The series of one controller. Every result label starts at zero, as
    controller-runtime initialises them, so a rate() over a fresh
    controller is 0 rather than absent."""

    def __init__(self, controller: str, registry: CollectorRegistry = REGISTRY) -> None:
        families = _families_for(registry)
        self.controller = controller
        self._total = {r: families.total.labels(controller, r) for r in _RESULTS}
        self._errors = families.errors.labels(controller)
        self._terminal = families.terminal.labels(controller)
        self._time = families.time.labels(controller)
        self.active_workers = families.active.labels(controller)
        self._max_concurrent = families.max_concurrent.labels(controller)

    def set_max_concurrent_reconciles(self, workers: int) -> None:
        self._max_concurrent.set(workers)

    def observe(self, result: ResultLabel, duration: float, *, terminal: bool = False) -> None:
        """Count one reconcile of ``duration`` seconds that ended in ``result``."""
        self._total[result].inc()
        if result == "error":
            self._errors.inc()
            if terminal:
                self._terminal.inc()
        self._time.observe(duration)
