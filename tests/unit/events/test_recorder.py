"""The recorder: what ``eventf`` makes of its arguments (client-go
tools/events event_recorder_test.go TestEventf), the bounded queue that
never blocks a caller, the writer thread's retries, its timers on the
recorder's clock, and the choice of API at start."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.client import APIResource, Client
from kubeloop.clock import FakeClock
from kubeloop.errors import Invalid, NotFound, TransportError
from kubeloop.events import FINISH_TIME, EventRecorder

from .helpers import NODE, POD, POD_REF, FakeSink


def recorder(sink: FakeSink, clock: FakeClock | None = None, **kw: Any) -> EventRecorder:
    return EventRecorder(
        None, "c1", host="host1", sink=sink, clock=clock or FakeClock(), retry_interval=0.0, **kw
    )


def failed_once(sink: FakeSink) -> tuple[EventRecorder, FakeClock]:
    """A started recorder on a fake clock that has written one Warning."""
    clock = FakeClock()
    r = recorder(sink, clock)
    r.start()
    r.event(POD, "Warning", "Failed", "boom")
    settle(clock)
    return r, clock


def settle(clock: FakeClock) -> None:
    """Return once the writer has handled everything queued and waits again."""
    clock.step(0)
    assert clock.wait_for_waiters(1)


def test_eventf() -> None:
    sink = FakeSink()
    r = recorder(sink)
    r.start()
    r.eventf(POD, None, "Normal", "Started", "starting", "Pod started")
    r.eventf(POD, NODE, "Warning", "FailedScheduling", "scheduling", "on %s: %s", "node1", "full")
    r.stop()
    normal, warning = (c[2] for c in sink.calls)
    assert normal == {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": normal["metadata"]["name"], "namespace": "baz"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "c1",
        "reportingInstance": "c1-host1",
        "action": "starting",
        "reason": "Started",
        "regarding": POD_REF,
        "note": "Pod started",
        "type": "Normal",
    }
    assert normal["metadata"]["name"] == f"foo.{1704067200 * 10**9:x}"
    assert warning["related"] == {"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": "n1"}
    assert warning["note"] == "on node1: full"
    assert warning["metadata"]["name"] != normal["metadata"]["name"]


def test_a_note_that_does_not_fit_its_arguments_is_kept() -> None:
    sink = FakeSink()
    r = recorder(sink)
    r.start()
    r.eventf(POD, None, "Normal", "R", "a", "%d items", "many")
    r.stop()
    assert sink.only()["note"] == "%d items ('many',)"


def test_event_records_with_the_reason_as_action() -> None:
    sink = FakeSink()
    r = recorder(sink)
    r.start()
    r.event(POD, "Normal", "Created", "made it")
    r.stop()
    assert sink.only()["action"] == "Created"


def test_an_unsupported_type_or_an_object_without_metadata_is_not_recorded() -> None:
    r = recorder(FakeSink())
    r.event(POD, "Error", "Created", "no such type")
    r.event(object(), "Normal", "Created", "no metadata")
    assert r._queue.qsize() == 0


def test_a_long_note_is_cut_to_1024_bytes_at_a_character_boundary() -> None:
    sink = FakeSink()
    r = recorder(sink)
    r.start()
    r.event(POD, "Warning", "Failed", "é" * 1000)
    r.stop()
    note = sink.only()["note"]
    assert note == "é" * 512 and len(note.encode()) == 1024


def test_an_object_name_that_is_no_valid_event_name_gets_a_uuid() -> None:
    sink = FakeSink()
    r = recorder(sink)
    r.start()
    r.event({"kind": "Node", "name": "Capital", "apiVersion": "v1"}, "Normal", "R", "n")
    r.stop()
    name = sink.only()["metadata"]["name"]
    assert len(name) == 36 and name.count("-") == 4
    assert sink.only()["metadata"]["namespace"] == "default"


def test_a_full_queue_drops_and_counts_without_blocking_the_caller() -> None:
    registry = CollectorRegistry()
    r = recorder(FakeSink(), registry=registry)  # not started: nothing drains the queue
    t0 = time.monotonic()
    for i in range(1010):
        r.event(POD, "Normal", f"R{i}", "n")
    assert time.monotonic() - t0 < 5.0
    assert r._queue.qsize() == 1000
    assert r.dropped == 10
    labels = {"controller": "c1", "reason": "queue_full"}
    assert registry.get_sample_value("kubeloop_events_dropped_total", labels) == 10


def test_stop_writes_what_is_queued_and_the_counts_not_yet_written() -> None:
    sink = FakeSink()
    r = recorder(sink)
    for _ in range(5):
        r.event(POD, "Normal", "Same", "again")
    r.start()
    r.stop()
    assert sink.only()["series"]["count"] == 5
    assert r.dropped == r.filtered == r.failed == 0


def test_write_event_error_transport_errors_are_retried_refusals_are_not() -> None:
    clock = FakeClock()
    sink = FakeSink()
    r = recorder(sink, clock, max_tries=3)
    sink.failures = [TransportError("refused"), TransportError("refused")]
    r.start()
    r.event(POD, "Normal", "Retried", "n")
    settle(clock)  # retried before stop: once stopping, failed writes are not
    assert [c[0] for c in sink.calls] == ["create"] * 3
    assert len(sink.events) == 1
    sink.failures = [TransportError("refused")] * 3
    r.event(POD, "Normal", "GivenUp", "n")
    settle(clock)
    assert len(sink.calls) == 6 and r.failed == 1

    sink.failures = [Invalid(422, "Invalid", "bad")]
    r.event(POD, "Normal", "Refused", "n")
    r.stop()
    assert len(sink.calls) == 7 and len(sink.events) == 1
    assert r.failed == 2


def test_the_series_timers_run_on_the_recorders_clock() -> None:
    clock = FakeClock()
    sink = FakeSink()
    r = recorder(sink, clock)
    r.start()
    try:
        for _ in range(5):
            r.event(POD, "Normal", "Same", "again")
        settle(clock)
        assert sink.only()["series"]["count"] == 2
        clock.step(FINISH_TIME)  # the first check: quiet for 6 minutes, not more
        settle(clock)
        assert sink.only()["series"]["count"] == 2
        clock.step(FINISH_TIME)
        settle(clock)
        assert sink.only()["series"]["count"] == 5
    finally:
        r.stop()


def test_spam_over_budget_is_counted() -> None:
    registry = CollectorRegistry()
    sink = FakeSink()
    r = recorder(sink, registry=registry)
    r.start()
    for i in range(30):
        r.event(POD, "Normal", f"R{i}", "n")
    r.stop()
    assert len(sink.events) == 25 and r.filtered == 5
    labels = {"controller": "c1", "reason": "spam_filter"}
    assert registry.get_sample_value("kubeloop_events_dropped_total", labels) == 5


# -- core/v1 -------------------------------------------------------------------------------
def test_core_v1_repeats_patch_count_and_last_timestamp() -> None:
    sink = FakeSink("v1")
    r, clock = failed_once(sink)
    clock.step(90)
    r.event(POD, "Warning", "Failed", "boom")
    r.stop()
    event = sink.only()
    assert event["involvedObject"]["name"] == "foo" and event["source"] == {
        "component": "c1",
        "host": "host1",
    }
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (
        2,
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:01:30Z",
    )
    assert sink.calls[-1][2] == {"count": 2, "lastTimestamp": "2024-01-01T00:01:30Z"}


def test_update_expired_event() -> None:
    sink = FakeSink("v1")
    r, _ = failed_once(sink)
    sink.events.clear()  # its TTL ran out
    r.event(POD, "Warning", "Failed", "boom")
    r.stop()
    assert [c[0] for c in sink.calls] == ["create", "patch", "create"]
    assert sink.only()["count"] == 2


def test_core_v1_repeats_over_budget_still_count() -> None:
    sink = FakeSink("v1")
    r = recorder(sink)
    r.start()
    for _ in range(30):
        r.event(POD, "Normal", "Same", "again")
    r.stop()
    assert sink.only()["count"] == 25 and r.filtered == 5


# -- the choice of API ---------------------------------------------------------------------------
class _DiscoveryClient:
    def __init__(self, served: list[str] | Exception) -> None:
        self.served = served
        self.asked: list[str] = []

    def server_resources(self, api_version: str, *, refresh: bool = False) -> list[APIResource]:
        self.asked.append(api_version)
        if isinstance(self.served, Exception):
            raise self.served
        return [APIResource(api_version, name, "Event", True, ("create",)) for name in self.served]


@pytest.mark.parametrize(
    ("served", "chosen"),
    [
        (["events"], "events.k8s.io/v1"),
        ([], "v1"),
        (NotFound(404, "NotFound", "the server could not find the requested resource"), "v1"),
        (TransportError("refused"), "v1"),
    ],
)
def test_the_api_is_chosen_once_from_discovery_at_start(
    served: list[str] | Exception, chosen: str
) -> None:
    client = _DiscoveryClient(served)
    r = EventRecorder(cast(Client, client), "c1", clock=FakeClock())
    assert r.api_version is None
    r._sink = FakeSink(chosen)  # write nowhere, whatever was chosen
    r.start()
    r.stop()
    assert r.api_version == chosen and client.asked == ["events.k8s.io/v1"]


def test_stop_without_start_and_twice_is_quiet_and_later_events_are_dropped() -> None:
    registry = CollectorRegistry()
    r = recorder(FakeSink(), registry=registry)
    r.stop()
    r.stop()
    r.event(POD, "Normal", "Late", "after stop")
    assert r.dropped == 1
    labels = {"controller": "c1", "reason": "shutdown"}
    assert registry.get_sample_value("kubeloop_events_dropped_total", labels) == 1
    assert not any(t.name == "kubeloop-event-recorder" for t in threading.enumerate())
