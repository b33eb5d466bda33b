"""Reflector: keep a store equal to the server's contents for one resource.

It LISTs (or, with WatchList, streams the initial state), hands the result to
``store.replace``, then WATCHes from the list's resourceVersion and applies
each event to the store, forever::

    stop = threading.Event()
    reflector = Reflector(ListWatch.from_client(pods), store=fifo)
    threading.Thread(target=reflector.run, args=(stop,)).start()

The rules, and why (client-go's, kept exactly):

- The first LIST asks for resourceVersion "0" (any cached state will do; it is
  cheap for the server). Later LISTs ask for the last RV this reflector
  synced, so that a relist never travels back in time (an API server that
  lags behind must not roll the cache back). Only when the server answered
  that RV is expired (410) or too large does the next LIST use "" (a quorum
  read of the newest state), and that LIST is retried at once.
- LISTs are paged by 500 objects when the request may hit etcd; continue
  requests carry RV "" (the server rejects a RV with a continue token), and
  the list's RV is the first page's. If the continue token expires half way,
  one full (unpaged) LIST at the original RV replaces the paging.
- How a watch ended decides what comes next: a normal close, or a
  connection that broke mid-stream, is re-watched from the last RV (no
  relist); a 410 or a watch that closed within a second with no events leads
  to a relist; 429 and "connection refused" back off and re-watch (a relist
  would only add load to an API server already in trouble).
- A watch started from "" or "0" does not advance the RV on its initial
  synthetic EventType.ADDED events (they come in no RV order), only from the first
  other event on.
- Watch timeouts are random in [5, 10) minutes to spread reconnections.
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
from dataclasses import dataclass, field

from kubeloop.cache._watch import Box, OpenWatch, WatchSession
from kubeloop.cache.accessor import MissingMetadataError, get_annotations, get_resource_version
from kubeloop.cache.backoff import BackoffManager, ExponentialBackoffManager, RetryWithDeadline
from kubeloop.cache.delta_fifo import TransformFunc
from kubeloop.cache.indexer import Indexer
from kubeloop.cache.keys import deletion_handling_meta_namespace_key_func
from kubeloop.cache.listwatch import ListerWatcher
from kubeloop.cache.pager import DEFAULT_PAGE_SIZE, list_all
from kubeloop.cache.stop import on_stop
from kubeloop.cache.store import Store
from kubeloop.client.types import EventType, ListOptions
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import (
    ApiError,
    KubeloopError,
    TransportError,
    is_gone,
    is_internal_error,
    is_too_large_resource_version,
    is_too_many_requests,
)

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

#: The annotation on the bookmark that ends a WatchList's initial events.
INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"
_MIN_WATCH_TIMEOUT = 300.0

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


class VeryShortWatchError(KubeloopError):
    """A watch closed within a second without delivering anything: the
    server is probably refusing it, so the reflector relists."""


class _StopRequested(Exception):
    pass


def default_watch_error_handler(reflector: Reflector, err: BaseException) -> None:
    """Log the error at a level fitting how ordinary it is."""
    if is_gone(err):
        _log.debug("%s: watch closed with: %s", reflector.name, err)
    elif isinstance(err, VeryShortWatchError):
        _log.info("%s", err)  # the message names the reflector already
    else:
        _log.warning("%s: failed to list and watch: %s", reflector.name, err)


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
        self._page_size = opts.page_size
        self._use_watch_list = opts.use_watch_list
        self._min_watch_timeout = max(opts.min_watch_timeout, _MIN_WATCH_TIMEOUT)
        self._max_internal_retry = opts.max_internal_error_retry_duration
        self._clock = opts.clock
        self._rand = opts.rand
        self._backoff: BackoffManager = opts.backoff or ExponentialBackoffManager(clock=opts.clock)
        self._watch_error_handler = watch_error_handler or default_watch_error_handler
        self._transform = transform
        # Guards _last_sync_rv and _rv_unavailable (read by other threads).
        self._rv_lock = threading.Lock()
        self._last_sync_rv = ""
        self._rv_unavailable = False
        # Only the list_and_watch thread touches this.
        self._paginated_result = False

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
        session = WatchSession()
        unregister = on_stop(stop, session.close)
        try:
            watch: OpenWatch | None = None
            fallback = not self._use_watch_list
            if self._use_watch_list:
                try:
                    watch = self._watch_list(stop, session)
                except Exception as err:
                    _log.warning(
                        "%s: the watch-list request failed, falling back to LIST/WATCH: %s",
                        self.name,
                        err,
                    )
                    fallback = True
                else:
                    if watch is None:
                        return
            if fallback:
                self._list(stop)
                if stop.is_set():
                    return
            self._watch_with_resync(watch, stop, session)
        finally:
            unregister()

    def last_sync_resource_version(self) -> str:
        """The RV of the last list, or of the last watch event applied."""
        with self._rv_lock:
            return self._last_sync_rv

    def set_watch_error_handler(self, handler: WatchErrorHandler) -> None:
        self._watch_error_handler = handler

    # -- resourceVersion bookkeeping ----------------------------------------

    def _set_last_sync_rv(self, rv: str) -> None:
        with self._rv_lock:
            self._last_sync_rv = rv

    def _set_rv_unavailable(self, unavailable: bool) -> None:
        with self._rv_lock:
            self._rv_unavailable = unavailable

    def _relist_resource_version(self) -> str:
        with self._rv_lock:
            if self._rv_unavailable:
                return ""
            return self._last_sync_rv or "0"

    def _rewatch_resource_version(self) -> str:
        with self._rv_lock:
            return "" if self._rv_unavailable else self._last_sync_rv

    def _watch_timeout(self) -> int:
        return int(self._min_watch_timeout * (self._rand() + 1.0))

    # -- LIST ---------------------------------------------------------------

    def _list(self, stop: threading.Event) -> None:
        rv = self._relist_resource_version()
        if self._page_size:
            limit = self._page_size
        elif self._paginated_result or rv in ("", "0"):
            limit = DEFAULT_PAGE_SIZE
        else:
            # A LIST at a specific RV without a limit can be served from the
            # watch cache; paging would force every relist onto etcd.
            limit = 0
        try:
            result = list_all(self._lw.list, stop, rv, limit, self._transform)
        except ApiError as err:
            if not (is_gone(err) or is_too_large_resource_version(err)):
                raise
            self._set_rv_unavailable(True)
            result = list_all(
                self._lw.list, stop, self._relist_resource_version(), limit, self._transform
            )
        if result is None:
            return
        items, list_rv, paginated = result
        # A paged answer to RV "0" means the watch cache is off: keep paging.
        if rv == "0" and paginated:
            self._paginated_result = True
        self._set_rv_unavailable(False)
        self._store.replace(items, list_rv)
        self._set_last_sync_rv(list_rv)

    # -- WatchList ----------------------------------------------------------

    def _watch_list(self, stop: threading.Event, session: WatchSession) -> OpenWatch | None:
        """Stream the initial state; return the still-open watch, or None
        when stopped."""
        while True:
            if stop.is_set():
                return None
            temporary = Indexer(deletion_handling_meta_namespace_key_func)
            bookmark_rv = Box("")
            options = ListOptions(
                resource_version=self._rewatch_resource_version(),
                allow_watch_bookmarks=True,
                send_initial_events=True,
                resource_version_match="NotOlderThan",
                timeout_seconds=self._watch_timeout(),
            )
            start = self._clock.now()
            try:
                watch = OpenWatch(self._lw.watch(options))
            except Exception as err:
                if self._retry_watch_list(err, stop):
                    continue
                raise
            try:
                synced = self._handle_watch(
                    start,
                    watch,
                    temporary,
                    stop,
                    session,
                    bookmark_rv.set,
                    exit_on_initial_events_end=True,
                )
            except _StopRequested:
                watch.stream.stop()
                return None
            except Exception as err:
                watch.stream.stop()
                if self._retry_watch_list(err, stop):
                    continue
                raise
            if synced:
                break
            # The stream ended before the initial events did: start over.
            watch.stream.stop()
        self._set_rv_unavailable(False)
        self._store.replace(temporary.list(), bookmark_rv.value)
        self._set_last_sync_rv(bookmark_rv.value)
        return watch

    def _retry_watch_list(self, err: BaseException, stop: threading.Event) -> bool:
        if _is_watch_error_retriable(err):
            self._clock.sleep(self._backoff.backoff(), stop)
            return True
        if is_gone(err) or is_too_large_resource_version(err):
            # Ask for the newest consistent state instead.
            self._set_rv_unavailable(True)
            return True
        return False

    # -- WATCH --------------------------------------------------------------

    def _watch_with_resync(
        self, watch: OpenWatch | None, stop: threading.Event, session: WatchSession
    ) -> None:
        if self.resync_period <= 0:
            self._watch(watch, stop, session)
            return
        cancel = threading.Event()
        unregister = on_stop(stop, cancel.set)
        resyncer = threading.Thread(
            target=self._resync_loop,
            args=(cancel, session),
            name=f"kubeloop-resync-{self.name}",
            daemon=True,
        )
        resyncer.start()
        try:
            self._watch(watch, stop, session)
        finally:
            cancel.set()
            unregister()
            resyncer.join()

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

    def _watch(self, watch: OpenWatch | None, stop: threading.Event, session: WatchSession) -> None:
        retry = RetryWithDeadline(self._max_internal_retry, self._clock)
        while True:
            if stop.is_set():
                if watch is not None:
                    watch.stream.stop()
                return
            start = self._clock.now()
            if watch is None:
                rv = self.last_sync_resource_version()
                options = ListOptions(
                    resource_version=rv,
                    timeout_seconds=self._watch_timeout(),
                    allow_watch_bookmarks=True,
                )
                try:
                    watch = OpenWatch(self._lw.watch(options), hold_rv=rv in ("", "0"))
                except Exception as err:
                    if _is_watch_error_retriable(err):
                        if self._clock.sleep(self._backoff.backoff(), stop):
                            return
                        continue
                    raise
            error: BaseException | None = None
            try:
                self._handle_watch(start, watch, self._store, stop, session, self._set_last_sync_rv)
            except _StopRequested:
                watch.stream.stop()
                return
            except Exception as err:
                error = err
            watch.stream.stop()
            watch = None
            retry.after(error)
            if error is None:
                continue  # a normal close: watch again from the last RV
            if is_too_many_requests(error):
                if self._clock.sleep(self._backoff.backoff(), stop):
                    return
                continue
            if is_internal_error(error) and retry.should_retry():
                continue
            # Expired, very short, or anything else: end this round; run()
            # relists (with the last RV: a 410 does not make it unavailable,
            # a LIST at an old RV still returns current data).
            self._watch_error_handler(self, error)
            return

    def _handle_watch(
        self,
        start: float,
        watch: OpenWatch,
        store: Store,
        stop: threading.Event,
        session: WatchSession,
        set_rv: Callable[[str], None],
        *,
        exit_on_initial_events_end: bool = False,
    ) -> bool:
        """Apply events to ``store`` until the stream ends; return whether the
        initial-events-end bookmark was seen (and, with
        ``exit_on_initial_events_end``, return right after it)."""
        update_rv = getattr(store, "update_resource_version", None)
        transform = self._transform
        hold_rv = watch.hold_rv
        event_count = 0
        bookmark_received = False
        session.attach(watch.stream)
        try:
            for event in watch.events:
                if stop.is_set():
                    raise _StopRequested
                error = session.take_error()
                if error is not None:
                    raise error
                obj = event.object
                kind = event.type
                try:
                    rv = get_resource_version(obj)
                    if transform is not None and kind in (
                        EventType.ADDED,
                        EventType.MODIFIED,
                        EventType.DELETED,
                    ):
                        obj = transform(obj)
                    if kind == EventType.ADDED:
                        store.add(obj)
                    elif kind == EventType.MODIFIED:
                        store.update(obj)
                    elif kind == EventType.DELETED:
                        store.delete(obj)
                    elif kind == EventType.BOOKMARK:
                        # A bookmark only moves the RV forward.
                        if get_annotations(obj).get(INITIAL_EVENTS_END_ANNOTATION) == "true":
                            bookmark_received = True
                    else:
                        _log.error("%s: unable to understand watch event %r", self.name, kind)
                        continue
                except MissingMetadataError:
                    _log.error("%s: watch event object without metadata: %r", self.name, event)
                    continue
                except Exception:
                    _log.exception("%s: unable to apply %s watch event to store", self.name, kind)
                if hold_rv and kind != EventType.ADDED:
                    hold_rv = False
                if not hold_rv:
                    set_rv(rv)
                    if update_rv is not None:
                        update_rv(rv)
                event_count += 1
                if exit_on_initial_events_end and bookmark_received:
                    watch.hold_rv = False
                    return True
        except _StopRequested:
            raise
        except Exception as err:
            # Stopping a stream may make the read fail rather than end.
            if stop.is_set():
                raise _StopRequested from None
            error = session.take_error()
            if error is not None:
                raise error from None
            if not isinstance(err, TransportError):
                raise
            # A connection that broke mid-stream (reset, EOF, GOAWAY) ends the
            # watch like a normal close, as client-go's StreamWatcher treats
            # every probable EOF: re-watch from the last RV at once, no relist
            # (unless it was a very short watch, checked below).
            _log.debug("%s: watch stream broke: %s", self.name, err)
        finally:
            session.detach()
        error = session.take_error()
        if error is not None:
            raise error
        if stop.is_set():
            raise _StopRequested
        if event_count == 0 and self._clock.now() - start < 1.0:
            raise VeryShortWatchError(
                f"{self.name}: unexpected watch close - "
                "watch lasted less than a second and no items received"
            )
        return bookmark_received
