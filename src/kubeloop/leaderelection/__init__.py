"""Leader election on a Lease, after client-go's ``tools/leaderelection``.

::

    lock = LeaseLock(client, "kube-system", "network-controller", identity=pod_name)
    elector = LeaderElector(LeaderElectionConfig(
        lock=lock,
        callbacks=LeaderCallbacks(
            on_started_leading=lambda stop_leading: controller.run(2, stop_leading),
            on_stopped_leading=lambda: log.info("leader election ended"),
        ),
    ))
    elector.run(stop)   # blocks until stop is set or the lease is lost

- :class:`LeaderElectionConfig`: lease 15 s, renew deadline 10 s, retry period
  2 s by default, checked as client-go checks them; :class:`LeaderCallbacks`.
- :class:`LeaderElector`: ``run(stop)``, ``is_leader()``, ``get_leader()``,
  ``check()`` (a liveness check for a stuck renew loop).
- :class:`LeaseLock` on ``coordination.k8s.io/v1`` Leases; :class:`ResourceLock`
  is the interface, :class:`LeaderElectionRecord` what it holds.
- Metrics: ``leader_election_master_status{name}`` and
  ``leader_election_slowpath_total{name}`` via :class:`PrometheusLeaderMetrics`.
- Clocks, real and fake, re-exported from :mod:`kubeloop.clock`.
"""

from kubeloop.clock import REAL_CLOCK, Clock, FakeClock, RealClock
from kubeloop.leaderelection.config import JITTER_FACTOR, LeaderCallbacks, LeaderElectionConfig
from kubeloop.leaderelection.leader_election import LeaderElector
from kubeloop.leaderelection.lease_lock import EventRecorder, LeaseLock
from kubeloop.leaderelection.metrics import (
    NOOP_LEADER_METRICS,
    LeaderMetrics,
    NoopLeaderMetrics,
    PrometheusLeaderMetrics,
)
from kubeloop.leaderelection.resource_lock import LeaderElectionRecord, ResourceLock

__all__ = [
    "JITTER_FACTOR",
    "NOOP_LEADER_METRICS",
    "REAL_CLOCK",
    "Clock",
    "EventRecorder",
    "FakeClock",
    "LeaderCallbacks",
    "LeaderElectionConfig",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaderMetrics",
    "LeaseLock",
    "NoopLeaderMetrics",
    "PrometheusLeaderMetrics",
    "RealClock",
    "ResourceLock",
]
