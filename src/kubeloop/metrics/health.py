"""Named health checks and their report, in the style of the Kubernetes components.

::

    ready = HealthChecks("readyz")
    ready.add("informer-networks", informer.has_synced)
    ok, body = ready.run(verbose=True)
    # (False, "[-]informer-networks failed\\nreadyz check failed\\n")

A check is a function returning ``True`` when healthy; one that raises counts
as failed (and is logged). The report lists every check as ``[+]name ok`` or
``[-]name failed`` and ends with ``<kind> check passed`` or ``failed``, as
kube-apiserver's ``/readyz?verbose`` does, so the same eyes and scripts read
both. Why the reason of a failure is not in the body: the endpoint is usually
unauthenticated, so it says *which* check failed and the log says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Check", "HealthChecks"]

_log = logging.getLogger(__name__)

Check = Callable[[], bool]


class HealthChecks:
    """An ordered set of named checks; all must pass."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        # Guards _checks (added while the server may be running them).
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Add a check; a name already present is replaced."""
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"{self.kind}: check name {name!r} must be non-empty, without spaces")
        with self._lock:
            self._checks[name] = check

    def remove(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def failing(self) -> list[str]:
        """The names of the checks that fail now, in the order they were added."""
        return [name for name, ok in self._results() if not ok]

    def run(self, verbose: bool = False) -> tuple[bool, str]:
        """Run every check; return whether all passed and the report to serve."""
        results = self._results()
        healthy = all(ok for _, ok in results)
        if healthy and not verbose:
            return True, "ok"
        lines = [f"[+]{name} ok" if ok else f"[-]{name} failed" for name, ok in results]
        lines.append(f"{self.kind} check {'passed' if healthy else 'failed'}")
        return healthy, "\n".join(lines) + "\n"

    def _results(self) -> list[tuple[str, bool]]:
        with self._lock:
            checks = list(self._checks.items())
        return [(name, self._run_one(name, check)) for name, check in checks]

    def _run_one(self, name: str, check: Check) -> bool:
        try:
            ok = bool(check())
        except Exception:
            _log.exception("%s check %s raised", self.kind, name)
            return False
        if not ok:
            _log.info("%s check %s failed", self.kind, name)
        return ok
