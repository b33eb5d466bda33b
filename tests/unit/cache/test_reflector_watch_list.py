"""WatchList streaming and its fallback, after client-go's TestWatchList."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubeloop.cache import Indexer, Reflector, ReflectorOptions, meta_namespace_key_func
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent
from kubeloop.errors import Gone, Invalid, TooManyRequests

from .helpers import WAIT, FakeBackoff, pod


def bookmark(rv: str, end: str = "true") -> WatchEvent:
    md = {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": end}}
    return WatchEvent(EventType.BOOKMARK, {"metadata": md})


class _Stream:
    def __init__(self, lw: WatchListLW) -> None:
        self._lw = lw
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[WatchEvent]:
        lw = self._lw
        while not self._stopped.is_set():
            with lw.lock:
                if lw.stop_after_events is not None and lw.sent == lw.stop_after_events:
                    lw.stop_after_events = None
                    return  # the server ends this watch
                event = lw.events.popleft() if lw.events else None
                if event is not None:
                    lw.sent += 1
            if event is None:
                self._stopped.wait(WAIT)  # an open, idle connection
                return
            yield event
            if lw.close_after_events is not None and lw.sent >= lw.close_after_events:
                lw.stop.set()


class WatchListLW:
    """A ListerWatcher serving one sequence of events across its watches."""

    def __init__(
        self,
        stop: threading.Event,
        events: list[WatchEvent],
        pod_list: ListPage | None = None,
        close_after_events: int | None = None,
        close_after_watch_requests: int | None = None,
        stop_after_events: int | None = None,
        watch_error: Callable[[ListOptions], BaseException | None] | None = None,
    ) -> None:
        self.stop = stop
        self.lock = threading.Lock()
        self.events = deque(events)
        self.sent = 0
        self.pod_list = pod_list
        self.close_after_events = close_after_events
        self.close_after_watch_requests = close_after_watch_requests
        self.stop_after_events = stop_after_events
        self.watch_error = watch_error
        self.requests: list[tuple[str, ListOptions]] = []

    def list(self, options: ListOptions) -> ListPage:
        self.requests.append(("list", options))
        assert self.pod_list is not None, "unexpected LIST"
        return self.pod_list

    def watch(self, options: ListOptions) -> _Stream:
        self.requests.append(("watch", options))
        if self.watch_error is not None:
            err = self.watch_error(options)
            if err is not None:
                raise err
        watches = sum(1 for kind, _ in self.requests if kind == "watch")
        if self.close_after_watch_requests and watches >= self.close_after_watch_requests:
            self.stop.set()
        return _Stream(self)

    def summary(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for kind, o in self.requests:
            if kind == "list":
                out.append(("list", o.resource_version, o.limit))
            elif o.send_initial_events:
                out.append(("watchlist", o.resource_version, o.resource_version_match))
            else:
                out.append(("watch", o.resource_version))
        return out


WATCHLIST = ("watchlist", "", "NotOlderThan")


def run(lw: WatchListLW, use_watch_list: bool = True) -> tuple[Indexer, BaseException | None]:
    s = Indexer(meta_namespace_key_func)
    r = Reflector(
        lw,
        s,
        options=ReflectorOptions(use_watch_list=use_watch_list, backoff=FakeBackoff()),
        watch_error_handler=lambda r, e: None,
    )
    error: BaseException | None = None
    try:
        r.list_and_watch(lw.stop)
    except Exception as err:
        error = err
    finally:
        lw.stop.set()
    return s, error


def contents(s: Indexer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in s.list()}


def test_not_synced_without_the_bookmark(stop: threading.Event) -> None:
    lw = WatchListLW(stop, [WatchEvent(EventType.ADDED, pod("p1", rv="1"))], close_after_events=1)
    s, err = run(lw)
    assert err is None
    assert lw.summary() == [WATCHLIST]
    assert contents(s) == {}


def test_old_list_watch_when_watch_list_is_off(stop: threading.Event) -> None:
    lw = WatchListLW(
        stop, [], pod_list=ListPage([pod("p1", rv="1")], "1"), close_after_watch_requests=1
    )
    s, _ = run(lw, use_watch_list=False)
    assert lw.summary() == [("list", "0", 500), ("watch", "1")]
    assert contents(s) == {"p1": "1"}


@pytest.mark.parametrize(
    "error",
    [RuntimeError("dummy error"), Invalid(422, "Invalid", "streaming is not allowed")],
    ids=["any error forces fallback", "server without streaming"],
)
def test_falls_back_to_list_watch(stop: threading.Event, error: BaseException) -> None:
    lw = WatchListLW(
        stop,
        [WatchEvent(EventType.ADDED, pod("p2", rv="2"))],
        pod_list=ListPage([pod("p1", rv="1")], "1"),
        close_after_events=1,
        watch_error=lambda o: error if o.send_initial_events else None,
    )
    s, err = run(lw)
    assert err is None
    assert lw.summary() == [WATCHLIST, ("list", "0", 500), ("watch", "1")]
    assert contents(s) == {"p1": "1", "p2": "2"}


def test_synced_after_the_bookmark(stop: threading.Event) -> None:
    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        WatchEvent(EventType.ADDED, pod("p2", rv="2")),
        bookmark("2"),
    ]
    lw = WatchListLW(stop, events, close_after_events=3)
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST]
    assert contents(s) == {"p1": "1", "p2": "2"}


def test_updates_and_deletes_during_streaming_are_applied(stop: threading.Event) -> None:
    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        WatchEvent(EventType.ADDED, pod("p2", rv="2")),
        WatchEvent(EventType.MODIFIED, pod("p1", rv="3")),
        WatchEvent(EventType.ADDED, pod("p3", rv="4")),
        WatchEvent(EventType.DELETED, pod("p3", rv="5")),
        bookmark("5"),
    ]
    lw = WatchListLW(stop, events, close_after_events=6)
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST]
    assert contents(s) == {"p1": "3", "p2": "2"}


def test_retries_429(stop: threading.Event) -> None:
    attempts = 0

    def busy(options: ListOptions) -> BaseException | None:
        nonlocal attempts
        attempts += 1
        return TooManyRequests(429, "TooManyRequests", "busy") if attempts < 3 else None

    lw = WatchListLW(
        stop,
        [WatchEvent(EventType.ADDED, pod("p1", rv="1")), bookmark("2")],
        close_after_events=2,
        watch_error=busy,
    )
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST, WATCHLIST, WATCHLIST]
    assert contents(s) == {"p1": "1"}


def test_stopping_a_watcher_before_sync_makes_a_new_watch_list_request(
    stop: threading.Event,
) -> None:
    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        bookmark("1"),
    ]
    lw = WatchListLW(stop, events, stop_after_events=1, close_after_events=3)
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST, WATCHLIST]
    assert contents(s) == {"p1": "1"}


def test_stopping_a_watcher_after_sync_makes_a_new_watch_request(stop: threading.Event) -> None:
    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        WatchEvent(EventType.ADDED, pod("p2", rv="2")),
        bookmark("2"),
        WatchEvent(EventType.ADDED, pod("p3", rv="3")),
        WatchEvent(EventType.ADDED, pod("p4", rv="4")),
    ]
    lw = WatchListLW(stop, events, stop_after_events=4, close_after_events=5)
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST, ("watch", "3")]
    assert contents(s) == {"p1": "1", "p2": "2", "p3": "3", "p4": "4"}


def test_expiring_an_established_watcher_returns_an_error(stop: threading.Event) -> None:
    calls = 0

    def expire_second(options: ListOptions) -> BaseException | None:
        nonlocal calls
        calls += 1
        return Gone(410, "Expired", "rv already expired") if calls == 2 else None

    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        bookmark("2"),
        WatchEvent(EventType.ADDED, pod("p3", rv="3")),
    ]
    lw = WatchListLW(stop, events, stop_after_events=3, watch_error=expire_second)
    s, err = run(lw)
    assert isinstance(err, Gone)
    assert lw.summary() == [WATCHLIST, ("watch", "3")]
    assert contents(s) == {"p1": "1", "p3": "3"}


def test_initial_events_end_annotation_value_is_checked(stop: threading.Event) -> None:
    events = [
        WatchEvent(EventType.ADDED, pod("p1", rv="1")),
        WatchEvent(EventType.ADDED, pod("p2", rv="2")),
        bookmark("2", "false"),
    ]
    lw = WatchListLW(stop, events, close_after_events=3)
    s, _ = run(lw)
    assert lw.summary() == [WATCHLIST]
    assert contents(s) == {}


def test_error_during_streaming_falls_back_to_list(stop: threading.Event) -> None:
    class FailingStream(_Stream):
        def __iter__(self) -> Iterator[WatchEvent]:
            yield WatchEvent(EventType.ADDED, pod("p1", rv="1"))
            raise RuntimeError("stream broke")

    class LW(WatchListLW):
        def watch(self, options: ListOptions) -> _Stream:
            if options.send_initial_events:
                self.requests.append(("watch", options))
                return FailingStream(self)
            return super().watch(options)

    lw = LW(stop, [], pod_list=ListPage([pod("p9", rv="9")], "9"), close_after_watch_requests=2)
    s, err = run(lw)
    assert err is None
    assert lw.summary() == [WATCHLIST, ("list", "0", 500), ("watch", "9")]
    assert contents(s) == {"p9": "9"}


def test_expired_watch_list_rv_retries_with_empty_rv(stop: threading.Event) -> None:
    # After a relist with a known RV expires, the stream is asked for "" instead.
    def expire_rv(options: ListOptions) -> BaseException | None:
        if options.resource_version == "7":
            return Gone(410, "Expired", "too old")
        return None

    lw = WatchListLW(
        stop,
        [WatchEvent(EventType.ADDED, pod("p1", rv="8")), bookmark("8")],
        close_after_events=2,
        watch_error=expire_rv,
    )
    s = Indexer(meta_namespace_key_func)
    r = Reflector(lw, s, options=ReflectorOptions(backoff=FakeBackoff()))
    r._set_last_sync_rv("7")
    r.list_and_watch(stop)
    assert [(k, o.resource_version) for k, o in lw.requests] == [("watch", "7"), ("watch", "")]
    assert r.last_sync_resource_version() == "8"
