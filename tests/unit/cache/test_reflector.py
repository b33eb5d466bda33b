"""Reflector, case by case after client-go's reflector_test.go."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from kubeloop.cache import (
    DeltaFIFO,
    DeltaType,
    ExponentialBackoffManager,
    Indexer,
    ListWatch,
    Reflector,
    ReflectorOptions,
    VeryShortWatchError,
    meta_namespace_key_func,
)
from kubeloop.cache.reflector_state import Listed, Progress, Stopped
from kubeloop.cache.testing import FakeWatchStream
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent
from kubeloop.clock import FakeClock
from kubeloop.errors import (
    ApiError,
    Gone,
    InternalError,
    ServerTimeout,
    TooManyRequests,
    TransportError,
)

from .helpers import WAIT, FakeBackoff, pod

Lister = Callable[[ListOptions], ListPage]
Watcher = Callable[[ListOptions], Any]


def opts(**kw: Any) -> ReflectorOptions:
    kw.setdefault("use_watch_list", False)
    kw.setdefault("backoff", FakeBackoff())
    return ReflectorOptions(**kw)


def never_list(options: ListOptions) -> ListPage:
    raise AssertionError("list called unexpectedly")


def never_watch(options: ListOptions) -> FakeWatchStream:
    raise AssertionError("watch called unexpectedly")


def stop_on_watch(stop: threading.Event) -> Watcher:
    """Stop once the reflector begins watching: only the list matters."""

    def watch(options: ListOptions) -> FakeWatchStream:
        stop.set()
        return FakeWatchStream()

    return watch


def one_watch_then_stop(
    stop: threading.Event, events: list[WatchEvent], rvs: list[str | None] | None = None
) -> Watcher:
    """The first watch delivers ``events`` and closes normally; the re-watch
    that follows sets ``stop`` (so every event has been applied by then)."""
    calls = 0

    def watch(options: ListOptions) -> FakeWatchStream:
        nonlocal calls
        calls += 1
        if rvs is not None:
            rvs.append(options.resource_version)
        if calls > 1:
            stop.set()
            return FakeWatchStream()
        stream = FakeWatchStream(events)
        stream.close()
        return stream

    return watch


def pods(n: int) -> list[dict[str, Any]]:
    return [pod(f"pod-{i}", rv=str(i)) for i in range(n)]


def store() -> Indexer:
    return Indexer(meta_namespace_key_func)


def test_close_watch_stream_on_error(stop: threading.Event) -> None:
    # TestCloseWatchChannelOnError: a watch ending in error is stopped.
    stream = FakeWatchStream()
    errors: list[BaseException] = []

    def watch(options: ListOptions) -> FakeWatchStream:
        if options.resource_version == "1" and not stream.stopped:
            return stream
        stop.set()
        return FakeWatchStream()

    r = Reflector(
        ListWatch(lambda o: ListPage([], "1"), watch),
        store(),
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    stream.action(EventType.ADDED, pod("bar", rv="2"))
    stream.close(ApiError(500, "InternalError", "boom"))
    r.list_and_watch(stop)
    assert stream.stopped
    assert len(errors) == 1 and errors[0].code == 500  # type: ignore[attr-defined]


def test_run_until_stop_stops_the_watch() -> None:
    # TestRunUntil
    stream = FakeWatchStream()
    watching = threading.Event()

    def watch(options: ListOptions) -> FakeWatchStream:
        watching.set()
        return stream

    s = store()
    r = Reflector(ListWatch(lambda o: ListPage([], "1"), watch), s, options=opts())
    stop = threading.Event()
    t = threading.Thread(target=r.run, args=(stop,), name="kubeloop-test-reflector")
    t.start()
    assert watching.wait(WAIT)
    stream.action(EventType.ADDED, pod("bar", rv="2"))
    stop.set()
    t.join(WAIT)
    assert not t.is_alive()
    assert stream.stopped


def test_watch_stopped_before_neither_lists_nor_watches() -> None:
    # TestReflectorWatchStoppedBefore
    stop = threading.Event()
    stop.set()
    for use_watch_list in (False, True):
        r = Reflector(
            ListWatch(never_list, never_watch), store(), options=opts(use_watch_list=use_watch_list)
        )
        r.list_and_watch(stop)
        r.run(stop)


def test_watch_stopped_after_stops_the_stream() -> None:
    # TestReflectorWatchStoppedAfter
    streams: list[FakeWatchStream] = []
    stop = threading.Event()

    def watch(options: ListOptions) -> FakeWatchStream:
        threading.Timer(0.01, stop.set).start()
        streams.append(FakeWatchStream())
        return streams[-1]

    r = Reflector(ListWatch(lambda o: ListPage([], "1"), watch), store(), options=opts())
    r.list_and_watch(stop)
    assert len(streams) == 1
    assert streams[0].stopped


def test_very_short_watch_is_an_error_and_relists() -> None:
    # TestReflectorHandleWatchResultChanClosedBefore, then the relist it causes.
    stop = threading.Event()
    list_rvs: list[str | None] = []
    errors: list[BaseException] = []

    def list_func(options: ListOptions) -> ListPage:
        list_rvs.append(options.resource_version)
        if len(list_rvs) == 2:
            stop.set()
        return ListPage([], "5")

    def watch(options: ListOptions) -> FakeWatchStream:
        stream = FakeWatchStream()
        stream.close()  # closed at once, nothing delivered
        return stream

    r = Reflector(
        ListWatch(list_func, watch),
        store(),
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    r.run(stop)
    assert list_rvs == ["0", "5"]
    assert isinstance(errors[0], VeryShortWatchError)


def test_watch_handler() -> None:
    # TestReflectorWatchHandler
    s = store()
    stop = threading.Event()
    watch = one_watch_then_stop(
        stop,
        [
            WatchEvent(EventType.DELETED, pod("foo")),
            WatchEvent(EventType.MODIFIED, pod("bar", rv="55")),
            WatchEvent(EventType.ADDED, pod("baz", rv="32")),
        ],
    )

    r = Reflector(
        ListWatch(lambda o: ListPage([pod("foo"), pod("bar")], "1"), watch), s, options=opts()
    )
    r.list_and_watch(stop)
    assert s.get(pod("foo")) == (None, False)
    assert s.get(pod("bar"))[0]["metadata"]["resourceVersion"] == "55"
    assert s.get(pod("baz"))[0]["metadata"]["resourceVersion"] == "32"
    assert r.last_sync_resource_version() == "32"


def test_stop_watch_when_stopped() -> None:
    # TestReflectorStopWatch: about to watch (listed) with stop set: no watch.
    stop = threading.Event()
    stop.set()
    r = Reflector(ListWatch(never_list, never_watch), store(), options=opts())
    assert isinstance(r._run_round(Listed(Progress("1")), stop), Stopped)


@pytest.mark.parametrize("use_watch_list", [False, True])
def test_list_and_watch(use_watch_list: bool) -> None:
    # TestReflectorListAndWatch: the requests made and the deltas produced.
    list_calls: list[ListOptions] = []
    watch_calls: list[ListOptions] = []
    stop = threading.Event()
    if use_watch_list:
        events = [
            WatchEvent(EventType.ADDED, pod("foo", rv="1")),
            WatchEvent(
                EventType.BOOKMARK,
                {
                    "metadata": {
                        "resourceVersion": "1",
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    }
                },
            ),
        ]
    else:
        events = []
    events += [
        WatchEvent(EventType.MODIFIED, pod("foo", rv="2")),
        WatchEvent(EventType.ADDED, pod("bar", rv="3")),
        WatchEvent(EventType.ADDED, pod("baz", rv="4")),
    ]

    def list_func(options: ListOptions) -> ListPage:
        list_calls.append(options)
        return ListPage([pod("foo", rv="1")], "1")

    def watch(options: ListOptions) -> FakeWatchStream:
        watch_calls.append(options)
        return FakeWatchStream(events)

    fifo = DeltaFIFO(meta_namespace_key_func)
    r = Reflector(ListWatch(list_func, watch), fifo, options=opts(use_watch_list=use_watch_list))
    t = threading.Thread(target=r.list_and_watch, args=(stop,), name="kubeloop-test-lw")
    t.start()
    try:
        got = []
        for _ in range(3):
            deltas = fifo.pop(lambda d, i: None, timeout=WAIT)
            got.append(
                (
                    deltas[-1].object["metadata"]["name"],
                    deltas[-1].object["metadata"]["resourceVersion"],
                )
            )
        assert got == [("foo", "2"), ("bar", "3"), ("baz", "4")]
    finally:
        stop.set()
        t.join(WAIT)
    if use_watch_list:
        assert list_calls == []
        assert len(watch_calls) == 1
        w = watch_calls[0]
        assert (w.resource_version, w.resource_version_match, w.send_initial_events) == (
            "",
            "NotOlderThan",
            True,
        )
        assert w.allow_watch_bookmarks
    else:
        assert [(o.resource_version, o.limit) for o in list_calls] == [("0", 500)]
        assert len(watch_calls) == 1
        w = watch_calls[0]
        assert (w.resource_version, w.allow_watch_bookmarks, w.send_initial_events) == (
            "1",
            True,
            None,
        )


def test_list_and_watch_with_errors() -> None:
    # TestReflectorListAndWatchWithErrors: one store across successive rounds.
    table: list[dict[str, Any]] = [
        {
            "list": ("1", []),
            "events": [(EventType.ADDED, "foo", "2"), (EventType.ADDED, "bar", "3")],
        },
        {
            "list": ("3", [("foo", "2"), ("bar", "3")]),
            "events": [(EventType.DELETED, "foo", "4"), (EventType.ADDED, "qux", "5")],
        },
        {"list_err": RuntimeError("a list error")},
        {"list": ("5", [("bar", "3"), ("qux", "5")]), "watch_err": RuntimeError("a watch error")},
        {"list": ("5", [("bar", "3"), ("qux", "5")]), "events": [(EventType.ADDED, "baz", "6")]},
        {"list": ("6", [("bar", "3"), ("qux", "5"), ("baz", "6")])},
    ]
    s = Indexer(meta_namespace_key_func)
    for item in table:
        if "list" in item:
            current = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in s.list()}
            assert current == {name: rv for name, rv in item["list"][1]}
        _list_and_watch_round(s, item)


def _list_and_watch_round(s: Indexer, item: dict[str, Any]) -> None:
    stop = threading.Event()
    watched = False

    def list_func(options: ListOptions) -> ListPage:
        if "list_err" in item:
            raise item["list_err"]
        rv, objs = item["list"]
        return ListPage([pod(n, rv=r) for n, r in objs], rv)

    def watch(options: ListOptions) -> FakeWatchStream:
        nonlocal watched
        if "watch_err" in item:
            raise item["watch_err"]
        if watched:  # the re-watch after the scripted stream's close ends the round
            stop.set()
            return FakeWatchStream()
        watched = True
        events = [WatchEvent(t, pod(n, rv=rv)) for t, n, rv in item.get("events", [])]
        stream = FakeWatchStream(events)
        stream.close()
        return stream

    r = Reflector(ListWatch(list_func, watch), s, options=opts())
    try:
        if "list_err" in item or "watch_err" in item:
            with pytest.raises(RuntimeError, match=r"a (list|watch) error"):
                r.list_and_watch(stop)
        else:
            r.list_and_watch(stop)
    finally:
        stop.set()


def test_backoff_on_too_many_requests(stop: threading.Event) -> None:
    # TestBackoffOnTooManyRequests: 429 on open and as a watch error both back off.
    backoff = FakeBackoff()
    err = TooManyRequests(429, "TooManyRequests", "too many requests")

    def watch(options: ListOptions) -> FakeWatchStream:
        if backoff.calls == 0:
            raise err
        if backoff.calls == 1:
            stream = FakeWatchStream()
            stream.close(err)
            return stream
        stream = FakeWatchStream()
        stream.close()
        return stream

    r = Reflector(
        ListWatch(lambda o: ListPage([], "1"), watch),
        DeltaFIFO(),
        options=opts(backoff=backoff),
        watch_error_handler=lambda r, e: None,
    )
    r.list_and_watch(stop)
    assert backoff.calls == 2


def _refused() -> Exception:
    err = TransportError("connect failed")
    err.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return err


@pytest.mark.parametrize(
    "make_error",
    [lambda: TooManyRequests(429, "TooManyRequests", "too many requests"), _refused],
    ids=["429 (TestNoRelistOnTooManyRequests)", "connection refused"],
)
def test_no_relist_when_watch_open_is_refused(make_error: Callable[[], Exception]) -> None:
    # The API server is only overloaded or restarting: back off and re-watch
    # from where we were; relisting would add load.
    backoff = FakeBackoff()
    list_calls = watch_calls = 0
    stop = threading.Event()

    def list_func(options: ListOptions) -> ListPage:
        nonlocal list_calls
        list_calls += 1
        return ListPage([], "1")

    def watch(options: ListOptions) -> FakeWatchStream:
        nonlocal watch_calls
        watch_calls += 1
        if watch_calls < 5:
            raise make_error()
        stop.set()
        return FakeWatchStream()

    r = Reflector(ListWatch(list_func, watch), DeltaFIFO(), options=opts(backoff=backoff))
    r.list_and_watch(stop)
    assert (list_calls, watch_calls, backoff.calls) == (1, 5, 4)


@pytest.mark.parametrize(
    ("max_duration", "rewind_at", "want_retries"),
    [(0.0, 0, 0), (30.0, 0, 31), (30.0, 10, 40)],
    ids=["retries off", "retries on, all calls fail", "retries on, one call successful"],
)
def test_retry_internal_error(
    max_duration: float, rewind_at: int, want_retries: int, stop: threading.Event
) -> None:
    # TestRetryInternalError: 500s are re-watched for max_duration.
    clock = FakeClock()
    counter = 0

    def watch(options: ListOptions) -> FakeWatchStream:
        nonlocal counter
        counter += 1
        if counter == rewind_at:
            clock.step(60)
        clock.step(1)
        stream = FakeWatchStream()
        stream.close(InternalError(500, "InternalError", "etcdserver: no leader"))
        return stream

    r = Reflector(
        ListWatch(lambda o: ListPage([], "1"), watch),
        DeltaFIFO(),
        options=opts(clock=clock, max_internal_error_retry_duration=max_duration),
        watch_error_handler=lambda r, e: None,
    )
    r.list_and_watch(stop)
    assert counter - 1 == want_retries


def test_reflector_resync(stop: threading.Event) -> None:
    # TestReflectorResync: a failing resync ends the watch; no error escapes.
    iteration = 0
    resynced = threading.Event()

    class FakeStore(Indexer):
        def resync(self) -> None:
            nonlocal iteration
            iteration += 1
            if iteration == 2:
                resynced.set()
                raise RuntimeError("expected resync reached")

    errors: list[BaseException] = []
    r = Reflector(
        ListWatch(lambda o: ListPage([], "0"), lambda o: FakeWatchStream()),
        FakeStore(),
        resync_period=0.001,
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    r.list_and_watch(stop)
    assert iteration == 2
    assert str(errors[0]) == "expected resync reached"


def test_resync_skipped_when_should_resync_says_no() -> None:
    """Each period the reflector asks should_resync and resyncs only on a yes.

    Stop is set from the resync, but the resync thread may still ask once or
    twice before it sees stop (on a loaded machine, it does): those late asks
    are answered no, so the one yes gives exactly one resync."""
    events: list[str] = []
    answers = iter([False, False, True])
    stop = threading.Event()

    class FakeStore(Indexer):
        def resync(self) -> None:
            events.append("resync")
            stop.set()

    def should_resync() -> bool:
        answer = next(answers, False)
        events.append(f"asked: {answer}")
        return answer

    r = Reflector(
        ListWatch(lambda o: ListPage([], "1"), lambda o: FakeWatchStream()),
        FakeStore(),
        resync_period=0.001,
        options=opts(),
        should_resync=should_resync,
    )
    r.list_and_watch(stop)
    assert events[:4] == ["asked: False", "asked: False", "asked: True", "resync"]
    assert events.count("resync") == 1


def test_watch_list_page_size() -> None:
    # TestReflectorWatchListPageSize
    stop = threading.Event()
    items = pods(10)
    pages = {"": (items[0:4], "C1"), "C1": (items[4:8], "C2"), "C2": (items[8:10], "")}

    def list_func(options: ListOptions) -> ListPage:
        assert options.limit == 4
        chunk, token = pages[options.continue_ or ""]
        return ListPage(chunk, "10", token)

    s = store()
    r = Reflector(ListWatch(list_func, stop_on_watch(stop)), s, options=opts(page_size=4))
    r._set_last_sync_rv("10")
    r.list_and_watch(stop)
    assert len(s.list()) == 10


def test_not_paginating_not_consistent_reads() -> None:
    # TestReflectorNotPaginatingNotConsistentReads
    stop = threading.Event()

    def list_func(options: ListOptions) -> ListPage:
        assert options.resource_version == "10"
        assert options.limit is None
        return ListPage(pods(10), "10")

    s = store()
    r = Reflector(ListWatch(list_func, stop_on_watch(stop)), s, options=opts())
    r._set_last_sync_rv("10")
    r.list_and_watch(stop)
    assert len(s.list()) == 10


def test_paginating_non_consistent_reads_if_watch_cache_disabled() -> None:
    # TestReflectorPaginatingNonConsistentReadsIfWatchCacheDisabled
    items = pods(10)
    pages = {"": (items[0:4], "C1"), "C1": (items[4:8], "C2"), "C2": (items[8:10], "")}
    continue_rvs: list[str | None] = []

    def list_func(options: ListOptions) -> ListPage:
        assert options.limit == 500
        if options.continue_:
            continue_rvs.append(options.resource_version)
        chunk, token = pages[options.continue_ or ""]
        return ListPage(chunk, "10", token)

    s = store()
    for _ in range(2):
        stop = threading.Event()
        r_opts = opts()
        if _ == 0:
            r = Reflector(ListWatch(list_func, stop_on_watch(stop)), s, options=r_opts)
        else:
            r._lw = ListWatch(list_func, stop_on_watch(stop))
        r.list_and_watch(stop)
        assert len(s.list()) == 10
    # The second list (RV "10") was paged too; continue pages carry RV "".
    assert continue_rvs == ["", "", "", ""]


def _rv_recording_reflector(
    responses: Callable[[ListOptions], ListPage], page_size: int = 0
) -> tuple[Reflector, list[str | None], Indexer, list[threading.Event]]:
    calls: list[str | None] = []
    stops: list[threading.Event] = []
    s = store()

    def list_func(options: ListOptions) -> ListPage:
        calls.append(options.resource_version)
        return responses(options)

    def watch(options: ListOptions) -> FakeWatchStream:
        stops[-1].set()
        return FakeWatchStream()

    r = Reflector(ListWatch(list_func, watch), s, options=opts(page_size=page_size))
    return r, calls, s, stops


def _round(r: Reflector, stops: list[threading.Event]) -> None:
    stops.append(threading.Event())
    r.list_and_watch(stops[-1])


def test_resync_with_resource_version() -> None:
    # TestReflectorResyncWithResourceVersion: relists never go back in time.
    def responses(options: ListOptions) -> ListPage:
        if options.resource_version == "0":
            return ListPage(pods(4), "10")
        assert options.resource_version == "10"
        return ListPage(pods(8), "11")

    r, calls, s, stops = _rv_recording_reflector(responses)
    _round(r, stops)
    assert len(s.list()) == 4
    _round(r, stops)
    assert len(s.list()) == 8
    assert calls == ["0", "10"]


def test_expired_exact_resource_version() -> None:
    # TestReflectorExpiredExactResourceVersion: "0" -> "10" (expired) -> "".
    def responses(options: ListOptions) -> ListPage:
        rv = options.resource_version
        if rv == "0":
            return ListPage(pods(4), "10")
        if rv == "10":
            raise Gone(410, "Expired", "The resourceVersion for the provided watch is too old.")
        assert rv == ""
        return ListPage(pods(8), "11")

    r, calls, s, stops = _rv_recording_reflector(responses)
    _round(r, stops)
    assert len(s.list()) == 4
    _round(r, stops)
    assert len(s.list()) == 8
    assert calls == ["0", "10", ""]


def test_full_list_if_expired() -> None:
    # TestReflectorFullListIfExpired: a continue page expiring -> one full list.
    items = pods(8)

    def responses(options: ListOptions) -> ListPage:
        key = (options.resource_version, options.continue_ or "", options.limit or 0)
        if key == ("0", "", 4):
            return ListPage(items[0:4], "10")
        if key == ("10", "", 4):
            return ListPage(items[0:4], "11", "C1")
        if key == ("", "C1", 4):
            raise Gone(410, "Expired", "The resourceVersion for the provided watch is too old.")
        if key == ("10", "", 0):
            return ListPage(items, "11")
        raise AssertionError(f"unexpected list options: {options}")

    r, calls, s, stops = _rv_recording_reflector(responses, page_size=4)
    _round(r, stops)
    assert len(s.list()) == 4
    _round(r, stops)
    assert len(s.list()) == 8
    assert calls == ["0", "10", "", "10"]


def test_full_list_if_too_large() -> None:
    # TestReflectorFullListIfTooLarge: every too-large variant relists with "".
    version = 30

    def too_large(message: str, causes: list[dict[str, str]]) -> ServerTimeout:
        status = {
            "code": 504,
            "reason": "Timeout",
            "message": message,
            "details": {"causes": causes},
        }
        return ServerTimeout(504, "Timeout", message, status)

    def responses(options: ListOptions) -> ListPage:
        nonlocal version
        rv = options.resource_version
        if rv == "0":
            return ListPage([], "20")
        if rv == "20":
            raise too_large("too large resource version", [{"reason": "ResourceVersionTooLarge"}])
        if rv == "30":
            raise too_large(
                "Too large resource version", [{"message": "Too large resource version"}]
            )
        if rv == "40":
            raise too_large("Too large resource version", [])
        assert rv == ""
        current = str(version)
        version += 10
        return ListPage([], current)

    r, calls, _, stops = _rv_recording_reflector(responses)
    for _ in range(4):
        _round(r, stops)
    assert calls == ["0", "20", "", "30", "", "40", ""]


def test_relist_after_gone_uses_last_rv() -> None:
    # A watch ending with 410 relists, at the last synced RV (not "").
    stop = threading.Event()
    list_rvs: list[str | None] = []
    watch_rvs: list[str | None] = []

    def list_func(options: ListOptions) -> ListPage:
        list_rvs.append(options.resource_version)
        if len(list_rvs) == 2:
            stop.set()
        return ListPage([pod("a", rv="5")], "5")

    def watch(options: ListOptions) -> FakeWatchStream:
        watch_rvs.append(options.resource_version)
        stream = FakeWatchStream([WatchEvent(EventType.MODIFIED, pod("a", rv="7"))])
        stream.close(Gone(410, "Expired", "too old resource version"))
        return stream

    errors: list[BaseException] = []
    r = Reflector(
        ListWatch(list_func, watch),
        store(),
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    r.run(stop)
    assert list_rvs == ["0", "7"]
    assert watch_rvs == ["5"]
    assert isinstance(errors[0], Gone)


@pytest.mark.parametrize(
    "close_error",
    [None, TransportError("watch: connection broke: ReadError('')")],
    ids=["normal close", "connection broke (a probable EOF)"],
)
def test_normal_watch_close_rewatches_without_relist(close_error: Exception | None) -> None:
    # client-go's StreamWatcher also ends the result channel quietly on a
    # probable EOF (connection reset, unexpected EOF): to the reflector that
    # is a normal close too, re-watched from the last RV with no relist.
    stop = threading.Event()
    list_calls = 0
    watch_rvs: list[str | None] = []
    errors: list[BaseException] = []

    def list_func(options: ListOptions) -> ListPage:
        nonlocal list_calls
        list_calls += 1
        return ListPage([], "5")

    def watch(options: ListOptions) -> FakeWatchStream:
        watch_rvs.append(options.resource_version)
        if len(watch_rvs) == 3:
            stop.set()
            return FakeWatchStream()
        n = len(watch_rvs)
        stream = FakeWatchStream([WatchEvent(EventType.ADDED, pod(f"p{n}", rv=str(5 + n)))])
        stream.close(close_error)
        return stream

    r = Reflector(
        ListWatch(list_func, watch),
        store(),
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    r.list_and_watch(stop)
    assert list_calls == 1
    assert watch_rvs == ["5", "6", "7"]
    assert errors == []


def test_connection_broken_at_once_is_a_very_short_watch(stop: threading.Event) -> None:
    # Broken within a second with nothing delivered: as for any very short
    # watch, end the round so that run() relists.
    errors: list[BaseException] = []

    def watch(options: ListOptions) -> FakeWatchStream:
        stream = FakeWatchStream()
        stream.close(TransportError("watch: connection broke: ReadError('')"))
        return stream

    r = Reflector(
        ListWatch(lambda o: ListPage([], "5"), watch),
        store(),
        options=opts(),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    r.list_and_watch(stop)
    assert len(errors) == 1 and isinstance(errors[0], VeryShortWatchError)


def test_watch_timeout() -> None:
    # TestWatchTimeout: random in [min, 2*min]; below 5 min not honoured.
    for minimum, expected in ((0.0, 300), (1.0, 300), (1800.0, 1800)):
        stop = threading.Event()
        got: list[int | None] = []

        def watch(options: ListOptions, stop: threading.Event = stop, got: Any = got) -> Any:
            got.append(options.timeout_seconds)
            stop.set()
            return FakeWatchStream()

        r = Reflector(
            ListWatch(lambda o: ListPage([], "10"), watch),
            store(),
            options=opts(min_watch_timeout=minimum),
        )
        r.list_and_watch(stop)
        assert got[0] is not None and expected <= got[0] <= 2 * expected


def test_resource_version_update() -> None:
    # TestReflectorResourceVersionUpdate: every event's RV reaches the store.
    class StoreWithRV(Indexer):
        def __init__(self) -> None:
            super().__init__(meta_namespace_key_func)
            self.resource_versions: list[str] = []

        def update_resource_version(self, rv: str) -> None:
            self.resource_versions.append(rv)

    stop = threading.Event()
    watch = one_watch_then_stop(
        stop,
        [
            WatchEvent(EventType.ADDED, pod("", rv="10")),
            WatchEvent(EventType.MODIFIED, pod("", rv="20")),
            WatchEvent(EventType.BOOKMARK, pod("", rv="30")),
            WatchEvent(EventType.DELETED, pod("", rv="40")),
        ],
    )

    s = StoreWithRV()
    r = Reflector(ListWatch(lambda o: ListPage([], "10"), watch), s, options=opts())
    r.list_and_watch(stop)
    assert s.resource_versions == ["10", "20", "30", "40"]
    assert r.last_sync_resource_version() == "40"


def test_bookmark_only_advances_resource_version() -> None:
    stop = threading.Event()
    watch_rvs: list[str | None] = []
    bookmark = WatchEvent(EventType.BOOKMARK, {"metadata": {"resourceVersion": "99"}})
    watch = one_watch_then_stop(stop, [bookmark], watch_rvs)

    s = store()
    r = Reflector(ListWatch(lambda o: ListPage([pod("a", rv="3")], "3"), watch), s, options=opts())
    r.list_and_watch(stop)
    assert watch_rvs == ["3", "99"]  # re-watched from the bookmark's RV
    assert s.list_keys() == ["a"]
    assert r.last_sync_resource_version() == "99"


def test_watch_from_zero_does_not_advance_rv_on_initial_adds() -> None:
    stop = threading.Event()
    seen: list[str] = []

    def watch(options: ListOptions) -> FakeWatchStream:
        if options.resource_version != "0":
            stop.set()
            return FakeWatchStream()
        stream = FakeWatchStream(
            [
                WatchEvent(EventType.ADDED, pod("b", rv="9")),
                WatchEvent(EventType.ADDED, pod("a", rv="4")),
                WatchEvent(EventType.MODIFIED, pod("a", rv="11")),
                WatchEvent(EventType.ADDED, pod("c", rv="12")),
            ]
        )
        stream.close()
        return stream

    class Spy(Indexer):
        def add(self, obj: Any) -> None:
            seen.append(r.last_sync_resource_version())
            super().add(obj)

    r = Reflector(ListWatch(lambda o: ListPage([], "0"), watch), Spy(), options=opts())
    r.list_and_watch(stop)
    # Initial ADDs left the RV at the list's "0"; from the EventType.MODIFIED on it moves.
    assert seen == ["0", "0", "11"]
    assert r.last_sync_resource_version() == "12"


def test_list_error_goes_to_watch_error_handler_then_backs_off() -> None:
    stop = threading.Event()
    backoff = FakeBackoff()
    errors: list[BaseException] = []

    def handler(r: Reflector, err: BaseException) -> None:
        errors.append(err)
        if len(errors) == 3:
            stop.set()

    def list_func(options: ListOptions) -> ListPage:
        raise RuntimeError("Access Denied")

    r = Reflector(
        ListWatch(list_func, never_watch),
        store(),
        options=opts(backoff=backoff),
        watch_error_handler=handler,
    )
    r.run(stop)
    assert [str(e) for e in errors] == ["Access Denied"] * 3
    assert backoff.calls == 2


class HourBackoff:
    """Backs off for an hour, and says when it has been asked to."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def backoff(self) -> float:
        self.asked.set()
        return 3600.0


