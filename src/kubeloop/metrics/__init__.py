"""Metrics and health for a running controller.

::

    from kubeloop.metrics import DelegatingAuthorizer, HealthProbeServer, MetricsServer

    metrics = MetricsServer(":8443", authorizer=DelegatingAuthorizer(client))  # HTTPS, RBAC
    probes = HealthProbeServer(":8081")                  # /healthz, /readyz, no token
    probes.add_readiness_check("informer-networks", informer.has_synced)
    metrics.start(), probes.start()

- :class:`MetricsServer` (:mod:`kubeloop.metrics.server`): ``/metrics`` over
  HTTPS, each scrape's token reviewed by the API server; plain HTTP with
  ``secure=False``.
- :class:`DelegatingAuthorizer` (:mod:`kubeloop.metrics.filters`): the
  TokenReview and SubjectAccessReview, cached (:mod:`kubeloop.metrics.authcache`).
- :class:`HealthProbeServer` (:mod:`kubeloop.metrics.probes`): the kubelet's
  probes on a port of their own.
- :class:`HealthChecks` (:mod:`kubeloop.metrics.health`): named checks and the
  ``[+]name ok`` / ``[-]name failed`` report.

Reconcile metrics under controller-runtime's names come from
:class:`kubeloop.runtime.ReconcileMetrics`, the leader gauge from
:class:`kubeloop.leaderelection.PrometheusLeaderMetrics`, workqueue metrics
(``workqueue_*``) from :class:`kubeloop.workqueue.PrometheusMetricsProvider`,
all into the same registry.
"""

from kubeloop.metrics.authcache import ExpiringLRU
from kubeloop.metrics.filters import Decision, DelegatingAuthorizer, UserInfo
from kubeloop.metrics.health import Check, HealthChecks
from kubeloop.metrics.probes import HealthProbeServer
from kubeloop.metrics.server import Authorizer, MetricsServer, parse_bind_address

__all__ = [
    "Authorizer",
    "Check",
    "Decision",
    "DelegatingAuthorizer",
    "ExpiringLRU",
    "HealthChecks",
    "HealthProbeServer",
    "MetricsServer",
    "UserInfo",
    "parse_bind_address",
]
