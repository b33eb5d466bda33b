"""MockBackend: state in networks.json (atomic), operations.log, fault injection."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from network_controller import mock_backend
from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork
from network_controller.mock_backend import MockBackend

WAIT = 10.0  # seconds: generous upper bound for anything awaited


def desired(name: str, cidr: str = "10.0.0.0/24", gateway: str = "10.0.0.1") -> DesiredNetwork:
    return DesiredNetwork(key=f"ns/{name}", cidr=cidr, gateway=gateway, uid=f"uid-{name}")


def operations(backend: MockBackend) -> list[dict[str, Any]]:
    try:
        lines = backend.ops_path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines]


@pytest.fixture
def backend(tmp_path: Path) -> MockBackend:
    return MockBackend(tmp_path / "state")


def test_create_update_delete_round_trip_through_the_state_file(backend: MockBackend) -> None:
    assert backend.get("ns/a") is None
    assert backend.list() == []
    created = backend.create(desired("a"))
    assert created == ActualNetwork("ns/a", created.id, "10.0.0.0/24", "10.0.0.1", "uid-a")
    assert created.id
    assert backend.get("ns/a") == created

    updated = backend.update(desired("a", "10.1.0.0/16", "10.1.0.1"))
    assert updated.id == created.id  # in place, not recreated
    assert (updated.cidr, updated.gateway) == ("10.1.0.0/16", "10.1.0.1")
    on_disk = json.loads(backend.path.read_text())
    assert on_disk == {
        "ns/a": {"id": created.id, "cidr": "10.1.0.0/16", "gateway": "10.1.0.1", "uid": "uid-a"}
    }

    backend.delete("ns/a")
    assert backend.get("ns/a") is None
    backend.delete("ns/a")  # deleting what is gone is not an error


def test_a_restarted_backend_finds_what_it_left(tmp_path: Path) -> None:
    first = MockBackend(tmp_path)
    made = first.create(desired("a"))
    assert MockBackend(tmp_path).list() == [made]


def test_out_of_band_edits_are_seen_by_the_next_call(backend: MockBackend) -> None:
    backend.create(desired("a"))
    state = json.loads(backend.path.read_text())
    state["ns/a"]["gateway"] = "10.0.0.99"
    state["ns/ghost"] = {"id": "x", "cidr": "10.7.0.0/16", "gateway": "10.7.0.1"}
    backend.path.write_text(json.dumps(state))
    drifted = backend.get("ns/a")
    assert drifted is not None and drifted.gateway == "10.0.0.99"
    assert {n.key for n in backend.list()} == {"ns/a", "ns/ghost"}


def test_a_corrupt_state_file_is_a_backend_error_not_a_crash(backend: MockBackend) -> None:
    backend.path.write_text('{"ns/a": {')
    with pytest.raises(BackendError, match="corrupt"):
        backend.list()


def test_operations_log_has_one_json_line_per_change(backend: MockBackend) -> None:
    before = time.time()
    backend.create(desired("a"))
    backend.update(desired("a", gateway="10.0.0.2"))
    backend.delete("ns/a")
    backend.delete("ns/a")  # nothing to delete: nothing happened, nothing logged
    ops = operations(backend)
    assert [(o["op"], o["key"]) for o in ops] == [
        ("create", "ns/a"),
        ("update", "ns/a"),
        ("delete", "ns/a"),
    ]
    assert ops[1]["gateway"] == "10.0.0.2"
    assert all(o["pid"] == os.getpid() and before <= o["t"] <= time.time() for o in ops)


def test_a_failed_rename_leaves_the_previous_state_whole(
    backend: MockBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write is to a temporary file renamed over the old one: a crash
    # before the rename (here: the rename failing) must not tear the state.
    kept = backend.create(desired("a"))

    def crash(src: object, dst: object) -> None:
        raise OSError("crashed before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        backend.create(desired("b"))
    monkeypatch.undo()
    assert backend.list() == [kept]
    assert [o["key"] for o in operations(backend)] == ["ns/a"]


def test_readers_never_see_a_torn_state_file(backend: MockBackend) -> None:
    done = threading.Event()
    errors: list[Exception] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                backend.list()
                reads += 1
            except Exception as err:
                errors.append(err)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(150):
            backend.create(desired(f"n{i}"))
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert reads > 0
    assert len(backend.list()) == 150
    assert [p.name for p in backend.dir.iterdir() if ".tmp" in p.name] == []


def test_two_backends_on_one_state_dir_lose_no_write(tmp_path: Path) -> None:
    # Two replicas (here two instances, each with its own thread lock) share
    # the file through flock: no read-modify-write overwrites the other's.
    replicas = [MockBackend(tmp_path), MockBackend(tmp_path)]

    def create_many(backend: MockBackend, prefix: str) -> None:
        for i in range(40):
            backend.create(desired(f"{prefix}{i}"))

    threads = [
        threading.Thread(target=create_many, args=(b, p))
        for b, p in zip(replicas, ["a", "b"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(MockBackend(tmp_path).list()) == 80
    assert len(operations(replicas[0])) == 80


def test_fail_rate_one_fails_every_mutating_call_and_changes_nothing(tmp_path: Path) -> None:
    healthy = MockBackend(tmp_path)
    existing = healthy.create(desired("a"))
    failing = MockBackend(tmp_path, fail_rate=1.0)
    with pytest.raises(BackendError, match=r"injected failure: create ns/b"):
        failing.create(desired("b"))
    with pytest.raises(BackendError, match=r"injected failure: update ns/a"):
        failing.update(desired("a", gateway="10.0.0.2"))
    with pytest.raises(BackendError, match=r"injected failure: delete ns/a"):
        failing.delete("ns/a")
    # Reads never fail: the controller can always see what is there.
    assert failing.list() == [existing]
    assert failing.get("ns/a") == existing
    assert len(operations(failing)) == 1


def test_fail_rate_fails_about_that_fraction_of_calls(backend: MockBackend) -> None:
    backend.fail_rate = 0.5
    failures = 0
    for i in range(400):
        try:
            backend.create(desired(f"n{i}"))
        except BackendError:
            failures += 1
    assert 120 < failures < 280  # binomial(400, 0.5): outside is ~1e-19
    assert len(backend.list()) == 400 - failures


def test_fail_keys_file_fails_only_the_listed_keys_until_it_changes(
    backend: MockBackend,
) -> None:
    backend.fail_keys_path.write_text("ns/down\nns/other\n")
    with pytest.raises(BackendError, match="ns/down is unavailable"):
        backend.create(desired("down"))
    assert backend.create(desired("up")).key == "ns/up"
    backend.fail_keys_path.write_text("ns/other\n")  # the outage ends
    assert backend.create(desired("down")).key == "ns/down"


class _HeldSleep:
    """Stands in for ``time.sleep`` in network_controller.mock_backend: it
    records how long each call asked to sleep and holds the caller until
    released, so a test looks at a slow call in flight on no real clock."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.holding.set()
        self.release.wait(WAIT)


