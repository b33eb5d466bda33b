"""Naming kinds, and resolving them through a discovery that fails until
the kind is served (a CRD installed later)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from kubeloop.errors import NotFound, TransportError
from kubeloop.runtime import Kind, KindResolver, group_of, kind_of
from kubeloop.typed import Resource


class Thing(Resource, kw_only=True):
    API_VERSION = "example.com/v1"
    KIND = "Thing"
    PLURAL = "things"
    NAMESPACED = False


@dataclass(frozen=True)
class Served:
    name: str
    kind: str
    namespaced: bool


class FlakyDiscovery:
    """Fails with each error in turn, then serves ``things``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, str]] = []

    def resource_for(self, api_version: str, kind_or_plural: str) -> Served:
        self.calls.append((api_version, kind_or_plural))
        if self.errors:
            raise self.errors.pop(0)
        return Served("things", "Thing", True)


class FakeBackoff:
    def __init__(self) -> None:
        self.waits = 0

    def backoff(self) -> float:
        self.waits += 1
        return float(self.waits)


def not_found() -> NotFound:
    return NotFound(404, "NotFound", "404 page not found (GET /apis/example.com/v1)")


def test_kind_of_reads_each_form_without_io() -> None:
    assert kind_of(Thing) == Kind("example.com/v1", "Thing", "things", False, Thing)
    assert kind_of(Thing).resolved
    assert kind_of(("apps/v1", "Deployment")) == Kind("apps/v1", kind="Deployment")
    assert kind_of(("apps/v1", "deployments")) == Kind("apps/v1", plural="deployments")
    full = Kind("apps/v1", "Deployment", "deployments", True)
    assert kind_of(full) is full and full.resolved and full.group == "apps"
    assert group_of("v1") == "" and str(Kind("v1", plural="pods")) == "v1, Kind=pods"
    with pytest.raises(TypeError):
        kind_of("apps/v1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kind_of(("apps/v1", ""))


def test_resolver_retries_until_served_logging_once_per_kind_of_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    discovery = FlakyDiscovery(
        not_found(), not_found(), not_found(), TransportError("refused"), not_found()
    )
    backoff = FakeBackoff()
    waits: list[float] = []
    resolver = KindResolver(discovery, backoff=backoff)
    caplog.set_level(logging.DEBUG, logger="kubeloop.runtime")

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    got = resolver.resolve(Kind("example.com/v1", kind="Thing"), wait)
    assert got == Kind("example.com/v1", "Thing", "things", True)
    assert waits == [1.0, 2.0, 3.0, 4.0, 5.0]  # backed off between every attempt
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # NotFound, then TransportError, then NotFound again: three lines, not five.
    assert len(warnings) == 3
    assert "discovery failed" in warnings[0] and "404 page not found" in warnings[0]
    assert "refused" in warnings[1]
    assert any("is served now, as things" in r.getMessage() for r in caplog.records)


def test_resolver_gives_up_when_told_to() -> None:
    discovery = FlakyDiscovery(not_found(), not_found())
    resolver = KindResolver(discovery, backoff=FakeBackoff())
    assert resolver.resolve(Kind("example.com/v1", plural="things"), lambda s: True) is None
    assert discovery.calls == [("example.com/v1", "things")]


def test_a_resolved_kind_asks_nobody() -> None:
    discovery = FlakyDiscovery()
    resolver = KindResolver(discovery)
    assert resolver.resolve(kind_of(Thing), lambda s: True) == kind_of(Thing)
    assert discovery.calls == []
