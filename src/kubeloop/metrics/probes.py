"""The kubelet's probes on a port of their own, plain HTTP, no token.

::

    probes = HealthProbeServer(":8081")
    probes.add_readiness_check("informers", cache.has_synced)
    probes.add_liveness_check("leaderElection", elector.check)
    probes.start()

- ``GET /healthz`` (and ``/livez``): 200 while the process serves and every
  liveness check passes, else 503.
- ``GET /readyz``: 200 once every readiness check passes (caches synced),
  else 503 naming the failing checks. ``?verbose`` lists every check.

Why a separate server (controller-runtime's ``HealthProbeBindAddress``): the
kubelet probes without credentials, so the probes cannot sit behind the
metrics port's TokenReview; and the metrics must not sit on an
unauthenticated port. The bodies carry check names and nothing else (see
:mod:`kubeloop.metrics.health`), so serving them to anyone gives away nothing.
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qs

from kubeloop.metrics._http import Handler, Serving
from kubeloop.metrics.health import Check, HealthChecks

__all__ = ["HealthProbeServer"]


class HealthProbeServer(Serving):
    """Serves ``/healthz``, ``/livez`` and ``/readyz`` from a background thread."""

    name = "kubeloop-health-probes"
    what = "health probes"

    def __init__(self, bind_address: str = ":8081") -> None:
        super().__init__(bind_address)
        self.liveness = HealthChecks("healthz")
        self.readiness = HealthChecks("readyz")

    def add_readiness_check(self, name: str, check: Check) -> None:
        """``/readyz`` fails until ``check()`` returns True (e.g. ``informer.has_synced``)."""
        self.readiness.add(name, check)

    def add_liveness_check(self, name: str, check: Check) -> None:
        """``/healthz`` fails while ``check()`` returns False (e.g. ``elector.check``)."""
        self.liveness.add(name, check)

    def handle(self, request: Handler, url: SplitResult) -> None:
        params = parse_qs(url.query, keep_blank_values=True)
        if url.path in ("/healthz", "/livez"):
            checks = self.liveness
        elif url.path == "/readyz":
            checks = self.readiness
        else:
            request.reply_text(404, "404 page not found\n")
            return
        healthy, report = checks.run(verbose="verbose" in params)
        request.reply_text(200 if healthy else 503, report)

    def __enter__(self) -> HealthProbeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
