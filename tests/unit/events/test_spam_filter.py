"""The per-object spam filter (client-go tools/record events_cache_test.go
TestEventSpamFilter, and the budget: burst 25, one more every 300 s)."""

from __future__ import annotations

from kubeloop.clock import FakeClock
from kubeloop.events.spam_filter import (
    DEFAULT_SPAM_BURST,
    DEFAULT_SPAM_QPS,
    EventSourceObjectSpamFilter,
    spam_key,
)

from .helpers import occurrence

POD_B = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "baz"}}


def key(clock: FakeClock, **kw: object) -> tuple[str, ...]:
    return spam_key(occurrence(clock, **kw), "c", "c-host")  # type: ignore[arg-type]


def test_event_spam_filter_reports_spam_if_object_reference_is_the_same() -> None:
    clock = FakeClock()
    spam = EventSourceObjectSpamFilter(burst=1, clock=clock)
    assert not spam.filter(key(clock, reason="original", note="i am first"))
    assert spam.filter(key(clock, reason="duplicate", note="me again"))


def test_event_spam_filter_keys_by_source_object_and_type_only() -> None:
    clock = FakeClock()
    spam = EventSourceObjectSpamFilter(burst=1, clock=clock)
    assert not spam.filter(key(clock))
    assert not spam.filter(key(clock, type="Warning"))
    assert not spam.filter(key(clock, regarding=POD_B))
    assert not spam.filter(spam_key(occurrence(clock), "other", "other-host"))
    assert spam.filter(key(clock, reason="another", action="another", note="another"))


def test_event_spam_filter_allows_a_burst_of_25_then_one_per_300_seconds() -> None:
    clock = FakeClock()
    spam = EventSourceObjectSpamFilter(clock=clock)
    assert (DEFAULT_SPAM_BURST, DEFAULT_SPAM_QPS) == (25, 1 / 300)
    passed = sum(not spam.filter(key(clock)) for _ in range(100))
    assert passed == 25
    clock.step(299)
    assert spam.filter(key(clock))
    clock.step(1)
    assert not spam.filter(key(clock))
    assert spam.filter(key(clock))
    clock.step(3000)  # ten tokens back, not more than the burst
    assert sum(not spam.filter(key(clock)) for _ in range(100)) == 10


def test_event_spam_filter_forgets_the_least_recently_used_keys() -> None:
    clock = FakeClock()
    spam = EventSourceObjectSpamFilter(burst=1, cache_size=1, clock=clock)
    assert not spam.filter(key(clock))
    assert not spam.filter(key(clock, regarding=POD_B))  # evicts the first bucket
    assert not spam.filter(key(clock))  # a full bucket again
