"""events.k8s.io/v1 Events and their series (client-go tools/events:
event_broadcaster_test.go, eventseries_test.go), on a fake sink and clock."""

from __future__ import annotations

import copy

import pytest

from kubeloop.clock import FakeClock
from kubeloop.errors import Invalid, NotFound, ServiceUnavailable, TransportError
from kubeloop.events.series import FINISH_TIME, REFRESH_TIME, SeriesWriter
from kubeloop.events.sink import record_event
from kubeloop.events.spam_filter import EventSourceObjectSpamFilter

from .helpers import NODE, POD, POD_REF, FakeSink, occurrence

MINUTE = 60.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def writer(sink: FakeSink, clock: FakeClock) -> SeriesWriter:
    return SeriesWriter(sink, "eventTest", "eventTest-host", clock=clock)


def run_for(writer: SeriesWriter, clock: FakeClock, seconds: float, every: float = MINUTE) -> None:
    """Let the writer's timers run as its thread would, ``every`` seconds."""
    end = clock.now() + seconds
    while clock.now() < end:
        clock.step(min(every, end - clock.now()))
        writer.tick()


# -- recordEvent (TestRecordEventToSink) ----------------------------------------------
EVENT = {"metadata": {"name": "test", "namespace": "default"}}
ISOMORPHIC = {**EVENT, "series": {"count": 2}}


def test_record_event_to_sink_record_one_event(sink: FakeSink) -> None:
    assert record_event(sink, copy.deepcopy(EVENT), None)[1] is False
    assert sink.only() == EVENT


def test_record_event_to_sink_record_one_event_followed_by_an_isomorphic_one(
    sink: FakeSink,
) -> None:
    record_event(sink, copy.deepcopy(EVENT), None)
    record_event(sink, copy.deepcopy(ISOMORPHIC), {"series": {"count": 2}})
    assert sink.only() == ISOMORPHIC


def test_record_event_to_sink_record_one_isomorphic_event_before_the_original(
    sink: FakeSink,
) -> None:
    record_event(sink, copy.deepcopy(ISOMORPHIC), {"series": {"count": 2}})
    # The original's create finds the Event there: not retried, not changed.
    assert record_event(sink, copy.deepcopy(EVENT), None) == (None, False)
    assert sink.only() == ISOMORPHIC


def test_record_event_to_sink_record_one_isomorphic_event_without_one_already_existing(
    sink: FakeSink,
) -> None:
    record_event(sink, copy.deepcopy(ISOMORPHIC), {"series": {"count": 2}})
    assert [c[0] for c in sink.calls] == ["patch", "create"]
    assert sink.only() == ISOMORPHIC


def test_record_event_retries_transport_errors_not_server_refusals(sink: FakeSink) -> None:
    sink.failures = [ServiceUnavailable(503, "ServiceUnavailable", "down")]
    assert record_event(sink, copy.deepcopy(EVENT), None) == (None, False)
    sink.failures = [TransportError("refused")]
    assert record_event(sink, copy.deepcopy(EVENT), None) == (None, True)


def test_record_event_retries_a_series_whose_create_raced_another(sink: FakeSink) -> None:
    sink.events[("default", "test")] = copy.deepcopy(EVENT)
    sink.failures = [NotFound(404, "NotFound", "")]
    assert record_event(sink, copy.deepcopy(ISOMORPHIC), {"series": {"count": 2}}) == (None, True)


# -- TestEventSeriesf ------------------------------------------------------------------------
def test_event_seriesf(writer: SeriesWriter, sink: FakeSink, clock: FakeClock) -> None:
    assert writer.record(occurrence(clock, related=NODE)) == "written"
    ((kind, name, created),) = sink.calls
    assert kind == "create" and name.startswith("foo.")
    assert "series" not in created
    assert created["regarding"] == POD_REF
    assert created["related"]["name"] == "node1"
    assert created["eventTime"] == "2024-01-01T00:00:00.000000Z"

    clock.step(1.5)
    assert writer.record(occurrence(clock, related=NODE)) == "written"  # isomorphic
    kind, patched_name, patch = sink.calls[-1]
    assert (kind, patched_name) == ("patch", name)
    assert patch == {"series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:01.500000Z"}}

    assert writer.record(occurrence(clock, related=NODE, action="stopped")) == "written"
    kind, _, created = sink.calls[-1]
    assert kind == "create" and "series" not in created


