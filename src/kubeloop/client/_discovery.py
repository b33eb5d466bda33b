"""Discovery documents read into :class:`APIResource` entries, for the sync
and async clients alike (each caches them and asks the server its own way).

::

    resources = parse_resources("apps/v1", client.request("GET", "/apis/apps/v1"))
    find_resource(resources, "Deployment").name     # "deployments"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.errors import NotFound


@dataclass(frozen=True, slots=True)
class APIResource:
    """One entry of discovery: how a kind is served."""

    api_version: str
    name: str  # the plural, e.g. "networks"
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]


def parse_resources(api_version: str, doc: dict[str, Any]) -> list[APIResource]:
    """The resources of an APIResourceList (subresources are reached
    through their parent, so they are left out)."""
    return [
        APIResource(
            api_version=api_version,
            name=r["name"],
            kind=r["kind"],
            namespaced=bool(r.get("namespaced")),
            verbs=tuple(r.get("verbs") or ()),
        )
        for r in doc.get("resources", [])
        if "/" not in r["name"]
    ]


def find_resource(resources: list[APIResource], kind_or_plural: str) -> APIResource | None:
    return next((r for r in resources if kind_or_plural in (r.kind, r.name)), None)


def not_served(api_version: str, kind_or_plural: str) -> NotFound:
    return NotFound(404, "NotFound", f"{api_version} has no resource {kind_or_plural!r}")
