"""The reflector's states, and what moves it between them (the one step
function that does is :func:`kubeloop.cache.reflector_step.step`).

Why a state machine: a reflector's life is a handful of phases (list, or
stream the initial events; watch; back off) joined by rules that each depend
on how the last request ended. Kept in flags and loops, those rules can only
be exercised by running threads against a fake server; kept here as values,
each rule is one transition, checked by calling ``step``: no threads, no
clock, no I/O (kube-rs's ``watcher.rs`` is the model). The driver
(:class:`~kubeloop.cache.reflector.Reflector`) does what a state asks for,
feeds back what happened, and performs the effect it gets back::

    state = begin_round(Progress(), Policy(use_watch_list=False))
    # Listing(Progress(), limit=500): LIST at "0", in pages of 500
    state, effect = step(state, ListResult(items, "10", paginated=False))
    # effect == Replace(items, "10"): the driver replaces the store, then
    # state == Listed(Progress(last_sync_rv="10")): it opens a watch at "10"

An effect that fails (a store refusing a replace) goes back to ``step`` as
``Failed`` for the state that asked for it: a LIST's round ends with the
error, a WatchList falls back to LIST.

States, outcomes and effects are values: never changed once made (``step``
makes new ones, so the driver may keep the old one and other threads may
read the current one without a lock). They are not frozen dataclasses only
because a frozen one costs four times as much to make, and every watch event
makes three.

What each state asks of the driver:

==========================  =================================================
``Listing``                 LIST (paged by ``limit``) at ``resource_version``
``Relisting``               the same, at "" (the RV asked for was gone)
``StreamingInitialEvents``  open a WatchList watch, then read its events
``Listed``                  open a watch at the last RV (or go on with the
                            WatchList stream, ``watch_open``)
``Watching``                read the next event
``BackingOff``              sleep one backoff, then go on with ``then``
``RoundEnded``, ``Stopped`` nothing: ``list_and_watch`` returns (raising
                            ``RoundEnded.error`` if there is one)
==========================  =================================================

The rules that move between them, and why, are in
:mod:`kubeloop.cache.reflector_step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from kubeloop.cache.backoff import RetryWindow
from kubeloop.client.types import WatchEvent
from kubeloop.errors import (
    KubeloopError,
)

__all__ = [
    "INITIAL_EVENTS_END_ANNOTATION",
    "RESUMED",
    "STOP",
    "Apply",
    "BackingOff",
    "Effect",
    "Failed",
    "ListResult",
    "Listed",
    "Listing",
    "Note",
    "Outcome",
    "Policy",
    "Progress",
    "Reached",
    "Relisting",
    "Replace",
    "ReplaceWithInitialEvents",
    "ReportError",
    "Resumed",
    "RoundEnded",
    "State",
    "Stop",
    "Stopped",
    "StreamingInitialEvents",
    "VeryShortWatchError",
    "WatchEnded",
    "WatchOpened",
    "Watching",
]

#: The annotation on the bookmark that ends a WatchList's initial events.
INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"

#: The 500-retry window before a round starts: none used yet.
NO_INTERNAL_ERRORS = RetryWindow()


class VeryShortWatchError(KubeloopError):
    """A watch closed within a second without delivering anything: the
    server is probably refusing it, so the reflector relists."""


# -- what a reflector is and has reached ------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """What the reflector was configured to do (the part the step needs)."""

    name: str = "reflector"
    #: Force this page size for every LIST (client-go's WatchListPageSize).
    page_size: int = 0
    use_watch_list: bool = True
    #: How long to keep re-watching after 500s (0: never).
    max_internal_error_retry_duration: float = 0.0


@dataclass(slots=True)
class Progress:
    """What the reflector has reached, carried from state to state."""

    #: The RV of the last list, or of the last watch event applied.
    last_sync_rv: str = ""
    #: The last LIST or WatchList at ``last_sync_rv`` was expired or too large.
    rv_unavailable: bool = False
    #: A LIST at "0" came back paged: the watch cache is off, keep paging.
    paginated: bool = False
    #: The spell of internal errors of this round's watches.
    internal_errors: RetryWindow = NO_INTERNAL_ERRORS

    def relist_resource_version(self) -> str:
        if self.rv_unavailable:
            return ""
        return self.last_sync_rv or "0"

    def rewatch_resource_version(self) -> str:
        return "" if self.rv_unavailable else self.last_sync_rv

    def reached(self, rv: str) -> Progress:
        return Progress(rv, False, self.paginated, self.internal_errors)

    def unavailable(self) -> Progress:
        return Progress(self.last_sync_rv, True, self.paginated, self.internal_errors)

    def with_window(self, window: RetryWindow) -> Progress:
        if window is self.internal_errors:
            return self
        return Progress(self.last_sync_rv, self.rv_unavailable, self.paginated, window)


DEFAULT_POLICY = Policy()


# -- states -----------------------------------------------------------------


@dataclass(slots=True)
class Listing:
    """LIST everything at :attr:`resource_version`, in pages of ``limit``."""

    progress: Progress
    limit: int  # 0: one unpaged request
    watch_open: ClassVar[bool] = False

    @property
    def resource_version(self) -> str:
        return self.progress.relist_resource_version()


@dataclass(slots=True)
class Relisting:
    """LIST again at "" at once: the RV just asked for was expired or too
    large. Tried once; a failure ends the round."""

    progress: Progress
    limit: int
    watch_open: ClassVar[bool] = False

    @property
    def resource_version(self) -> str:
        return self.progress.relist_resource_version()  # "": rv_unavailable


@dataclass(slots=True)
class StreamingInitialEvents:
    """WatchList: open a watch with sendInitialEvents at
    :attr:`resource_version` (``started_at`` None), then read its initial
    events into a temporary store until the initial-events-end bookmark."""

    progress: Progress
    #: When the open request was sent; None while no stream is open.
    started_at: float | None = None
    #: Whether this stream delivered any event yet.
    received: bool = False

    @property
    def resource_version(self) -> str:
        return self.progress.rewatch_resource_version()

    @property
    def watch_open(self) -> bool:
        return self.started_at is not None


@dataclass(slots=True)
class Listed:
    """The store holds the state at the last RV: watch from there. With
    ``watch_open``, the WatchList stream that delivered it goes on as the
    watch (no new request)."""

    progress: Progress
    watch_open: bool = False

    @property
    def resource_version(self) -> str:
        return self.progress.last_sync_rv


@dataclass(slots=True)
class Watching:
    """A watch is open: apply its events to the store."""

    progress: Progress
    #: When the open request was sent (a watch ends "very short" within 1 s).
    started_at: float
    #: Started from "" or "0": the RV stays until the first non-ADDED event.
    hold_rv: bool = False
    received: bool = False
    watch_open: ClassVar[bool] = True


@dataclass(slots=True)
class BackingOff:
    """Wait one backoff (the server is overloaded or restarting), then
    carry on with ``then``."""

    then: State
    watch_open: ClassVar[bool] = False

    @property
    def progress(self) -> Progress:
        return self.then.progress


@dataclass(slots=True)
class RoundEnded:
    """This list-and-watch round is over: ``list_and_watch`` returns, or
    raises ``error`` (the state could not be had: the LIST or the watch
    request failed). The next round lists again."""

    progress: Progress
    error: BaseException | None = None
    watch_open: ClassVar[bool] = False


@dataclass(slots=True)
class Stopped:
    """``stop`` was set."""

    progress: Progress
    watch_open: ClassVar[bool] = False


State: TypeAlias = (
    Listing
    | Relisting
    | StreamingInitialEvents
    | Listed
    | Watching
    | BackingOff
    | RoundEnded
    | Stopped
)


# -- outcomes: what happened to the request a state asked for ---------------


@dataclass(slots=True)
class ListResult:
    """The LIST came back whole (every page, each already transformed)."""

    items: list[Any]
    resource_version: str
    paginated: bool


@dataclass(slots=True)
class WatchOpened:
    """A watch is open; ``started_at`` is when its request was sent."""

    started_at: float


@dataclass(slots=True)
class WatchEnded:
    """The open watch ended at ``at``: closed (``error`` None), broken, or
    failed (a Status error, or a failing resync)."""

    at: float
    error: BaseException | None = None


@dataclass(slots=True)
class Failed:
    """The request (a LIST, a watch's open) or the store write a state asked
    for failed."""

    error: BaseException


@dataclass(slots=True)
class Resumed:
    """The backoff has been waited out."""


@dataclass(slots=True)
class Stop:
    """``stop`` is set."""


RESUMED = Resumed()
STOP = Stop()

#: A watch event is an outcome as it is (the hot path allocates nothing more).
Outcome: TypeAlias = (
    ListResult | WatchOpened | WatchEvent[Any] | WatchEnded | Failed | Resumed | Stop
)


# -- effects: what the driver must do on the way to the next state ----------


@dataclass(slots=True)
class Replace:
    """``store.replace(items, resource_version)``: the LIST's result."""

    items: list[Any]
    resource_version: str


@dataclass(slots=True)
class ReplaceWithInitialEvents:
    """Replace the store with what the WatchList streamed."""

    resource_version: str


@dataclass(slots=True)
class Apply:
    """Transform the event's object and add/update/delete it: into the
    WatchList's temporary store (``into_initial``) or the store. Then, if
    ``resource_version`` is set, tell the store the RV reached."""

    event: WatchEvent[Any]
    into_initial: bool = False
    resource_version: str | None = None


@dataclass(slots=True)
class Reached:
    """A bookmark moved the RV: tell the store (there is no object)."""

    resource_version: str


@dataclass(slots=True)
class ReportError:
    """A watch ended with this error: hand it to the watch error handler."""

    error: BaseException


@dataclass(slots=True)
class Note:
    """Log ``message`` at ``level`` (prefixed with the reflector's name)."""

    level: int
    message: str


Effect: TypeAlias = Apply | Reached | Replace | ReplaceWithInitialEvents | ReportError | Note
Transition: TypeAlias = tuple[State, Effect | None]
