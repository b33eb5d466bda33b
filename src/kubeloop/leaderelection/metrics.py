"""Leader election metrics under the names Kubernetes components export.

::

    config = LeaderElectionConfig(lock, callbacks, name="network-controller",
                                  metrics=PrometheusLeaderMetrics(registry))

- ``leader_election_master_status{name}``: 1 while this process leads, else 0
  (the gauge client-go's leaderelection reports through component-base).
- ``leader_election_slowpath_total{name}``: renewals that had to read the
  lock first because the optimistic update failed (a sign of contention or of
  someone else writing the lock).

The elector talks to a :class:`LeaderMetrics`, not to ``prometheus_client``,
so tests and other metrics systems can plug in; the default does nothing.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from kubeloop._prometheus import PerRegistry

__all__ = ["NOOP_LEADER_METRICS", "LeaderMetrics", "NoopLeaderMetrics", "PrometheusLeaderMetrics"]


class LeaderMetrics(Protocol):
    """client-go's ``leaderMetricsAdapter``; ``name`` is the election's name."""

    def leader_on(self, name: str) -> None: ...
    def leader_off(self, name: str) -> None: ...
    def slowpath_exercised(self, name: str) -> None: ...


class NoopLeaderMetrics:
    """Records nothing."""

    def leader_on(self, name: str) -> None:
        pass

    def leader_off(self, name: str) -> None:
        pass

    def slowpath_exercised(self, name: str) -> None:
        pass


NOOP_LEADER_METRICS = NoopLeaderMetrics()


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, "
            "0 indicates backup, 1 indicates master. 'name' is the string used to "
            "identify the lease.",
            ["name"],
            registry=registry,
        )
        self.slowpath = Counter(
            "leader_election_slowpath",  # exported as leader_election_slowpath_total
            "Total number of slow path exercised in renewing leader leases. 'name' is "
            "the string used to identify the lease.",
            ["name"],
            registry=registry,
        )


# Every PrometheusLeaderMetrics on one registry shares one set.
_families_for = PerRegistry(_Families)


class PrometheusLeaderMetrics:
    """Exports the leader metrics into ``registry`` (the default one unless given)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._families = _families_for(registry)

    def leader_on(self, name: str) -> None:
        self._families.status.labels(name).set(1)

    def leader_off(self, name: str) -> None:
        self._families.status.labels(name).set(0)

    def slowpath_exercised(self, name: str) -> None:
        self._families.slowpath.labels(name).inc()
