"""An in-memory event sink (an API server's events, by namespace and name),
occurrences made the way the recorder makes them, and a fake clock."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.clock import FakeClock
from kubeloop.errors import AlreadyExists, NotFound
from kubeloop.events.occurrence import Occurrence, freeze, object_reference

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "foo", "namespace": "baz", "uid": "bar", "resourceVersion": "7"},
}
#: POD's reference, as the Event's ``regarding``.
POD_REF = {
    "apiVersion": "v1",
    "kind": "Pod",
    "name": "foo",
    "namespace": "baz",
    "uid": "bar",
    "resourceVersion": "7",
}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "uid": "n1"}}


class FakeSink:
    """Stores Events like a server: create refuses an existing name, patch a
    missing one. ``calls`` lists ("create"|"patch", name, body or patch);
    the next writes raise ``failures`` instead, one each, first first."""

    def __init__(self, api_version: str = "events.k8s.io/v1") -> None:
        self.api_version = api_version
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failures: list[BaseException] = []

    def _key(self, event: dict[str, Any]) -> tuple[str, str]:
        return event["metadata"]["namespace"], event["metadata"]["name"]

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def create(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", event["metadata"]["name"], copy.deepcopy(event)))
        self._maybe_fail()
        if self._key(event) in self.events:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        self.events[self._key(event)] = copy.deepcopy(event)
        return copy.deepcopy(event)

    def patch(self, event: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", event["metadata"]["name"], copy.deepcopy(patch)))
        self._maybe_fail()
        stored = self.events.get(self._key(event))
        if stored is None:
            raise NotFound(404, "NotFound", "gone")
        for k, v in patch.items():
            stored[k] = {**stored.get(k, {}), **v} if isinstance(v, dict) else v
        return copy.deepcopy(stored)

    def only(self) -> dict[str, Any]:
        assert len(self.events) == 1, self.events
        return next(iter(self.events.values()))


def occurrence(
    clock: FakeClock,
    *,
    regarding: Any = POD,
    related: Any = None,
    type: str = "Normal",
    reason: str = "test",
    action: str = "started",
    note: str = "some verbose message: 1",
) -> Occurrence:
    return Occurrence(
        regarding=freeze(object_reference(regarding)),
        related=None if related is None else freeze(object_reference(related)),
        type=type,
        reason=reason,
        action=action,
        note=note,
        time=clock.wall(),
        at=clock.now(),
    )
