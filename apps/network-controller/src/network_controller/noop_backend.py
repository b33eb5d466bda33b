"""The ``noop`` backend: networks in a dict in memory, no I/O at all.

For benchmarks (``bench/run.py``), where every peer controller compares the
object from its cache with the same kind of in-memory backend, so that what is
measured is the controller machinery (list, watch, cache, queue, workers) and
not the mock backend's JSON file writes. State is lost when the process ends.
"""

from __future__ import annotations

import itertools

from kubeloop.runtime import YieldingLock
from network_controller.backend import ActualNetwork, DesiredNetwork


class NoopBackend:
    def __init__(self) -> None:
        # Guards _networks: workers call in from several threads, twice per
        # reconcile, so it yields rather than convoys (see YieldingLock).
        self._lock = YieldingLock()
        self._networks: dict[str, ActualNetwork] = {}
        # Network IDs from a counter: uuid4 (os.urandom) showed up in profiles.
        self._ids = itertools.count(1)

    def get(self, key: str) -> ActualNetwork | None:
        with self._lock:
            return self._networks.get(key)

    def list(self) -> list[ActualNetwork]:
        with self._lock:
            return list(self._networks.values())

    def create(self, desired: DesiredNetwork) -> ActualNetwork:
        return self._put(desired, f"noop-{next(self._ids)}")

    def update(self, desired: DesiredNetwork) -> ActualNetwork:
        with self._lock:
            old = self._networks.get(desired.key)
        return self._put(desired, old.id if old else f"noop-{next(self._ids)}")

    def delete(self, key: str, uid: str = "") -> None:
        with self._lock:
            actual = self._networks.get(key)
            if actual is not None and not (uid and actual.uid and actual.uid != uid):
                del self._networks[key]

    def _put(self, desired: DesiredNetwork, network_id: str) -> ActualNetwork:
        actual = ActualNetwork(
            key=desired.key,
            id=network_id,
            cidr=desired.cidr,
            gateway=desired.gateway,
            uid=desired.uid,
        )
        with self._lock:
            self._networks[desired.key] = actual
        return actual
