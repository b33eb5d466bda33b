"""Reflector: keep a store equal to the server's contents for one resource.

It LISTs (or, with WatchList, streams the initial state), hands the result to
``store.replace``, then WATCHes from the list's resourceVersion and applies
each event to the store, forever::

    stop = threading.Event()
    reflector = Reflector(ListWatch.from_client(pods), store=fifo)
    threading.Thread(target=reflector.run, args=(stop,)).start()

What to do next is decided in one place, the step function of
:mod:`kubeloop.cache.reflector_state` (where the rules and their reasons are
written down), from the current state and what just happened. This module
is its driver and does only the I/O: it performs the request the state asks
for (a LIST, opening a watch, reading one event, sleeping a backoff), feeds
the outcome to ``step``, performs the effect it gets back (a store write, a
report to the watch error handler, a log line), and repeats. So every rule
is tested without a thread, and the threads here carry no rule. What is
left to the driver:

- ``stop`` is checked before every request and after every event, and it
  interrupts a blocked read at once (``stream.stop()`` through
  :func:`~kubeloop.cache.stop.on_stop`); so does a resync that fails.
- Resync runs on its own thread while a round watches: every
  ``resync_period`` it calls ``store.resync()``.
- Every watch asks for bookmarks (allowWatchBookmarks), so that a re-watch
  starts from a recent RV rather than one the server may have compacted;
  a watch's timeout is random in [5, 10) minutes to spread reconnections.
- An informer's transform (e.g. strip_managed_fields) is applied here, to
  each object as it arrives (each LIST page, each watch event), rather than
  when the object is queued: an initial list is only handed over once it is
  complete, and until then every listed object would keep what the
  transform drops (managedFields: about half of a small object's memory).
  Each object is still transformed exactly once, before anything else
  sees it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kubeloop.cache import reflector_state as states
from kubeloop.cache._watch import WatchSession
from kubeloop.cache.backoff import BackoffManager, ExponentialBackoffManager
from kubeloop.cache.delta_fifo import TransformFunc
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.keys import deletion_handling_meta_namespace_key_func
from kubeloop.cache.listwatch import ListerWatcher
from kubeloop.cache.pager import DEFAULT_PAGE_SIZE, list_all
from kubeloop.cache.reflector_state import INITIAL_EVENTS_END_ANNOTATION, VeryShortWatchError
from kubeloop.cache.reflector_step import begin_round, step
from kubeloop.cache.stop import on_stop
from kubeloop.cache.store import BookmarkStore, Store
from kubeloop.client.types import EventType, ListOptions
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import is_gone

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "INITIAL_EVENTS_END_ANNOTATION",
    "Reflector",
    "ReflectorOptions",
    "VeryShortWatchError",
    "WatchErrorHandler",
    "default_watch_error_handler",
]

_log = logging.getLogger(__name__)

_MIN_WATCH_TIMEOUT = 300.0

# Bound once: reading an Enum member off its class is a Python-level lookup.
_ADDED = EventType.ADDED
_MODIFIED = EventType.MODIFIED

#: Called with the reflector and the error whenever list-and-watch fails.
WatchErrorHandler = Callable[["Reflector", BaseException], None]


@dataclass
class ReflectorOptions:
    """Tuning knobs and test seams of a :class:`Reflector`.

    ``clock`` measures watch durations and internal-error retry windows
    and sleeps the backoffs (``clock.sleep(seconds, stop)``); ``backoff``
    (one per reflector; None makes the default 0.8 s..30 s one, on
    ``clock``); ``rand`` draws the watch timeout.
    """

    name: str = "reflector"
    #: Force this page size for every LIST (client-go's WatchListPageSize).
    page_size: int = 0
    #: Try WatchList streaming first and fall back to LIST on any failure.
    use_watch_list: bool = True
    #: The watch timeout is random in [min, 2*min); below 5 min is not honoured.
    min_watch_timeout: float = _MIN_WATCH_TIMEOUT
    #: How long to keep re-watching after 500s (0: never).
    max_internal_error_retry_duration: float = 0.0
    clock: Clock = REAL_CLOCK
    backoff: BackoffManager | None = None
    rand: Callable[[], float] = field(default=random.random)


def default_watch_error_handler(reflector: Reflector, err: BaseException) -> None:
    """Log the error at a level fitting how ordinary it is."""
    if is_gone(err):
        _log.debug("%s: watch closed with: %s", reflector.name, err)
    elif isinstance(err, VeryShortWatchError):
        _log.info("%s", err)  # the message names the reflector already
    else:
        _log.warning("%s: failed to list and watch: %s", reflector.name, err)


class Reflector:
    """Mirror one resource into ``store`` (client-go's Reflector).

    ``resync_period`` > 0 calls ``store.resync()`` that often while watching
    (when ``should_resync`` is None or returns True). ``store`` may also
    offer ``update_resource_version(rv)`` to be told every RV reached.
    ``transform`` is applied to every object before the store sees it
    (tombstones and resyncs are made later, from transformed objects).
    """

    def __init__(
        self,
        list_watch: ListerWatcher,
        store: Store,
        resync_period: float = 0.0,
        options: ReflectorOptions | None = None,
        *,
        should_resync: Callable[[], bool] | None = None,
        watch_error_handler: WatchErrorHandler | None = None,
        transform: TransformFunc | None = None,
    ) -> None:
        opts = options or ReflectorOptions()
        self.name = opts.name
        self.resync_period = resync_period
        self.should_resync = should_resync
        self._lw = list_watch
        self._store = store
        self._update_rv: Callable[[str], None] | None = getattr(
            store, "update_resource_version", None
        )
        self._policy = states.Policy(
            name=opts.name,
            page_size=opts.page_size,
            use_watch_list=opts.use_watch_list,
            max_internal_error_retry_duration=opts.max_internal_error_retry_duration,
        )
        self._min_watch_timeout = max(opts.min_watch_timeout, _MIN_WATCH_TIMEOUT)
        self._clock = opts.clock
        self._rand = opts.rand
        self._backoff: BackoffManager = opts.backoff or ExponentialBackoffManager(clock=opts.clock)
        self._watch_error_handler = watch_error_handler or default_watch_error_handler
        self._transform = transform
        # What the last step reached: written by the list_and_watch thread
        # after each step, read by others (last_sync_resource_version). No
        # lock: the value is replaced whole, never changed in place, so a
        # reader sees the one before or the one after (and each event would
        # pay for a lock).
        self._progress = states.Progress()

    # -- public -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """list_and_watch until ``stop`` is set, backing off between rounds."""
        _log.debug("%s: starting reflector", self.name)
        while not stop.is_set():
            try:
                self.list_and_watch(stop)
            except Exception as err:
                self._watch_error_handler(self, err)
            if stop.is_set() or self._clock.sleep(self._backoff.backoff(), stop):
                break
        _log.debug("%s: stopping reflector", self.name)

    def list_and_watch(self, stop: threading.Event) -> None:
        """One round: get the full state, then watch until the watch fails.

        Raises when the full state could not be had (the LIST failed, or the
        watch could not even be opened); returns when a watch ended in a
        way that calls for a relist, or when ``stop`` was set.
        """
        end = self._run_round(begin_round(self._progress, self._policy), stop)
        if isinstance(end, states.RoundEnded) and end.error is not None:
            raise end.error

    def last_sync_resource_version(self) -> str:
        """The RV of the last list, or of the last watch event applied."""
        return self._progress.last_sync_rv

    def set_watch_error_handler(self, handler: WatchErrorHandler) -> None:
        self._watch_error_handler = handler

    # -- the driver -----------------------------------------------------------

    def _run_round(self, state: states.State, stop: threading.Event) -> states.State:
        """Drive ``state`` until the round ends or stops; return that state."""
        session = WatchSession()
        unregister = on_stop(stop, session.close)
        round_ = _Round(session)
        try:
            while True:
                kind = type(state)
                if kind is states.RoundEnded or kind is states.Stopped:
                    return state
                if stop.is_set():
                    outcome: states.Outcome = states.STOP
                elif kind is states.Watching:  # the hot path: one event after another
                    outcome = self._next_event(session, stop)
                else:
                    outcome = self._request(state, round_, stop)
                state = self._advance(state, outcome, round_)
        finally:
            unregister()
            session.detach()
            round_.stop_resync()

    def _advance(
        self, state: states.State, outcome: states.Outcome, round_: _Round
    ) -> states.State:
        nxt, effect = step(state, outcome, self._policy)
        if effect is not None:
            try:
                if type(effect) is states.Apply:  # the hot path
                    self._apply(effect, round_)
                else:
                    self._perform(effect, round_)
            except Exception as err:
                # The state that asked for the write hears that it failed: a
                # WatchList falls back to LIST, a LIST's round ends with it.
                nxt, effect = step(state, states.Failed(err), self._policy)
                if effect is not None:
                    self._perform(effect, round_)
        if not nxt.watch_open:
            round_.session.detach()
        if nxt.progress is not state.progress:
            self._progress = nxt.progress
        if type(nxt) is states.Listed and self.resync_period > 0:
            round_.start_resync(self._resync_loop, f"kubeloop-resync-{self.name}")
        return nxt

    def _request(
        self, state: states.State, round_: _Round, stop: threading.Event
    ) -> states.Outcome:
        """Do what ``state`` asks for; return what happened."""
        match state:
            case states.Watching():
                return self._next_event(round_.session, stop)
            case states.Listed(watch_open=True):
                return states.WatchOpened(self._clock.now())  # the WatchList stream goes on
            case states.Listed():
                options = ListOptions(
                    resource_version=state.resource_version,
                    timeout_seconds=self._watch_timeout(),
                    allow_watch_bookmarks=True,
                )
                return self._open_watch(options, round_)
            case states.StreamingInitialEvents(started_at=None):
                round_.initial = Indexer(deletion_handling_meta_namespace_key_func)
                options = ListOptions(
                    resource_version=state.resource_version,
                    allow_watch_bookmarks=True,
                    send_initial_events=True,
                    resource_version_match="NotOlderThan",
                    timeout_seconds=self._watch_timeout(),
                )
                return self._open_watch(options, round_)
            case states.StreamingInitialEvents():
                return self._next_event(round_.session, stop)
            case states.Listing() | states.Relisting():
                try:
                    result = list_all(
                        self._lw.list, stop, state.resource_version, state.limit, self._transform
                    )
                except Exception as err:
                    return states.Failed(err)
                return states.STOP if result is None else states.ListResult(*result)
            case states.BackingOff():
                stopped = self._clock.sleep(self._backoff.backoff(), stop)
                return states.STOP if stopped else states.RESUMED
        raise ValueError(f"nothing to do in {state!r}")

    def _open_watch(self, options: ListOptions, round_: _Round) -> states.Outcome:
        # Start the clock before the request: some proxies send no headers
        # until the first event.
        start = self._clock.now()
        try:
            stream = self._lw.watch(options)
        except Exception as err:
            return states.Failed(err)
        round_.session.attach(stream)
        return states.WatchOpened(start)

    def _next_event(self, session: WatchSession, stop: threading.Event) -> states.Outcome:
        try:
            event = next(session.events)
        except StopIteration:
            return self._watch_ended(session, stop, None)
        except Exception as err:
            return self._watch_ended(session, stop, err)
        if stop.is_set():
            return states.STOP
        error = session.take_error()
        if error is not None:
            return states.WatchEnded(self._clock.now(), error)
        return event

    def _watch_ended(
        self, session: WatchSession, stop: threading.Event, err: BaseException | None
    ) -> states.Outcome:
        # Stopping a stream may make the read fail rather than end.
        if stop.is_set():
            return states.STOP
        failed = session.take_error()
        return states.WatchEnded(self._clock.now(), err if failed is None else failed)

    def _perform(self, effect: states.Effect, round_: _Round) -> None:
        match effect:
            case states.Apply():
                self._apply(effect, round_)
            case states.Reached():
                if self._update_rv is not None:
                    self._update_rv(effect.resource_version)
                # Stores that want the bookmark's resourceVersion get it (the
                # informer's RealFIFO queues it for the indexer's gauge), as
                # client-go's ReflectorBookmarkStore.
                if isinstance(self._store, BookmarkStore):
                    try:
                        self._store.bookmark(effect.resource_version)
                    except Exception:
                        _log.exception("%s: the store refused a bookmark", self.name)
            case states.Replace():
                self._store.replace(effect.items, effect.resource_version)
            case states.ReplaceWithInitialEvents():
                initial, round_.initial = round_.initial, None
                self._store.replace(initial.list() if initial else [], effect.resource_version)
            case states.ReportError():
                self._watch_error_handler(self, effect.error)
            case states.Note():
                _log.log(effect.level, "%s: %s", self.name, effect.message)

    def _apply(self, effect: states.Apply, round_: _Round) -> None:
        event = effect.event
        kind = event.type
        store: Store = self._store
        if effect.into_initial and round_.initial is not None:
            store = round_.initial
        try:
            obj = event.object if self._transform is None else self._transform(event.object)
            if kind == _ADDED:
                store.add(obj)
            elif kind == _MODIFIED:
                store.update(obj)
            else:
                store.delete(obj)
        except Exception:
            _log.exception("%s: unable to apply %s watch event to store", self.name, kind)
        if effect.resource_version is not None and self._update_rv is not None:
            self._update_rv(effect.resource_version)

    # -- small helpers ----------------------------------------------------------

    def _set_last_sync_rv(self, rv: str) -> None:
        """Start the next round from ``rv`` (a test seam, as if synced there)."""
        self._progress = replace(self._progress, last_sync_rv=rv)

    def _watch_timeout(self) -> int:
        return int(self._min_watch_timeout * (self._rand() + 1.0))

    def _resync_loop(self, cancel: threading.Event, session: WatchSession) -> None:
        # Real time, not self._clock: ``cancel`` is set by this reflector with a
        # plain set(), which a fake clock's sleep would not notice until the
        # test's next step, so the watch's end would hang on the join.
        while not cancel.wait(self.resync_period):
            if self.should_resync is None or self.should_resync():
                try:
                    self._store.resync()
                except Exception as err:
                    session.fail(err)
                    return


class _Round:
    """What one list_and_watch call holds, for the driver alone: the watch
    being read (through the session that stop and a failing resync
    interrupt), the WatchList's temporary store, the resync thread."""

    def __init__(self, session: WatchSession) -> None:
        self.session = session
        self.initial: Indexer | None = None
        self._resync_cancel: threading.Event | None = None
        self._resyncer: threading.Thread | None = None

    def start_resync(
        self, loop: Callable[[threading.Event, WatchSession], None], name: str
    ) -> None:
        """Run ``loop(cancel, session)`` until the round ends (once per round)."""
        if self._resyncer is not None:
            return
        self._resync_cancel = threading.Event()
        self._resyncer = threading.Thread(
            target=loop, args=(self._resync_cancel, self.session), name=name, daemon=True
        )
        self._resyncer.start()

    def stop_resync(self) -> None:
        if self._resyncer is not None and self._resync_cancel is not None:
            self._resync_cancel.set()
            self._resyncer.join()