def test_a_new_resource_version_of_the_object_continues_the_series(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    writer.record(occurrence(clock))
    updated = {**POD, "metadata": {**POD["metadata"], "resourceVersion": "8"}}
    assert writer.record(occurrence(clock, regarding=updated)) == "written"
    event = sink.only()
    assert event["series"]["count"] == 2
    assert event["regarding"] == POD_REF  # the first occurrence's reference


def test_an_event_with_another_note_joins_the_series_and_keeps_the_first_note(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    # client-go's getKey: type, action, reason, reporting controller and
    # instance, regarding, related; no note.
    writer.record(occurrence(clock, note="a"))
    writer.record(occurrence(clock, note="b"))
    assert [c[0] for c in sink.calls] == ["create", "patch"]
    event = sink.only()
    assert event["note"] == "a" and event["series"]["count"] == 2


def test_an_event_of_another_type_is_another_event(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    writer.record(occurrence(clock, type="Normal"))
    writer.record(occurrence(clock, type="Warning"))
    assert [c[0] for c in sink.calls] == ["create", "create"]


def test_later_repeats_raise_the_count_in_memory_only(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    for _ in range(2):
        writer.record(occurrence(clock))
    for _ in range(8):
        assert writer.record(occurrence(clock)) == "counted"
    assert len(sink.calls) == 2
    assert sink.only()["series"]["count"] == 2
    (entry,) = writer.cache.values()
    assert entry.event["series"]["count"] == 10


# -- TestFinishSeries ----------------------------------------------------------------------
def test_finish_series(writer: SeriesWriter, sink: FakeSink, clock: FakeClock) -> None:
    for _ in range(10):
        writer.record(occurrence(clock))
    clock.step(9 * MINUTE)
    writer.record(occurrence(clock, reason="nonFinished"))  # a singleton, too young to go
    calls = len(sink.calls)
    writer.finish_series()
    assert len(writer.cache) == 1
    ((kind, _, patch),) = sink.calls[calls:]
    assert kind == "patch"
    assert patch["series"] == {"count": 10, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}


def test_a_quiet_series_gets_its_final_count_at_the_next_6_minute_check(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    writer.record(occurrence(clock))
    for minute in range(4):  # repeats at t = 0, 1, 2, 3 min
        clock.set_time(minute * MINUTE)
        writer.record(occurrence(clock))
    calls = len(sink.calls)
    run_for(writer, clock, FINISH_TIME)  # to t = 9 min; the check at 6 saw 3 quiet minutes
    assert len(sink.calls) == calls
    run_for(writer, clock, FINISH_TIME)  # to t = 15; the check at 12 saw 9
    ((kind, _, patch),) = sink.calls[calls:]
    assert kind == "patch" and patch["series"]["count"] == 5
    assert writer.cache == {}
    writer.record(occurrence(clock))  # the series is over: a new Event
    assert sink.calls[-1][0] == "create"
    assert len(sink.events) == 2


def test_a_singleton_event_is_forgotten_after_6_quiet_minutes(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    writer.record(occurrence(clock))
    run_for(writer, clock, 2 * FINISH_TIME)
    assert writer.cache == {}
    writer.record(occurrence(clock))
    assert [c[0] for c in sink.calls] == ["create", "create"]


# -- TestRefreshExistingEventSeries --------------------------------------------------------------
def test_refresh_existing_event_series(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    for _ in range(10):
        writer.record(occurrence(clock))
    writer.refresh_existing_series()
    assert sink.calls[-1][2]["series"]["count"] == 10
    assert len(writer.cache) == 1


def test_refresh_existing_event_series_keeps_a_series_the_server_refused(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    for _ in range(10):
        writer.record(occurrence(clock))
    sink.failures = [Invalid(422, "Invalid", "no")]
    writer.refresh_existing_series()
    assert len(writer.cache) == 1
    assert sink.only()["series"]["count"] == 2


def test_a_continuing_series_is_written_every_30_minutes(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    writer.record(occurrence(clock))
    patches: list[tuple[float, int]] = []
    for _ in range(65):  # a repeat every minute for 65 minutes
        clock.step(MINUTE)
        calls = len(sink.calls)
        writer.tick()
        writer.record(occurrence(clock))
        patches += [(clock.now(), c[2]["series"]["count"]) for c in sink.calls[calls:]]
    # The first repeat's patch, then the refreshes at 30 and 60 minutes; the
    # 6-minute checks never find the series quiet.
    assert patches == [(MINUTE, 2), (REFRESH_TIME, 30), (2 * REFRESH_TIME, 60)]
    assert sink.only()["series"]["count"] == 60


def test_flush_writes_the_counts_not_yet_written(
    writer: SeriesWriter, sink: FakeSink, clock: FakeClock
) -> None:
    for _ in range(7):
        writer.record(occurrence(clock))
    writer.record(occurrence(clock, reason="single"))
    calls = len(sink.calls)
    writer.flush()
    ((_, _, patch),) = sink.calls[calls:]
    assert patch["series"]["count"] == 7
    writer.flush()
    assert len(sink.calls) == calls + 1


# -- with the spam filter ------------------------------------------------------------------------
def test_repeats_of_a_series_take_no_spam_tokens(sink: FakeSink, clock: FakeClock) -> None:
    spam = EventSourceObjectSpamFilter(burst=3, clock=clock)
    writer = SeriesWriter(sink, "c", "c-host", clock=clock, spam_filter=spam)
    outcomes = [writer.record(occurrence(clock)) for _ in range(100)]
    assert outcomes[:2] == ["written", "written"] and set(outcomes[2:]) == {"counted"}
    # One token left: one more distinct event, then the object is over budget.
    assert writer.record(occurrence(clock, reason="other")) == "written"
    assert writer.record(occurrence(clock, reason="third")) == "filtered"
    writer.flush()
    assert len(sink.events) == 2
    assert max(e.get("series", {}).get("count", 1) for e in sink.events.values()) == 100


def test_pod_regarding_is_the_reference_taken_at_the_call(clock: FakeClock) -> None:
    pod = copy.deepcopy(POD)
    occ = occurrence(clock, regarding=pod)
    pod["metadata"]["resourceVersion"] = "8"
    assert occ.reference()["resourceVersion"] == "7"
