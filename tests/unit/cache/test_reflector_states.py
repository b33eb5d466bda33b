"""The reflector's step function, transition by transition: no threads, no
clock, no sleeps. Where client-go's reflector_test.go (or
reflector_watchlist_test.go) has the case, its name is in the comment."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

import pytest

from kubeloop.cache.backoff import RETRY_WINDOW_RESET, RetryWindow
from kubeloop.cache.reflector_state import (
    INITIAL_EVENTS_END_ANNOTATION,
    RESUMED,
    STOP,
    Apply,
    BackingOff,
    Effect,
    Failed,
    Listed,
    Listing,
    ListResult,
    Note,
    Outcome,
    Policy,
    Progress,
    Reached,
    Relisting,
    Replace,
    ReplaceWithInitialEvents,
    ReportError,
    RoundEnded,
    State,
    Stopped,
    StreamingInitialEvents,
    VeryShortWatchError,
    WatchEnded,
    Watching,
    WatchOpened,
)
from kubeloop.cache.reflector_step import begin_round, step
from kubeloop.client.types import EventType, WatchEvent
from kubeloop.errors import (
    Gone,
    InternalError,
    Invalid,
    ServerTimeout,
    TooManyRequests,
    TransportError,
)

from .helpers import pod

LIST_WATCH = Policy(name="pods", use_watch_list=False)
WATCH_LIST = Policy(name="pods", use_watch_list=True)


def event(kind: EventType, name: str, rv: str) -> WatchEvent:
    return WatchEvent(kind, pod(name, rv=rv))


def bookmark(rv: str, end: str | None = None) -> WatchEvent:
    md: dict[str, Any] = {"resourceVersion": rv}
    if end is not None:
        md["annotations"] = {INITIAL_EVENTS_END_ANNOTATION: end}
    return WatchEvent(EventType.BOOKMARK, {"metadata": md})


def gone() -> Gone:
    return Gone(410, "Expired", "The resourceVersion for the provided watch is too old.")


def too_many() -> TooManyRequests:
    return TooManyRequests(429, "TooManyRequests", "too many requests")


def internal() -> InternalError:
    return InternalError(500, "InternalError", "etcdserver: no leader")


def refused() -> TransportError:
    err = TransportError("connect failed")
    err.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return err


def broken() -> TransportError:
    return TransportError("watch: connection broke: ReadError('')")


def too_large(message: str, causes: list[dict[str, str]]) -> ServerTimeout:
    status = {"code": 504, "reason": "Timeout", "message": message, "details": {"causes": causes}}
    return ServerTimeout(504, "Timeout", message, status)


def run(
    state: State, outcomes: Iterable[Outcome], policy: Policy = LIST_WATCH
) -> tuple[State, list[Effect]]:
    """Step through ``outcomes``; the last state and every effect on the way."""
    effects: list[Effect] = []
    for outcome in outcomes:
        state, effect = step(state, outcome, policy)
        if effect is not None:
            effects.append(effect)
    return state, effects


def watching(rv: str = "5", *, received: bool = True, started_at: float = 0.0) -> Watching:
    return Watching(Progress(rv), started_at, hold_rv=False, received=received)


# -- a round's first state ----------------------------------------------------


def test_first_round_lists_at_zero_in_pages() -> None:
    # TestReflectorListAndWatch: the first LIST asks for RV "0", limit 500.
    state = begin_round(Progress(), LIST_WATCH)
    assert state == Listing(Progress(), 500)
    assert isinstance(state, Listing) and state.resource_version == "0"


def test_first_round_with_watch_list_streams_from_empty_rv() -> None:
    # TestWatchList: sendInitialEvents from RV "" first, from the last RV later.
    assert begin_round(Progress(), WATCH_LIST) == StreamingInitialEvents(Progress())
    state = begin_round(Progress("7"), WATCH_LIST)
    assert isinstance(state, StreamingInitialEvents)
    assert (state.resource_version, state.watch_open) == ("7", False)
    unavailable = begin_round(Progress("7", rv_unavailable=True), WATCH_LIST)
    assert isinstance(unavailable, StreamingInitialEvents) and unavailable.resource_version == ""


@pytest.mark.parametrize(
    ("progress", "policy", "rv", "limit"),
    [
        # TestReflectorWatchListPageSize: a configured page size always wins.
        (Progress("10"), Policy(use_watch_list=False, page_size=4), "10", 4),
        # TestReflectorNotPaginatingNotConsistentReads: a relist at a known
        # RV is not paged, so the watch cache can serve it.
        (Progress("10"), LIST_WATCH, "10", 0),
        # TestReflectorPaginatingNonConsistentReadsIfWatchCacheDisabled
        (Progress("10", paginated=True), LIST_WATCH, "10", 500),
        # After "expired" or "too large": a quorum read, paged.
        (Progress("10", rv_unavailable=True), LIST_WATCH, "", 500),
    ],
    ids=["page size", "specific rv", "watch cache off", "rv unavailable"],
)
def test_relist_resource_version_and_paging(
    progress: Progress, policy: Policy, rv: str, limit: int
) -> None:
    state = begin_round(progress, policy)
    assert isinstance(state, Listing)
    assert (state.resource_version, state.limit) == (rv, limit)


def test_each_round_has_its_own_internal_error_window() -> None:
    # client-go makes a new RetryWithDeadline per watch loop, i.e. per round.
    progress = Progress("5", internal_errors=RetryWindow(1.0, 2.0))
    assert begin_round(progress, LIST_WATCH).progress.internal_errors == RetryWindow()


# -- LIST ---------------------------------------------------------------------


def test_list_result_replaces_the_store_then_watches_from_its_rv() -> None:
    # TestReflectorResyncWithResourceVersion: the list's RV is the next start.
    items = [pod("a", rv="3")]
    state, effect = step(Listing(Progress(), 500), ListResult(items, "10", paginated=False))
    assert effect == Replace(items, "10")
    assert state == Listed(Progress("10"))
    assert isinstance(state, Listed) and state.resource_version == "10"


def test_a_paged_answer_to_rv_zero_keeps_paging() -> None:
    # TestReflectorPaginatingNonConsistentReadsIfWatchCacheDisabled: only a
    # paged answer to "0" means the watch cache is off.
    state, _ = step(Listing(Progress(), 500), ListResult([], "10", paginated=True))
    assert state.progress.paginated
    state, _ = step(Listing(Progress("10"), 0), ListResult([], "11", paginated=True))
    assert not state.progress.paginated


def test_expired_list_retries_at_once_from_empty_rv() -> None:
    # TestReflectorExpiredExactResourceVersion: "10" expired -> "" at once.
    state, effect = step(Listing(Progress("10"), 0), Failed(gone()))
    assert effect is None
    assert state == Relisting(Progress("10", rv_unavailable=True), 0)
    assert isinstance(state, Relisting) and state.resource_version == ""
    state, effect = step(state, ListResult([], "11", paginated=True))
    assert (state, effect) == (Listed(Progress("11")), Replace([], "11"))


@pytest.mark.parametrize(
    "error",
    [
        too_large("too large resource version", [{"reason": "ResourceVersionTooLarge"}]),
        too_large("Too large resource version", [{"message": "Too large resource version"}]),
        too_large("Too large resource version", []),
    ],
    ids=["cause reason", "cause message", "message"],
)
def test_too_large_rv_list_retries_from_empty_rv(error: ServerTimeout) -> None:
    # TestReflectorFullListIfTooLarge
    state, _ = step(Listing(Progress("20"), 0), Failed(error))
    assert isinstance(state, Relisting) and state.resource_version == ""


def test_relist_failing_again_ends_the_round_and_the_next_lists_from_empty_rv() -> None:
    err = gone()
    state, effect = step(Relisting(Progress("10", rv_unavailable=True), 0), Failed(err))
    assert (state, effect) == (RoundEnded(Progress("10", rv_unavailable=True), err), None)
    next_round = begin_round(state.progress, LIST_WATCH)
    assert isinstance(next_round, Listing) and next_round.resource_version == ""


def test_list_error_ends_the_round_with_it() -> None:
    # TestReflectorListAndWatchWithErrors: list_and_watch raises it.
    err = RuntimeError("a list error")
    state, effect = step(Listing(Progress("3"), 0), Failed(err))
    assert (state, effect) == (RoundEnded(Progress("3"), err), None)


# -- WatchList ----------------------------------------------------------------


def test_watch_list_opened_then_streams_into_the_temporary_store() -> None:
    state, effect = step(StreamingInitialEvents(Progress()), WatchOpened(100.0), WATCH_LIST)
    assert (state, effect) == (StreamingInitialEvents(Progress(), 100.0), None)
    assert state.watch_open
    added = event(EventType.ADDED, "p1", "1")
    state, effect = step(state, added, WATCH_LIST)
    assert effect == Apply(added, into_initial=True)
    assert state == StreamingInitialEvents(Progress(), 100.0, received=True)
    # Nothing moves the RV before the initial-events-end bookmark.
    for e in (event(EventType.MODIFIED, "p1", "3"), event(EventType.DELETED, "p1", "5")):
        nxt, effect = step(state, e, WATCH_LIST)
        assert (nxt, effect) == (state, Apply(e, into_initial=True))


@pytest.mark.parametrize("end", [None, "false"], ids=["no annotation", "annotation false"])
def test_other_bookmarks_do_not_end_the_initial_events(end: str | None) -> None:
    # TestWatchList "the value of the annotation is checked".
    state = StreamingInitialEvents(Progress(), 0.0, received=True)
    assert step(state, bookmark("2", end), WATCH_LIST) == (state, None)


def test_initial_events_end_bookmark_replaces_the_store_and_keeps_the_stream() -> None:
    # TestWatchList "synced after the bookmark": replace at the bookmark's RV,
    # then the same stream is the watch, RV propagated from its first event.
    progress = Progress("", rv_unavailable=True)
    state = StreamingInitialEvents(progress, 0.0, received=True)
    state, effect = step(state, bookmark("8", "true"), WATCH_LIST)
    assert effect == ReplaceWithInitialEvents("8")
    assert state == Listed(Progress("8"), watch_open=True)
    state, effect = step(state, WatchOpened(42.0), WATCH_LIST)
    assert (state, effect) == (Watching(Progress("8"), 42.0, hold_rv=False), None)


def test_stream_ending_before_the_initial_events_end_is_opened_again() -> None:
    # TestWatchList "stopping a watcher before sync makes a new watch-list
    # request"; a connection that broke counts the same.
    for error in (None, broken()):
        state = StreamingInitialEvents(Progress("4"), 0.0, received=True)
        nxt, effect = step(state, WatchEnded(0.5, error), WATCH_LIST)
        assert (nxt, effect) == (StreamingInitialEvents(Progress("4")), None)
        assert not nxt.watch_open  # the driver stops the old stream


def test_quiet_watch_list_lasting_a_second_is_opened_again() -> None:
    state = StreamingInitialEvents(Progress("4"), 10.0)
    assert step(state, WatchEnded(11.0), WATCH_LIST) == (
        StreamingInitialEvents(Progress("4")),
        None,
    )


def test_initial_events_that_cannot_be_understood_are_logged_and_skipped() -> None:
    state = StreamingInitialEvents(Progress(), 0.0)
    for bad in (
        WatchEvent(EventType.ADDED, {"kind": "Pod"}),
        WatchEvent(EventType.BOOKMARK, {"kind": "Status"}),
        WatchEvent(EventType.ERROR, pod("a", rv="6")),
    ):
        nxt, effect = step(state, bad, WATCH_LIST)
        assert nxt is state
        assert isinstance(effect, Note) and effect.level == logging.ERROR


@pytest.mark.parametrize(
    "outcome",
    [Failed(too_many()), Failed(refused()), WatchEnded(3.0, too_many())],
    ids=["429 on open", "connection refused", "429 while streaming"],
)
def test_watch_list_backs_off_and_retries_when_the_server_is_busy(outcome: Outcome) -> None:
    # TestWatchList "retries 429".
    state = StreamingInitialEvents(Progress("4"), 0.0)
    nxt, effect = step(state, outcome, WATCH_LIST)
    assert (nxt, effect) == (BackingOff(StreamingInitialEvents(Progress("4"))), None)
    assert step(nxt, RESUMED, WATCH_LIST) == (StreamingInitialEvents(Progress("4")), None)


@pytest.mark.parametrize(
    "error", [gone(), too_large("Too large resource version", [])], ids=["expired", "too large"]
)
def test_watch_list_at_unavailable_rv_asks_for_the_newest_state(error: Exception) -> None:
    state, effect = step(StreamingInitialEvents(Progress("7")), Failed(error), WATCH_LIST)
    assert (state, effect) == (StreamingInitialEvents(Progress("7", rv_unavailable=True)), None)
    assert isinstance(state, StreamingInitialEvents) and state.resource_version == ""


@pytest.mark.parametrize(
    "outcome",
    [
        Failed(RuntimeError("dummy error")),
        Failed(Invalid(422, "Invalid", "streaming is not allowed")),
        WatchEnded(2.0, RuntimeError("stream broke")),
    ],
    ids=["any error", "server without streaming", "error while streaming"],
)
def test_watch_list_failure_falls_back_to_list(outcome: Outcome) -> None:
    # TestWatchList "falls back to LIST/WATCH".
    state, effect = step(StreamingInitialEvents(Progress(), 0.0), outcome, WATCH_LIST)
    assert state == Listing(Progress(), 500)
    assert isinstance(effect, Note) and effect.level == logging.WARNING
    assert "falling back to LIST/WATCH" in effect.message


def test_very_short_watch_list_falls_back_to_list() -> None:
    state, effect = step(StreamingInitialEvents(Progress(), 10.0), WatchEnded(10.5), WATCH_LIST)
    assert isinstance(state, Listing)
    assert isinstance(effect, Note) and "less than a second" in effect.message


def test_replace_failure_of_a_watch_list_falls_back_to_list() -> None:
    # The driver feeds a failed effect back to the state that asked for it.
    asked = StreamingInitialEvents(Progress(), 0.0, received=True)
    state, effect = step(asked, Failed(RuntimeError("store is full")), WATCH_LIST)
    assert isinstance(state, Listing) and isinstance(effect, Note)


# -- opening a watch ------------------------------------------------------------


def test_listed_opens_a_watch_from_the_last_rv() -> None:
    state = Listed(Progress("5"))
    assert (state.resource_version, state.watch_open) == ("5", False)
    assert step(state, WatchOpened(7.0)) == (Watching(Progress("5"), 7.0, hold_rv=False), None)


@pytest.mark.parametrize("rv", ["", "0"])
def test_watch_from_empty_or_zero_rv_holds_the_rv(rv: str) -> None:
    # Initial synthetic ADDED events come in no RV order.
    state, _ = step(Listed(Progress(rv)), WatchOpened(0.0))
    assert state == Watching(Progress(rv), 0.0, hold_rv=True)


def test_watch_list_stream_goes_on_without_holding_the_rv() -> None:
    # client-go: a watch it was handed is past any synthetic ADDED events.
    state, _ = step(Listed(Progress("0"), watch_open=True), WatchOpened(0.0))
    assert state == Watching(Progress("0"), 0.0, hold_rv=False)


@pytest.mark.parametrize(
    "error", [too_many(), refused()], ids=["429 (TestNoRelistOnTooManyRequests)", "refused"]
)
def test_refused_watch_open_backs_off_and_rewatches(error: Exception) -> None:
    # TestBackoffOnTooManyRequests: back off, re-watch from the same RV.
    state, effect = step(Listed(Progress("5")), Failed(error))
    assert (state, effect) == (BackingOff(Listed(Progress("5"))), None)
    assert state.progress == Progress("5") and not state.watch_open
    assert step(state, RESUMED) == (Listed(Progress("5")), None)


def test_failed_watch_open_ends_the_round_with_the_error() -> None:
    # TestWatchList "expiring an established watcher returns an error".
    err = gone()
    assert step(Listed(Progress("3")), Failed(err)) == (RoundEnded(Progress("3"), err), None)


# -- watching -------------------------------------------------------------------


def test_watch_handler_applies_events_and_advances_the_rv() -> None:
    # TestReflectorWatchHandler
    deleted = event(EventType.DELETED, "foo", "")
    modified = event(EventType.MODIFIED, "bar", "55")
    added = event(EventType.ADDED, "baz", "32")
    state, effects = run(watching("1", received=False), [deleted, modified, added])
    assert effects == [
        Apply(deleted, resource_version=""),
        Apply(modified, resource_version="55"),
        Apply(added, resource_version="32"),
    ]
    assert state == Watching(Progress("32"), 0.0, hold_rv=False, received=True)


def test_bookmark_only_moves_the_rv() -> None:
    # TestReflectorResourceVersionUpdate: every event's RV reaches the store.
    state, effects = run(
        watching("10"),
        [event(EventType.ADDED, "a", "10"), event(EventType.MODIFIED, "a", "20"), bookmark("30")],
    )
    assert [e.resource_version for e in effects if isinstance(e, (Apply, Reached))] == [
        "10",
        "20",
        "30",
    ]
    assert effects[-1] == Reached("30")
    assert state.progress.last_sync_rv == "30"


def test_held_rv_moves_from_the_first_event_that_is_not_an_add() -> None:
    adds = [event(EventType.ADDED, "b", "9"), event(EventType.ADDED, "a", "4")]
    modified = event(EventType.MODIFIED, "a", "11")
    later_add = event(EventType.ADDED, "c", "12")
    state, effects = run(Watching(Progress("0"), 0.0, hold_rv=True), [*adds, modified, later_add])
    assert effects == [
        Apply(adds[0]),
        Apply(adds[1]),
        Apply(modified, resource_version="11"),
        Apply(later_add, resource_version="12"),
    ]
    assert state == Watching(Progress("12"), 0.0, hold_rv=False, received=True)


def test_events_that_cannot_be_understood_are_logged_and_skipped() -> None:
    state = watching("5")
    for bad, words in (
        (WatchEvent(EventType.ADDED, {"kind": "Pod"}), "without metadata"),
        (WatchEvent(EventType.ERROR, pod("a", rv="6")), "unable to understand"),
    ):
        nxt, effect = step(state, bad)
        assert nxt is state
        assert isinstance(effect, Note) and effect.level == logging.ERROR
        assert words in effect.message


def test_normal_close_rewatches_from_the_last_rv() -> None:
    # client-go re-watches after a closed watch, no relist.
    assert step(watching("7"), WatchEnded(100.0)) == (Listed(Progress("7")), None)


def test_broken_connection_rewatches_like_a_normal_close() -> None:
    # A probable EOF, or a watch silent for too long (the client's 75 s).
    state, effect = step(watching("7"), WatchEnded(100.0, broken()))
    assert state == Listed(Progress("7"))
    assert isinstance(effect, Note) and effect.level == logging.DEBUG


@pytest.mark.parametrize("error", [None, broken()], ids=["closed", "broken"])
def test_very_short_watch_ends_the_round(error: Exception | None) -> None:
    # TestReflectorHandleWatchResultChanClosedBefore: no event within 1 s.
    ended = WatchEnded(10.9, error)
    state, effect = step(watching("7", received=False, started_at=10.0), ended, LIST_WATCH)
    assert state == RoundEnded(Progress("7"))
    assert isinstance(effect, ReportError) and isinstance(effect.error, VeryShortWatchError)
    assert str(effect.error).startswith("pods: unexpected watch close")


def test_quiet_watch_lasting_a_second_is_not_very_short() -> None:
    # TestReflectorHandleWatchResultChanClosedAfter
    state, effect = step(watching("7", received=False, started_at=10.0), WatchEnded(11.0))
    assert (state, effect) == (Listed(Progress("7")), None)


def test_too_many_requests_while_watching_backs_off_and_rewatches() -> None:
    # TestBackoffOnTooManyRequests
    state, effect = step(watching("7"), WatchEnded(5.0, too_many()))
    assert (state, effect) == (BackingOff(Listed(Progress("7"))), None)


def test_gone_while_watching_relists_from_the_last_rv() -> None:
    # client-go: a 410 on a watch does not make the last RV unavailable.
    err = gone()
    state, effect = step(watching("7"), WatchEnded(5.0, err))
    assert (state, effect) == (RoundEnded(Progress("7")), ReportError(err))
    next_round = begin_round(state.progress, LIST_WATCH)
    assert isinstance(next_round, Listing) and next_round.resource_version == "7"


def test_failing_resync_ends_the_watch_with_its_error() -> None:
    # TestReflectorResync / TestCloseWatchChannelOnError: the error goes to
    # the watch error handler, list_and_watch returns.
    err = RuntimeError("expected resync reached")
    assert step(watching("7"), WatchEnded(5.0, err)) == (
        RoundEnded(Progress("7")),
        ReportError(err),
    )


def test_failed_effect_while_watching_ends_the_round_with_it() -> None:
    err = RuntimeError("the watch error handler failed")
    assert step(watching("7"), Failed(err)) == (RoundEnded(Progress("7"), err), None)


@pytest.mark.parametrize(
    ("max_duration", "rewind_at", "want_retries"),
    [(0.0, 0, 0), (30.0, 0, 31), (30.0, 10, 40)],
    ids=["retries off", "retries on, all calls fail", "retries on, one call successful"],
)
def test_retry_internal_error(max_duration: float, rewind_at: int, want_retries: int) -> None:
    # TestRetryInternalError: every watch fails with a 500 one second after
    # the one before; at ``rewind_at`` a minute passes first.
    policy = Policy(use_watch_list=False, max_internal_error_retry_duration=max_duration)
    state: State = begin_round(Progress("1"), policy)
    state, _ = step(state, ListResult([], "1", paginated=False), policy)
    now, watches = 0.0, 0
    while not isinstance(state, RoundEnded):
        assert isinstance(state, Listed)
        watches += 1
        if watches == rewind_at:
            now += 60
        now += 1
        state, _ = step(state, WatchOpened(now), policy)
        state, effect = step(state, WatchEnded(now, internal()), policy)
    assert isinstance(effect, ReportError) and isinstance(effect.error, InternalError)
    assert watches - 1 == want_retries


# -- backing off, stopping, and what no state expects ---------------------------


def test_backing_off_resumes_with_what_it_was_going_to_do() -> None:
    then = StreamingInitialEvents(Progress("3"))
    state = BackingOff(then)
    assert state.progress is then.progress and not state.watch_open
    assert step(state, RESUMED) == (then, None)


@pytest.mark.parametrize(
    "state",
    [
        Listing(Progress("3"), 0),
        Relisting(Progress("3", rv_unavailable=True), 0),
        StreamingInitialEvents(Progress("3")),
        StreamingInitialEvents(Progress("3"), 1.0, received=True),
        Listed(Progress("3")),
        Listed(Progress("3"), watch_open=True),
        Watching(Progress("3"), 1.0),
        BackingOff(Listed(Progress("3"))),
    ],
    ids=lambda s: type(s).__name__,
)
def test_stop_stops_every_state(state: State) -> None:
    # TestReflectorWatchStoppedBefore/After, TestReflectorStopWatch
    assert step(state, STOP) == (Stopped(state.progress), None)
    assert not Stopped(state.progress).watch_open


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (RoundEnded(Progress("3")), event(EventType.ADDED, "a", "4")),
        (Stopped(Progress("3")), RESUMED),
        (Listed(Progress("3")), ListResult([], "4", paginated=False)),
        (Watching(Progress("3"), 0.0), RESUMED),
        (BackingOff(Listed(Progress("3"))), WatchOpened(0.0)),
        (StreamingInitialEvents(Progress("3")), WatchEnded(0.0)),
        (StreamingInitialEvents(Progress("3"), 1.0), WatchOpened(2.0)),
    ],
    ids=lambda v: type(v).__name__,
)
def test_an_outcome_a_state_never_asks_for_is_a_bug(state: State, outcome: Outcome) -> None:
    with pytest.raises(ValueError, match="does not expect"):
        step(state, outcome)


def test_step_never_changes_the_state_it_is_given() -> None:
    states: list[State] = [
        Listing(Progress("3"), 0),
        StreamingInitialEvents(Progress("3"), 1.0),
        Listed(Progress("3")),
        Watching(Progress("0"), 1.0, hold_rv=True),
    ]
    outcomes: list[Outcome] = [
        ListResult([], "4", paginated=True),
        bookmark("4", "true"),
        WatchOpened(2.0),
        event(EventType.MODIFIED, "a", "4"),
    ]
    for state, outcome in zip(states, outcomes, strict=True):
        before = copy.deepcopy(state)
        step(state, outcome)
        assert state == before


def test_a_whole_round_list_then_watch() -> None:
    # TestReflectorListAndWatch, as the driver sees it.
    items = [pod("foo", rv="1")]
    events = [event(EventType.MODIFIED, "foo", "2"), event(EventType.ADDED, "bar", "3")]
    state, effects = run(
        begin_round(Progress(), LIST_WATCH),
        [ListResult(items, "1", paginated=False), WatchOpened(0.0), *events, WatchEnded(9.0)],
    )
    assert effects == [
        Replace(items, "1"),
        Apply(events[0], resource_version="2"),
        Apply(events[1], resource_version="3"),
    ]
    assert state == Listed(Progress("3"))


# -- the internal-error window ----------------------------------------------------


def test_retry_window_counts_only_internal_errors() -> None:
    window = RetryWindow()
    assert window.after(None, 5.0) is window
    assert window.after(too_many(), 5.0) is window
    assert window.after(internal(), 5.0) == RetryWindow(5.0, 5.0)


def test_retry_window_starts_over_after_a_quiet_spell() -> None:
    window = RetryWindow().after(internal(), 0.0).after(internal(), 10.0)
    assert window == RetryWindow(0.0, 10.0)
    assert window.after(internal(), 10.0 + RETRY_WINDOW_RESET) == RetryWindow(70.0, 70.0)


def test_retry_window_runs_out_and_is_forgotten() -> None:
    window = RetryWindow(0.0, 0.0)
    assert window.should_retry(30.0, max_duration=30.0) == (True, window)
    assert window.should_retry(30.5, max_duration=30.0) == (False, RetryWindow())
    assert window.should_retry(1.0, max_duration=0.0) == (False, window)
