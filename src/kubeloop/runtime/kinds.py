"""Naming a kind: by typed model, by ``(apiVersion, Kind)`` or by
``(apiVersion, plural)``, resolved through discovery only when needed.

::

    kind_of(Network)                          # a typed model: nothing to look up
    kind_of(("apps/v1", "Deployment"))        # plural and scope from discovery
    kind_of(("apps/v1", "deployments"))       # kind and scope from discovery
    Kind("apps/v1", "Deployment", "deployments", namespaced=True)   # all given: no lookup

The runtime needs both names: the plural for the URL the informer watches,
the kind to match ``ownerReferences`` (``owns``) and to name Events. A kind
not served yet (its CRD is not installed) is not an error: the
:class:`KindResolver` retries with backoff until it is, logging one line
per kind of failure rather than one per attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from kubeloop.cache import BackoffManager, ExponentialBackoffManager
from kubeloop.errors import ApiError
from kubeloop.typed import Resource

__all__ = ["Discovery", "Kind", "KindRef", "KindResolver", "group_of", "kind_of"]

_log = logging.getLogger("kubeloop.runtime")


def group_of(api_version: str) -> str:
    """The API group of an apiVersion (``""`` for the core group ``v1``)."""
    group, _, _ = api_version.rpartition("/")
    return group


@dataclass(frozen=True)
class Kind:
    """One kind of object: apiVersion, kind, plural and scope; ``model``
    when its objects are typed models (decoded straight from the wire)."""

    api_version: str
    kind: str = ""
    plural: str = ""
    namespaced: bool | None = None
    model: type[Resource] | None = None

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    @property
    def resolved(self) -> bool:
        return bool(self.kind and self.plural and self.namespaced is not None)

    def same_resource(self, other: Kind) -> bool:
        """Whether both name one resource: one apiVersion, and the same
        plural, or (when either lacks one, not resolved yet) the same kind."""
        if self.api_version != other.api_version:
            return False
        if self.plural and other.plural:
            return self.plural == other.plural
        return bool(self.kind) and self.kind == other.kind

    def __str__(self) -> str:
        name = self.kind or self.plural
        return f"{self.api_version}, Kind={name}" if self.api_version else name


KindRef = Kind | type[Resource] | tuple[str, str]
"""What the builder accepts as a kind."""


def kind_of(ref: KindRef) -> Kind:
    """A :class:`Kind` from any :data:`KindRef`, without I/O: a name that
    starts with a capital is a kind, any other a plural."""
    if isinstance(ref, Kind):
        return ref
    if isinstance(ref, type) and issubclass(ref, Resource):
        return Kind(ref.API_VERSION, ref.KIND, ref.PLURAL, ref.NAMESPACED, ref)
    if isinstance(ref, tuple) and len(ref) == 2 and all(isinstance(p, str) for p in ref):
        api_version, name = ref
        if not api_version or not name:
            raise ValueError(f"{ref!r}: give (apiVersion, kind or plural)")
        if name[:1].isupper():
            return Kind(api_version, kind=name)
        return Kind(api_version, plural=name)
    raise TypeError(f"{ref!r} is not a Kind, a typed model or (apiVersion, kind or plural)")


class APIResourceLike(Protocol):
    """What discovery says of a resource (:class:`kubeloop.client.APIResource`)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def namespaced(self) -> bool: ...


class Discovery(Protocol):
    """The part of :class:`kubeloop.client.Client` resolution uses."""

    def resource_for(self, api_version: str, kind_or_plural: str) -> APIResourceLike: ...


def resolve_once(discovery: Discovery, kind: Kind) -> Kind:
    """``kind`` completed from discovery (one lookup); raises what discovery raises."""
    if kind.resolved:
        return kind
    found = discovery.resource_for(kind.api_version, kind.kind or kind.plural)
    return replace(kind, kind=found.kind, plural=found.name, namespaced=found.namespaced)


def _failure_class(err: BaseException) -> str:
    if isinstance(err, ApiError):
        return f"{type(err).__name__} {err.code}"
    return type(err).__name__


class KindResolver:
    """Completes a kind through discovery, retrying until it is served.

    ``wait(seconds)`` sleeps between attempts and returns True to give up
    (``stop.wait`` by default); the delays back off 0.8 s doubling to 30 s,
    as the reflector's.
    """

    def __init__(
        self,
        discovery: Discovery,
        *,
        backoff: BackoffManager | None = None,
        log: logging.Logger = _log,
    ) -> None:
        self._discovery = discovery
        self._backoff = backoff or ExponentialBackoffManager()
        self._log = log

    def resolve(self, kind: Kind, wait: Callable[[float], bool]) -> Kind | None:
        """The resolved kind, or None if ``wait`` said to give up."""
        last_class = ""
        while True:
            try:
                resolved = resolve_once(self._discovery, kind)
            except Exception as err:
                failure = _failure_class(err)
                if failure != last_class:
                    # One line per kind of failure, not one per attempt.
                    self._log.warning(
                        "%s: discovery failed (%s); retrying with backoff, its controller "
                        "starts once it is served (is its CRD installed?)",
                        kind,
                        err,
                    )
                    last_class = failure
                else:
                    self._log.debug("%s: discovery failed again: %s", kind, err)
                if wait(self._backoff.backoff()):
                    return None
                continue
            if last_class:
                self._log.info("%s is served now, as %s", kind, resolved.plural)
            return resolved
