"""The reflector's step function: the state after an outcome, and what the
driver must do on the way there (the states, outcomes and effects are in
:mod:`kubeloop.cache.reflector_state`).

::

    state = begin_round(Progress(), Policy(use_watch_list=False))
    state, effect = step(state, ListResult(items, "10", paginated=False))

The rules, and why (client-go's, kept exactly):

- The first LIST asks for resourceVersion "0" (any cached state will do; it
  is cheap for the server). Later LISTs ask for the last RV this reflector
  synced, so that a relist never travels back in time (an API server that
  lags behind must not roll the cache back). Only when the server answered
  that RV is expired (410) or too large does the next LIST use "" (a quorum
  read of the newest state), and that LIST is retried at once.
- LISTs are paged by 500 objects when the request may hit etcd (RV "" or
  "0", or once a LIST at "0" came back paged: the watch cache is off). A
  LIST at a specific RV is not paged, so the watch cache can serve it.
- WatchList (sendInitialEvents) streams the initial state into a temporary
  store until the bookmark annotated ``k8s.io/initial-events-end: "true"``,
  then replaces the store with it at the bookmark's RV and goes on reading
  the same stream as the watch. A stream that ends before that bookmark is
  opened again; 429 and "connection refused" back off first; an expired or
  too large RV asks for "" instead; any other failure falls back to LIST.
- How a watch ended decides what comes next: a normal close, or a
  connection that broke mid-stream (a ``TransportError``, e.g. a watch that
  heard nothing for too long), is re-watched from the last RV (no relist);
  a watch that closed within a second with no events, a 410, or any other
  error ends the round, so that the next one relists (with the last RV: a
  410 on a watch does not make it unavailable, a LIST at an old RV still
  returns current data); 429 backs off and re-watches, and so do 429 and
  "connection refused" when opening a watch (a relist would only add load
  to an API server already in trouble); any other failure to open one
  ends the round with it; a 500 is re-watched at once for up to
  ``max_internal_error_retry_duration``.
- A watch started from "" or "0" does not advance the RV on its initial
  synthetic ADDED events (they come in no RV order), only from the first
  other event on. No RV moves before the data it stands for is in the store.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeloop.cache.accessor import MissingMetadataError, get_annotations, get_resource_version
from kubeloop.cache.reflector_state import (
    DEFAULT_POLICY,
    INITIAL_EVENTS_END_ANNOTATION,
    NO_INTERNAL_ERRORS,
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
    Resumed,
    RoundEnded,
    State,
    Stop,
    Stopped,
    StreamingInitialEvents,
    Transition,
    VeryShortWatchError,
    WatchEnded,
    Watching,
    WatchOpened,
)
from kubeloop.client.types import DEFAULT_PAGE_SIZE, EventType, WatchEvent
from kubeloop.errors import (
    TransportError,
    is_gone,
    is_internal_error,
    is_too_large_resource_version,
    is_too_many_requests,
)

__all__ = ["begin_round", "step"]

#: A watch that ends sooner than this with no event is "very short".
_VERY_SHORT_WATCH = 1.0

# Bound once: reading an Enum member off its class is a Python-level lookup,
# and every watch event compares its type.
_ADDED = EventType.ADDED
_MODIFIED = EventType.MODIFIED
_DELETED = EventType.DELETED
_BOOKMARK = EventType.BOOKMARK
# A tuple, not a set: an Enum member's hash is Python code too.
_OBJECT_EVENTS = (_ADDED, _MODIFIED, _DELETED)


def begin_round(progress: Progress, policy: Policy) -> State:
    """The first state of a list-and-watch round (each round has its own
    internal-error window, as client-go's watch loop does)."""
    progress = progress.with_window(NO_INTERNAL_ERRORS)
    if policy.use_watch_list:
        return StreamingInitialEvents(progress)
    return _listing(progress, policy)


def step(state: State, outcome: Outcome, policy: Policy = DEFAULT_POLICY) -> Transition:
    """The state after ``outcome`` happened in ``state``, and what the driver
    must do on the way there (``None``: nothing).

    Raises ValueError for an outcome the state never asks for.
    """
    if type(outcome) is Stop:
        return Stopped(state.progress), None
    if type(state) is Watching:  # the hot path: one event after another
        if type(outcome) is WatchEvent:
            return _watch_event(state, outcome)
        if type(outcome) is WatchEnded:
            return _watch_ended(state, outcome, policy)
        if type(outcome) is Failed:
            return RoundEnded(state.progress, outcome.error), None
    elif type(state) is StreamingInitialEvents:
        return _streaming(state, outcome, policy)
    elif type(state) is Listed:
        if type(outcome) is WatchOpened:
            hold = not state.watch_open and state.resource_version in ("", "0")
            return Watching(state.progress, outcome.started_at, hold), None
        if type(outcome) is Failed:
            if _is_watch_error_retriable(outcome.error):
                return BackingOff(Listed(state.progress)), None
            return RoundEnded(state.progress, outcome.error), None
    elif type(state) is Listing or type(state) is Relisting:
        if type(outcome) is ListResult:
            paged = outcome.paginated and state.resource_version == "0"
            progress = Progress(
                outcome.resource_version,
                False,
                state.progress.paginated or paged,
                state.progress.internal_errors,
            )
            return Listed(progress), Replace(outcome.items, outcome.resource_version)
        if type(outcome) is Failed:
            if type(state) is Listing and _is_rv_unavailable(outcome.error):
                return Relisting(state.progress.unavailable(), state.limit), None
            return RoundEnded(state.progress, outcome.error), None
    elif type(state) is BackingOff and type(outcome) is Resumed:
        return state.then, None
    raise ValueError(f"{type(state).__name__} does not expect {type(outcome).__name__}")


def _listing(progress: Progress, policy: Policy) -> Listing:
    rv = progress.relist_resource_version()
    if policy.page_size:
        limit = policy.page_size
    elif progress.paginated or rv in ("", "0"):
        limit = DEFAULT_PAGE_SIZE
    else:
        # A LIST at a specific RV without a limit can be served from the
        # watch cache; paging would force every relist onto etcd.
        limit = 0
    return Listing(progress, limit)


def _watch_event(state: Watching, event: WatchEvent[Any]) -> Transition:
    kind = event.type
    try:
        rv = get_resource_version(event.object)
    except MissingMetadataError:
        return state, Note(logging.ERROR, f"watch event object without metadata: {event!r}")
    if kind == _ADDED and state.hold_rv:
        if state.received:
            return state, Apply(event)
        return Watching(state.progress, state.started_at, True, True), Apply(event)
    if kind == _BOOKMARK:
        effect: Effect = Reached(rv)  # a bookmark only moves the RV forward
    elif kind in _OBJECT_EVENTS:
        effect = Apply(event, False, rv)
    else:
        return state, Note(logging.ERROR, f"unable to understand watch event {kind!r}")
    progress = state.progress
    reached = Progress(rv, False, progress.paginated, progress.internal_errors)
    return Watching(reached, state.started_at, False, True), effect


def _watch_ended(state: Watching, ended: WatchEnded, policy: Policy) -> Transition:
    error = ended.error
    note: Note | None = None
    if isinstance(error, TransportError):
        # A connection that broke mid-stream (reset, EOF, GOAWAY, silence)
        # ends the watch like a normal close, as client-go's StreamWatcher
        # treats every probable EOF.
        note = Note(logging.DEBUG, f"watch stream broke: {error}")
        error = None
    if error is None and not state.received and ended.at - state.started_at < _VERY_SHORT_WATCH:
        error = _very_short(policy)
    window = state.progress.internal_errors.after(error, ended.at)
    if error is None:
        return Listed(state.progress.with_window(window)), note
    if is_too_many_requests(error):
        return BackingOff(Listed(state.progress.with_window(window))), None
    if is_internal_error(error):
        retry, window = window.should_retry(ended.at, policy.max_internal_error_retry_duration)
        if retry:
            return Listed(state.progress.with_window(window)), None
    return RoundEnded(state.progress.with_window(window)), ReportError(error)


def _streaming(state: StreamingInitialEvents, outcome: Outcome, policy: Policy) -> Transition:
    if type(outcome) is WatchEvent:
        return _initial_event(state, outcome)
    if type(outcome) is WatchOpened and state.started_at is None:
        return StreamingInitialEvents(state.progress, outcome.started_at), None
    if type(outcome) is WatchEnded and state.started_at is not None:
        error = outcome.error
        if error is None or isinstance(error, TransportError):
            if state.received or outcome.at - state.started_at >= _VERY_SHORT_WATCH:
                # The stream ended before the initial events did: start over.
                return StreamingInitialEvents(state.progress), None
            error = _very_short(policy)
        return _watch_list_failed(state.progress, error, policy)
    if type(outcome) is Failed:
        return _watch_list_failed(state.progress, outcome.error, policy)
    raise ValueError(f"{state!r} does not expect {type(outcome).__name__}")


def _initial_event(state: StreamingInitialEvents, event: WatchEvent[Any]) -> Transition:
    kind = event.type
    try:
        rv = get_resource_version(event.object)
        end = kind == _BOOKMARK and (
            get_annotations(event.object).get(INITIAL_EVENTS_END_ANNOTATION) == "true"
        )
    except MissingMetadataError:
        return state, Note(logging.ERROR, f"watch event object without metadata: {event!r}")
    if end:
        # Synced: the store gets the streamed state at the bookmark's RV.
        return Listed(state.progress.reached(rv), watch_open=True), ReplaceWithInitialEvents(rv)
    if kind in _OBJECT_EVENTS:
        effect: Effect | None = Apply(event, into_initial=True)
    elif kind == _BOOKMARK:
        effect = None
    else:
        return state, Note(logging.ERROR, f"unable to understand watch event {kind!r}")
    if state.received:
        return state, effect
    return StreamingInitialEvents(state.progress, state.started_at, True), effect


def _watch_list_failed(progress: Progress, error: BaseException, policy: Policy) -> Transition:
    if _is_watch_error_retriable(error):
        return BackingOff(StreamingInitialEvents(progress)), None
    if _is_rv_unavailable(error):
        # Ask for the newest consistent state instead.
        return StreamingInitialEvents(progress.unavailable()), None
    return _listing(progress, policy), Note(
        logging.WARNING, f"the watch-list request failed, falling back to LIST/WATCH: {error}"
    )


def _very_short(policy: Policy) -> VeryShortWatchError:
    return VeryShortWatchError(
        f"{policy.name}: unexpected watch close - "
        "watch lasted less than a second and no items received"
    )


def _is_rv_unavailable(err: BaseException) -> bool:
    return is_gone(err) or is_too_large_resource_version(err)


def _is_connection_refused(err: BaseException) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "connection refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_watch_error_retriable(err: BaseException) -> bool:
    # The API server is most likely only overloaded or restarting: re-watch
    # where we ended after a backoff; a relist would only add load.
    return is_too_many_requests(err) or _is_connection_refused(err)
