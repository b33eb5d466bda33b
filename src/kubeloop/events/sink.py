"""Where Events are written, and what to do when a write fails.

An :class:`EventSink` creates and patches Event bodies of one API
(``events.k8s.io/v1`` or core ``v1``); :class:`ClientEventSink` does it
with a :class:`~kubeloop.client.Client`, tests use a fake. Both writers
(:mod:`.series` and :mod:`.core_v1`) go through :func:`record_event`, which
holds client-go's rule for a failed write (tools/events ``recordEvent``):

- a patch of an Event that is gone (404: its TTL expired, someone deleted
  it) becomes a create of the whole Event;
- the server said no (any API status, e.g. Invalid, Forbidden): the Event is
  malformed or not allowed, and would be again; give up. Except
  AlreadyExists while re-creating a series: a create of the same Event
  raced ours, and a retry patches it;
- anything else (the connection failed, timed out, the client is closed):
  retry later, the server may come back.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

from kubeloop.client import Client
from kubeloop.clock import Clock
from kubeloop.errors import ApiError, KubeloopError, is_already_exists, is_not_found

__all__ = [
    "CORE_V1",
    "EVENTS_V1",
    "Attempts",
    "ClientEventSink",
    "EventSink",
    "Outcome",
    "Try",
    "Write",
    "once",
    "record_event",
]

EVENTS_V1 = "events.k8s.io/v1"
CORE_V1 = "v1"

log = logging.getLogger("kubeloop.events")

#: What became of one occurrence: "written", "counted" (a repeat of a
#: series, in memory until the next refresh or finish), "filtered" (over the
#: spam budget), "failed" (the write was given up).
Outcome = Literal["written", "counted", "filtered", "failed"]

#: One try of a write: the server's Event (or None) and whether to retry.
Try = Callable[[], tuple[dict[str, Any] | None, bool]]

#: Runs a write's tries until one needs no retry; the server's Event or None.
Write = Callable[[Try], dict[str, Any] | None]


def once(write: Try) -> dict[str, Any] | None:
    """A :data:`Write` that tries once."""
    return write()[0]


class EventSink(Protocol):
    """Writes Event bodies of :attr:`api_version` (events client-go's EventSink)."""

    api_version: str

    def create(self, event: dict[str, Any]) -> dict[str, Any]: ...

    def patch(self, event: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]: ...


class ClientEventSink:
    """An :class:`EventSink` on a client: Events go to the namespace in
    their own metadata."""

    def __init__(self, client: Client, api_version: str) -> None:
        self.client = client
        self.api_version = api_version

    def _events(self, event: dict[str, Any]) -> Any:
        namespace = event["metadata"].get("namespace")
        if not namespace:
            raise ValueError("can't write an event with an empty namespace")
        return self.client.resource(
            self.api_version, "events", namespace=namespace, namespaced=True
        )

    def create(self, event: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._events(event).create(event)
        return created

    def patch(self, event: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self._events(event).patch(
            event["metadata"]["name"], patch, patch_type="strategic"
        )
        return patched


def record_event(
    sink: EventSink, event: dict[str, Any], patch: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, bool]:
    """Patch ``event`` with ``patch`` (when given, else create it); return
    the server's Event (``None`` on failure) and whether to retry."""
    try:
        if patch is not None:
            try:
                return sink.patch(event, patch), False
            except ApiError as err:
                if not is_not_found(err):
                    raise
        body = {**event, "metadata": {**event["metadata"]}}
        body["metadata"].pop("resourceVersion", None)
        return sink.create(body), False
    except ApiError as err:
        if is_already_exists(err) and patch is not None:
            return None, True
        if is_already_exists(err):
            log.debug("server rejected event %s (will not retry): %s", _name(event), err)
        else:
            log.warning("server rejected event %s (will not retry): %s", _name(event), err)
        return None, False
    except KubeloopError as err:  # transport errors, a closed client: the server may come back
        log.warning("unable to write event %s (may retry after sleeping): %s", _name(event), err)
        return None, True
    except Exception as err:  # the request cannot be made; it would not be next time
        log.warning("unable to construct event %s (will not retry): %s", _name(event), err)
        return None, False


class Attempts:
    """Up to ``max_tries`` tries of one write, ``interval`` apart (jittered
    by up to 25 %, so that many clients do not retry in step after the API
    server comes back), until ``stop`` is set: tools/events'
    ``attemptRecording``."""

    def __init__(
        self, max_tries: int, interval: float, clock: Clock, stop: threading.Event
    ) -> None:
        self.max_tries = max_tries
        self.interval = interval
        self._clock = clock
        self._stop = stop

    def __call__(self, write: Try) -> dict[str, Any] | None:
        """Run ``write`` until it needs no retry; its last result."""
        for tries in range(1, self.max_tries + 1):
            result, retry = write()
            if not retry:
                return result
            if tries == self.max_tries:
                log.error("unable to write event (retry limit exceeded)")
            elif self._stop.is_set() or self._clock.sleep(self._jittered(), self._stop):
                break
        return None

    def _jittered(self) -> float:
        return self.interval * (1.0 + random.random() * 0.25)


def _name(event: dict[str, Any]) -> str:
    md = event.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"
