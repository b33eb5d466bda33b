"""Metrics and health for a running controller.

::

    from kubeloop.metrics import MetricsServer

    server = MetricsServer(":8080")                     # /metrics, /healthz, /readyz
    server.add_readiness_check("informer-networks", informer.has_synced)
    server.start()

- :class:`MetricsServer` (:mod:`kubeloop.metrics.server`): one small threaded
  HTTP server for Prometheus scrapes and the kubelet's probes.
- :class:`HealthChecks` (:mod:`kubeloop.metrics.health`): named checks and the
  ``[+]name ok`` / ``[-]name failed`` report.

Reconcile metrics under controller-runtime's names come from
:class:`kubeloop.runtime.ReconcileMetrics`, the leader gauge from
:class:`kubeloop.leaderelection.PrometheusLeaderMetrics`, workqueue metrics
(``workqueue_*``) from :class:`kubeloop.workqueue.PrometheusMetricsProvider`,
all into the same registry.
"""

from kubeloop.metrics.health import Check, HealthChecks
from kubeloop.metrics.server import MetricsServer, parse_bind_address

__all__ = [
    "Check",
    "HealthChecks",
    "MetricsServer",
    "parse_bind_address",
]