def test_delay_slows_mutating_calls_after_logging_before_changing(
    backend: MockBackend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = _HeldSleep()
    monkeypatch.setattr(mock_backend, "time", SimpleNamespace(time=time.time, sleep=sleep))
    backend.delay = 0.3
    caplog.set_level(logging.INFO, logger="network_controller.backend")
    worker = threading.Thread(target=backend.create, args=(desired("slow"),), daemon=True)
    worker.start()
    try:
        assert sleep.holding.wait(WAIT), "create never slept"
        # In flight: logged, not yet in the state (what a SIGTERM test needs).
        assert "Creating network ns/slow" in caplog.text
        assert backend.get("ns/slow") is None
        # Reads are not slowed: they answer while the write is held, unslept.
        assert backend.list() == []
        assert sleep.asked == [0.3]
    finally:
        sleep.release.set()
        worker.join(WAIT)
    assert not worker.is_alive()
    created = backend.get("ns/slow")
    assert created is not None
    # Every mutating call takes the delay once; reads never do.
    backend.update(desired("slow", gateway="10.0.0.2"))
    backend.delete("ns/slow")
    assert backend.list() == []
    assert sleep.asked == [0.3, 0.3, 0.3]


def test_reads_are_parsed_once_until_the_file_changes(
    backend: MockBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.create(desired("a"))
    parses = 0
    real_loads = json.loads

    def counting_loads(text: str) -> Any:
        nonlocal parses
        parses += 1
        return real_loads(text)

    monkeypatch.setattr(mock_backend.json, "loads", counting_loads)
    for _ in range(5):
        assert backend.get("ns/a") is not None
    assert parses == 0  # the state this instance wrote is the file's

    # Another replica's write, and an edit out of band, are both seen.
    MockBackend(backend.dir).create(desired("b"))
    assert backend.get("ns/b") is not None
    state = real_loads(backend.path.read_text())
    state["ns/a"]["cidr"] = "10.9.0.0/24"
    edit = backend.path.with_suffix(".edit")
    edit.write_text(json.dumps(state))
    os.replace(edit, backend.path)
    got = backend.get("ns/a")
    assert got is not None and got.cidr == "10.9.0.0/24"
    # One each: the other replica's read before its write, ours after it,
    # ours after the edit.
    assert parses == 3


def test_a_failed_write_leaves_the_state_it_had(
    backend: MockBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.create(desired("a"))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mock_backend.os, "replace", refuse)
    with pytest.raises(OSError):
        backend.create(desired("b"))
    assert backend.get("ns/b") is None
    assert [n.key for n in backend.list()] == ["ns/a"]


def test_a_delete_with_the_uid_of_a_former_network_leaves_a_recreated_one(
    backend: MockBackend,
) -> None:
    """Sharding by uid: the deletion of the old Network and the creation of
    one re-created under its name can run on two replicas at once; the
    delete is a compare-and-delete on the uid, under the state file's lock."""
    backend.create(desired("a"))
    backend.update(DesiredNetwork("ns/a", "10.0.0.0/24", "10.0.0.1", uid="uid-new"))
    backend.delete("ns/a", uid="uid-a")  # the old incarnation's delete
    assert backend.get("ns/a") is not None
    assert [op["op"] for op in operations(backend)].count("delete") == 0
    backend.delete("ns/a", uid="uid-new")
    assert backend.get("ns/a") is None
    backend.create(desired("b"))
    backend.delete("ns/b")  # no uid known (say, an orphan a sweep found): deleted
    assert backend.get("ns/b") is None
