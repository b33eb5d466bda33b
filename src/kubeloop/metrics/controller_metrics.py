"""Reconcile metrics for a controller, after controller-runtime's.

::

    metrics = ControllerMetrics("networks")
    with metrics.reconcile():          # success, or error if it raises
        sync_handler(key)
    metrics.observe(0.012, error=True) # when the error is a return value, not a raise

Families (``controller`` is the label, as in controller-runtime, whose
``controller_runtime_*`` names these follow under a ``kubeloop_`` prefix):

- ``kubeloop_reconcile_total{controller, result}``: reconciles by result,
  ``success`` or ``error``.
- ``kubeloop_reconcile_errors_total{controller}``: failed reconciles (the
  same count as ``result="error"``, kept because dashboards alert on it).
- ``kubeloop_reconcile_duration_seconds{controller}``: a histogram of how long
  each reconcile took, successful or not.

The leader gauge is ``leader_election_master_status{name}``, set by the
elector when its config has ``metrics=metrics.leader`` (see
:class:`kubeloop.leaderelection.PrometheusLeaderMetrics`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from kubeloop._prometheus import PerRegistry
from kubeloop.leaderelection.metrics import PrometheusLeaderMetrics

__all__ = ["RECONCILE_BUCKETS", "ControllerMetrics"]

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; reconciles call the API and a backend, so milliseconds to a minute."""


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "kubeloop_reconcile",  # exported as kubeloop_reconcile_total
            "Total number of reconciliations per controller, by result (success or error).",
            ["controller", "result"],
            registry=registry,
        )
        self.errors = Counter(
            "kubeloop_reconcile_errors",
            "Total number of reconciliation errors per controller.",
            ["controller"],
            registry=registry,
        )
        self.duration = Histogram(
            "kubeloop_reconcile_duration_seconds",
            "Length of time per reconciliation per controller.",
            ["controller"],
            registry=registry,
            buckets=RECONCILE_BUCKETS,
        )


# Controllers reporting into one registry share one set, told apart by label.
_families_for = PerRegistry(_Families)


class ControllerMetrics:
    """The reconcile series of one controller, in ``registry`` (the default one unless given)."""

    def __init__(self, name: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.name = name
        families = _families_for(registry)
        # Children bound once: the hot path does no label lookup.
        self._success = families.total.labels(name, "success")
        self._error = families.total.labels(name, "error")
        self._errors = families.errors.labels(name)
        self._duration = families.duration.labels(name)
        self.leader = PrometheusLeaderMetrics(registry)
        """Pass as ``LeaderElectionConfig(metrics=...)`` to export the leader gauge."""

    def observe(self, duration: float, error: bool = False) -> None:
        """Record one reconcile that took ``duration`` seconds."""
        if error:
            self._error.inc()
            self._errors.inc()
        else:
            self._success.inc()
        self._duration.observe(duration)

    @contextmanager
    def reconcile(self) -> Iterator[None]:
        """Time the block; it counts as an error if it raises (the exception propagates)."""
        start = time.monotonic()
        try:
            yield
        except BaseException:
            self.observe(time.monotonic() - start, error=True)
            raise
        self.observe(time.monotonic() - start)