def test_stop_interrupts_backoff_sleep() -> None:
    """Stop, set while the reflector waits out a backoff with the default
    sleep, ends run() then and there instead of an hour later: a controller
    must shut down promptly even while its API server is unreachable."""
    stop = threading.Event()
    backoff = HourBackoff()
    errors: list[BaseException] = []

    def list_func(options: ListOptions) -> ListPage:
        raise RuntimeError("down")

    r = Reflector(
        ListWatch(list_func, never_watch),
        store(),
        options=ReflectorOptions(use_watch_list=False, backoff=backoff),
        watch_error_handler=lambda r, e: errors.append(e),
    )
    # A daemon: if the sleep ignores stop, the thread outlives the test by an
    # hour and must not also hold up the interpreter's exit.
    t = threading.Thread(target=r.run, args=(stop,), name="kubeloop-test-backoff", daemon=True)
    t.start()
    assert backoff.asked.wait(WAIT), "the reflector never backed off"
    stop.set()
    t.join(WAIT)
    assert not t.is_alive(), "run() slept through stop"
    assert [str(e) for e in errors] == ["down"]


def test_exponential_backoff_manager() -> None:
    clock = FakeClock()
    b = ExponentialBackoffManager(clock=clock, rand=lambda: 0.5)
    waits = [b.backoff() for _ in range(8)]
    # d, then doubling from 0.8 s, with jitter 0.5*d, capped at 30 s.
    assert waits == pytest.approx([1.2, 2.4, 4.8, 9.6, 19.2, 38.4, 45.0, 45.0])
    clock.step(121)
    assert b.backoff() == pytest.approx(1.2)
    # Jitter stays within [d, 2d).
    b2 = ExponentialBackoffManager(clock=clock)
    first = b2.backoff()
    assert 0.8 <= first < 1.6


