"""The actual state the controller drives: a network backend.

One small interface (get, list, create, update, delete) so the controller
never knows which backend it talks to. The reference system used a Neutron
mock; ``mock`` here keeps its state in a file so that restarts, orphans and
out-of-band drift are real and inspectable.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol


class BackendError(Exception):
    """A backend operation failed; the controller retries it with backoff."""


@dataclass(frozen=True, slots=True)
class ActualNetwork:
    """A network as the backend has it. ``key`` is ``namespace/name`` of the
    Network it realises; ``cidr`` is normalised (host bits cleared)."""

    key: str
    id: str
    cidr: str
    gateway: str
    uid: str = ""


@dataclass(frozen=True, slots=True)
class DesiredNetwork:
    key: str
    cidr: str  # normalised
    gateway: str
    uid: str = ""


class Backend(Protocol):
    def get(self, key: str) -> ActualNetwork | None: ...

    def list(self) -> list[ActualNetwork]: ...

    def create(self, desired: DesiredNetwork) -> ActualNetwork: ...

    def update(self, desired: DesiredNetwork) -> ActualNetwork: ...

    def delete(self, key: str) -> None: ...


def normalise_cidr(cidr: str) -> tuple[str, bool]:
    """The network of ``cidr`` with host bits cleared, and whether host bits
    were set ("192.168.1.0/16" -> ("192.168.0.0/16", True)).

    Only cleared host bits count as a change worth telling the user about:
    a spelling the backend merely writes differently ("2001:DB8::/32" ->
    "2001:db8::/32") is the same network, and status must not claim that
    host bits were set.

    Raises ValueError for a string that is not a CIDR at all (the CRD's CEL
    rules refuse those, so only a CRD without them lets one through)."""
    text = cidr.strip()
    network = ipaddress.ip_network(text, strict=False)
    host_bits_set = ipaddress.ip_interface(text).ip != network.network_address
    return str(network), host_bits_set


def differs(actual: ActualNetwork, desired: DesiredNetwork) -> bool:
    return (actual.cidr, actual.gateway, actual.uid) != (desired.cidr, desired.gateway, desired.uid)
