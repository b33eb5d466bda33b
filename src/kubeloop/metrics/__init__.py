"""Metrics and health for a running controller.

::

    from kubeloop.metrics import ControllerMetrics, MetricsServer

    server = MetricsServer(":8080")                     # /metrics, /healthz, /readyz
    server.add_readiness_check("informer-networks", informer.has_synced)
    server.start()
    metrics = ControllerMetrics("networks")
    with metrics.reconcile():
        sync_handler(key)

- :class:`MetricsServer` (:mod:`kubeloop.metrics.server`): one small threaded
  HTTP server for Prometheus scrapes and the kubelet's probes.
- :class:`HealthChecks` (:mod:`kubeloop.metrics.health`): named checks and the
  ``[+]name ok`` / ``[-]name failed`` report.
- :class:`ControllerMetrics` (:mod:`kubeloop.metrics.controller_metrics`):
  ``kubeloop_reconcile_total{controller,result}``,
  ``kubeloop_reconcile_errors_total{controller}``,
  ``kubeloop_reconcile_duration_seconds{controller}``, and the leader gauge
  ``leader_election_master_status{name}`` through ``.leader``.

Workqueue metrics (``workqueue_*``) come from
:class:`kubeloop.workqueue.PrometheusMetricsProvider` into the same registry.
"""

from kubeloop.metrics.controller_metrics import RECONCILE_BUCKETS, ControllerMetrics
from kubeloop.metrics.health import Check, HealthChecks
from kubeloop.metrics.server import MetricsServer, parse_bind_address

__all__ = [
    "RECONCILE_BUCKETS",
    "Check",
    "ControllerMetrics",
    "HealthChecks",
    "MetricsServer",
    "parse_bind_address",
]