def test_fifo_receives_replaced_deltas_from_list() -> None:
    stop = threading.Event()
    fifo = DeltaFIFO(meta_namespace_key_func)
    r = Reflector(
        ListWatch(lambda o: ListPage([pod("a", rv="1")], "1"), stop_on_watch(stop)),
        fifo,
        options=opts(),
    )
    r.list_and_watch(stop)
    deltas = fifo.pop(lambda d, i: None, timeout=WAIT)
    assert deltas[0].type is DeltaType.REPLACED


def marked(transformed: list[str]) -> Callable[[Any], Any]:
    """A transform that records each object it sees and marks its output."""

    def transform(obj: Any) -> Any:
        transformed.append(f"{obj['metadata']['name']}@{obj['metadata']['resourceVersion']}")
        return {**obj, "transformed": True}

    return transform


def test_transform_runs_on_each_list_page_as_it_arrives(stop: threading.Event) -> None:
    # The initial list is handed over only once complete: transforming each
    # page as it arrives keeps what the transform drops from piling up.
    transformed: list[str] = []

    def list_func(options: ListOptions) -> ListPage:
        if options.continue_ == "2":
            assert transformed == ["pod-0@0", "pod-1@1"], "first page not transformed yet"
            return ListPage(pods(3)[2:], "5")
        return ListPage(pods(2), "5", "2")

    s = store()
    r = Reflector(
        ListWatch(list_func, stop_on_watch(stop)),
        s,
        options=opts(page_size=2),
        transform=marked(transformed),
    )
    r.list_and_watch(stop)
    assert transformed == ["pod-0@0", "pod-1@1", "pod-2@2"]
    assert len(s.list()) == 3 and all(o["transformed"] for o in s.list())


