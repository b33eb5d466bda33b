"""The Lease spec <-> record mapping and MicroTime formatting (the Lease
round trip itself is in tests/integration/leaderelection)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from kubeloop.leaderelection import LeaderElectionRecord
from kubeloop.leaderelection.lease_lock import lease_spec_to_record, record_to_lease_spec
from kubeloop.leaderelection.resource_lock import format_micro_time, parse_micro_time


def test_micro_time_is_rfc3339_utc_with_six_fraction_digits() -> None:
    t = datetime(2024, 5, 1, 14, 0, 0, 1234, tzinfo=timezone(timedelta(hours=2)))
    assert format_micro_time(t) == "2024-05-01T12:00:00.001234Z"
    assert parse_micro_time("2024-05-01T12:00:00.001234Z") == t
    assert parse_micro_time("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_record_round_trips_through_a_lease_spec() -> None:
    t = datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)
    record = LeaderElectionRecord("me", 15, t, t + timedelta(seconds=2), 3)
    spec = record_to_lease_spec(record)
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 3,
        "acquireTime": "2024-05-01T12:00:00.000005Z",
        "renewTime": "2024-05-01T12:00:02.000005Z",
    }
    assert lease_spec_to_record(spec) == record


def test_an_empty_lease_spec_reads_as_an_unheld_record() -> None:
    assert lease_spec_to_record({}) == LeaderElectionRecord()
