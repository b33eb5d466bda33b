"""The actual state the controller drives: a network backend.

One small interface (get, list, create, update, delete) so the controller
never knows which backend it talks to. The reference system used a Neutron
mock; ``mock`` here keeps its state in a file so that restarts, orphans and
out-of-band drift are real and inspectable; ``linux`` makes each network a
Linux bridge through netlink (:mod:`network_controller.linux_backend`).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol


class BackendError(Exception):
    """A backend operation failed; the controller retries it with backoff.

    ``reason`` is the Ready condition's reason the controller writes for it,
    so that a user reading ``kubectl get network -o yaml`` can tell a kind of
    failure from another without parsing the message."""

    reason = "BackendError"


class NameCollision(BackendError):
    """The backend's name for the network is held by something that is not
    ours (another program's interface, or a network of another key whose name
    hashes alike). It is left untouched: a retry succeeds only once whoever
    holds the name lets it go."""

    reason = "NameCollision"


# A backend that cannot store a long key whole (the Linux backend's 255-byte
# interface alias) reports it as this prefix plus the key's sha256 hex digest;
# the sweep matches such keys against the digests of the Networks it knows.
KEY_DIGEST_PREFIX = "sha256:"


def key_digest(key: str) -> str:
    """The sha256 hex digest of a ``namespace/name`` key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ActualNetwork:
    """A network as the backend has it. ``key`` is ``namespace/name`` of the
    Network it realises (or its digest, see ``KEY_DIGEST_PREFIX``); ``cidr``
    is normalised (host bits cleared). ``drift`` names damage done out of
    band that the other fields cannot show (the Linux backend's "link is
    down"); a network with any is repaired like one whose fields differ."""

    key: str
    id: str
    cidr: str
    gateway: str
    uid: str = ""
    drift: str = ""


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

    def delete(self, key: str, uid: str = "") -> None:
        """Delete ``key``'s network; with ``uid`` (the deleted Network's),
        only if the network is that Network's: one of another uid belongs to
        a Network re-created under the same name, which under sharding by
        uid another replica may be creating at this very moment."""
        ...


@functools.lru_cache(maxsize=16384)
def normalise_cidr(cidr: str) -> tuple[str, bool]:
    """The network of ``cidr`` with host bits cleared, and whether host bits
    were set ("192.168.1.0/16" -> ("192.168.0.0/16", True)).

    Only cleared host bits count as a change worth telling the user about:
    a spelling the backend merely writes differently ("2001:DB8::/32" ->
    "2001:db8::/32") is the same network, and status must not claim that
    host bits were set.

    Raises ValueError for a string that is not a CIDR at all (the CRD's CEL
    rules refuse those, so only a CRD without them lets one through).

    Remembered for the last 16,384 spellings: the backend sweep and the
    reconcile of the same Network ask about the same string."""
    text = cidr.strip()
    fast = _normalise_ipv4(text)
    if fast is not None:
        return fast
    interface = ipaddress.ip_interface(text)
    network = interface.network
    return str(network), interface.ip != network.network_address


def _normalise_ipv4(text: str) -> tuple[str, bool] | None:
    """:func:`normalise_cidr` for the common ``a.b.c.d/n`` spelling, in a
    twentieth of ``ipaddress``'s time (every reconcile and every sweep entry
    checks a spec); ``None`` for anything else, which ``ipaddress`` then
    parses or refuses. Accepts exactly what ``ipaddress`` accepts in this
    form: decimal octets 0-255 without leading zeros (``inet_pton``'s rule
    too), a prefix 0-32. ``inet_pton`` parses in C: 1.6 us a spec against
    3.7 us for the same checks in Python."""
    address, slash, prefix_text = text.partition("/")
    if not slash or not (prefix_text.isascii() and prefix_text.isdigit()):
        return None
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET, address))
    except (OSError, ValueError):  # not dotted decimal; non-ASCII or NUL
        return None
    prefix = int(prefix_text)
    if prefix > 32:
        return None
    network = value & (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    if network == value:  # what inet_pton accepts is already the canonical spelling
        return f"{address}/{prefix}", False
    return f"{socket.inet_ntop(socket.AF_INET, network.to_bytes(4))}/{prefix}", True


def differs(actual: ActualNetwork, desired: DesiredNetwork) -> bool:
    if actual.drift:
        return True
    return (actual.cidr, actual.gateway, actual.uid) != (desired.cidr, desired.gateway, desired.uid)