def test_transform_runs_once_per_object_streamed_or_watched(stop: threading.Event) -> None:
    # WatchList: the initial events are transformed before they wait in the
    # temporary store; later events before the store sees them. Bookmarks
    # are not objects and are not transformed.
    transformed: list[str] = []
    transform = marked(transformed)
    applied: list[tuple[str, Any]] = []

    class RecordingStore(Indexer):
        def add(self, obj: Any) -> None:
            applied.append(("add", obj))
            super().add(obj)

        def update(self, obj: Any) -> None:
            applied.append(("update", obj))
            super().update(obj)

        def delete(self, obj: Any) -> None:
            applied.append(("delete", obj))
            super().delete(obj)
            stop.set()

        def replace(self, objs: list[Any], resource_version: str = "") -> None:
            applied.extend(("replace", o) for o in objs)
            super().replace(objs, resource_version)

    def bookmark(rv: str) -> WatchEvent:
        md = {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}
        return WatchEvent(EventType.BOOKMARK, {"metadata": md})

    stream = FakeWatchStream(
        [
            WatchEvent(EventType.ADDED, pod("a", rv="1")),
            WatchEvent(EventType.ADDED, pod("b", rv="2")),
            bookmark("3"),
            WatchEvent(EventType.MODIFIED, pod("a", rv="4")),
            WatchEvent(EventType.DELETED, pod("b", rv="5")),
        ]
    )
    r = Reflector(
        ListWatch(never_list, lambda o: stream),
        RecordingStore(meta_namespace_key_func),
        options=opts(use_watch_list=True),
        transform=transform,
    )
    r.list_and_watch(stop)
    assert transformed == ["a@1", "b@2", "a@4", "b@5"]
    assert [kind for kind, _ in applied] == ["replace", "replace", "update", "delete"]
    assert all(obj["transformed"] for _, obj in applied)


def test_backoff_is_slept_on_the_reflector_clock() -> None:
    """The backoff between rounds is ``clock.sleep``: on a fake clock the
    next LIST comes when the test moves time past the backoff, not before."""
    stop, clock = threading.Event(), FakeClock()
    lists: list[ListOptions] = []

    def list_func(options: ListOptions) -> ListPage:
        lists.append(options)
        raise RuntimeError("down")

    r = Reflector(
        ListWatch(list_func, never_watch),
        store(),
        options=ReflectorOptions(use_watch_list=False, backoff=HourBackoff(), clock=clock),
        watch_error_handler=lambda r, e: None,
    )
    t = threading.Thread(target=r.run, args=(stop,), name="kubeloop-test-backoff", daemon=True)
    t.start()
    assert clock.wait_for_waiters(1), "the reflector never backed off"
    assert len(lists) == 1
    clock.step(3599)
    assert clock.waiters() == 1
    assert len(lists) == 1
    clock.step(1)
    assert clock.wait_for_waiters(1)
    assert len(lists) == 2
    clock.set_and_wake(stop)
    t.join(WAIT)
    assert not t.is_alive(), "run() slept through stop"
