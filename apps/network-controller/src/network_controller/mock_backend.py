"""The "Neutron mock" backend: networks in a JSON file under the state dir.

Every call looks at the file again, so an edit made out of band (drift) is
seen at the next resync, and a restarted controller finds what it left; it
parses it again only when the file changed (another inode, size or mtime),
because at 10,000 networks (the chaos suite's scale run) a parse is 7 ms
and every reconcile reads. Writes go to a temporary file renamed over the
old one, so a SIGKILL never leaves a torn file, and an edit out of band is
seen (a rename makes another inode). Each operation is logged as the reference did and appended to
``operations.log`` (one JSON line each), which tests read to check who did
what and when.

Fault injection, for retry, chaos and shutdown tests (off by default):

- ``fail_rate`` makes that fraction of mutating calls fail with BackendError;
- while ``<state-dir>/fail-keys`` lists a key (one per line), every mutating
  call for that key fails: a targeted outage a test can start and end out of
  band, as it edits ``networks.json`` to make drift;
- ``delay`` makes every mutating call take that many seconds more (after its
  ``[Neutron]`` log line, before the state changes), so that an item can be
  caught in flight.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork

log = logging.getLogger("network_controller.backend")


class MockBackend:
    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        fail_rate: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "networks.json"
        self.ops_path = self.dir / "operations.log"
        self.fail_keys_path = self.dir / "fail-keys"
        self.fail_rate = fail_rate
        self.delay = delay
        self._random = random.Random()
        # Guards read-modify-write of the state file between our threads; the
        # flock below guards it between processes (two controller replicas).
        self._lock = threading.Lock()
        # The state last read or written, under the file's (inode, size,
        # mtime): one tuple, swapped whole. Never mutated: writers copy it.
        self._parsed: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    # -- storage -----------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, open(self.dir / ".lock", "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self) -> dict[str, dict[str, Any]]:
        """The state; callers must not change it (copy it first)."""
        identity = self._identity()
        if identity is None:
            return {}
        parsed = self._parsed
        if parsed is not None and parsed[0] == identity:
            return parsed[1]
        try:
            data = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as err:
            raise BackendError(f"state file {self.path} is corrupt: {err}") from err
        state = data if isinstance(data, dict) else {}
        self._parsed = (identity, state)
        return state

    def _write(self, state: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        # Compact: half the time of indent=1 at 10,000 networks.
        tmp.write_text(json.dumps(state, sort_keys=True, separators=(",", ":")))
        # Taken before the rename (which keeps inode, size and mtime): after
        # it, another replica's write could already be the file we stat.
        st = os.stat(tmp)
        os.replace(tmp, self.path)
        self._parsed = ((st.st_ino, st.st_size, st.st_mtime_ns), state)

    def _record(self, op: str, key: str, **fields: Any) -> None:
        line = json.dumps({"t": time.time(), "pid": os.getpid(), "op": op, "key": key, **fields})
        with open(self.ops_path, "a") as f:
            f.write(line + "\n")

    def _maybe_fail(self, op: str, key: str) -> None:
        """Fault injection for one mutating call, then its simulated latency."""
        if self.fail_rate and self._random.random() < self.fail_rate:
            raise BackendError(f"[Neutron] injected failure: {op} {key}")
        try:
            failing = self.fail_keys_path.read_text().split()
        except FileNotFoundError:
            failing = []
        if key in failing:
            raise BackendError(f"[Neutron] {key} is unavailable ({self.fail_keys_path.name}): {op}")
        if self.delay > 0:
            time.sleep(self.delay)  # simulated latency of a slow backend call

    @staticmethod
    def _actual(key: str, rec: dict[str, Any]) -> ActualNetwork:
        return ActualNetwork(
            key=key,
            id=str(rec.get("id", "")),
            cidr=str(rec.get("cidr", "")),
            gateway=str(rec.get("gateway", "")),
            uid=str(rec.get("uid", "")),
        )

    # -- Backend -----------------------------------------------------------
    def get(self, key: str) -> ActualNetwork | None:
        rec = self._read().get(key)
        return self._actual(key, rec) if isinstance(rec, dict) else None

    def list(self) -> list[ActualNetwork]:
        return [self._actual(k, v) for k, v in self._read().items() if isinstance(v, dict)]

    def create(self, desired: DesiredNetwork) -> ActualNetwork:
        return self._put("create", "Creating", desired)

    def update(self, desired: DesiredNetwork) -> ActualNetwork:
        return self._put("update", "Updating", desired)

    def _put(self, op: str, verb: str, desired: DesiredNetwork) -> ActualNetwork:
        """Create or update: an update keeps the network's id, a create (or an
        update of a network removed out of band) gets a new one."""
        log.info(
            "[Neutron] %s network %s cidr=%s gateway=%s",
            verb,
            desired.key,
            desired.cidr,
            desired.gateway,
        )
        self._maybe_fail(op, desired.key)
        with self._locked():
            state = dict(self._read())
            old = (state.get(desired.key) or {}) if op == "update" else {}
            rec = {
                "id": old.get("id") or str(uuid.uuid4()),
                "cidr": desired.cidr,
                "gateway": desired.gateway,
                "uid": desired.uid,
            }
            state[desired.key] = rec
            self._write(state)
            self._record(op, desired.key, cidr=desired.cidr, gateway=desired.gateway)
        return self._actual(desired.key, rec)

    def delete(self, key: str, uid: str = "") -> None:
        log.info("[Neutron] Deleting network %s", key)
        self._maybe_fail("delete", key)
        with self._locked():  # the check and the delete in one lock: compare-and-delete
            state = dict(self._read())
            rec = state.get(key)
            if rec is None:
                return
            if uid and rec.get("uid") and rec.get("uid") != uid:
                log.info("[Neutron] Network %s is now of uid %s: left in place", key, rec["uid"])
                return
            del state[key]
            self._write(state)
            self._record("delete", key)
