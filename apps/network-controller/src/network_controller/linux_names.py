"""How the Linux backend names its bridges and marks them as its own.

Pure functions, no netlink, so that they are tested without root.

A bridge's name is derived from the Network's key alone (``kl`` and 13 hex
characters of the key's sha256: 15 bytes, the kernel's IFNAMSIZ limit), so
that ``get(key)`` is one lookup by name. 13 hex characters (52 bits) make a
collision between two keys unlikely, not impossible, so the name is never
proof of ownership: the interface's alias (IFLA_IFALIAS) is. It holds
``<uid> <namespace>/<name>``, or ``<uid> sha256:<hex>`` when the key is too
long for the kernel's 255 bytes, and the controller recognises its bridges
after a restart from the aliases alone: no state file to lose or tear.

Example::

    >>> bridge_name("default/blue")
    'kl562ef55a60e4c'
    >>> parse_alias(format_alias("0b7c41d2-uid", "default/blue"))
    Owner(uid='0b7c41d2-uid', key='default/blue')
"""

from __future__ import annotations

import re
from typing import NamedTuple

from network_controller.backend import KEY_DIGEST_PREFIX, key_digest

BRIDGE_PREFIX = "kl"
# While a bridge is being made (before its alias is set) it has this prefix
# instead, so that a controller killed between the two netlink calls leaves
# no bridge under the final name without an alias (which would read as a
# foreign interface holding the name); see LinuxBackend._add.
PARTIAL_PREFIX = "kt"
NAME_HEX = 13
ALIAS_MAX = 255  # bytes, the kernel's IFALIASZ - 1

_UID = r"[0-9A-Za-z][0-9A-Za-z-]{0,63}"
# A namespace is a DNS label, a Network's name a DNS subdomain.
_KEY = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
_ALIAS = re.compile(rf"({_UID}) ({_KEY}|{re.escape(KEY_DIGEST_PREFIX)}[0-9a-f]{{64}})")
_NAME = re.compile(rf"{BRIDGE_PREFIX}[0-9a-f]{{{NAME_HEX}}}")
_NETNS = re.compile(r"[A-Za-z0-9_.-]{1,255}")


class Owner(NamedTuple):
    """Whom a bridge's alias says it belongs to: the Network's UID and its key
    (or ``sha256:<hex>`` of the key when the key did not fit)."""

    uid: str
    key: str


def bridge_name(key: str) -> str:
    """The bridge's interface name for ``key`` (or for a ``sha256:`` digest key)."""
    return BRIDGE_PREFIX + _digest_of(key)[:NAME_HEX]


def partial_name(key: str) -> str:
    """The name a bridge for ``key`` has until its alias is set."""
    return PARTIAL_PREFIX + _digest_of(key)[:NAME_HEX]


def is_bridge_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def is_netns_name(name: str) -> bool:
    """Whether ``name`` names a network namespace under /run/netns, as
    ``ip netns add`` takes it: pyroute2 reads a name with a ``/`` in it as a
    path, and would create (and bind-mount) a namespace file wherever it
    points, so only a plain file name is accepted."""
    return _NETNS.fullmatch(name) is not None and name not in (".", "..")


def format_alias(uid: str, key: str) -> str:
    """The alias for the bridge of Network ``key`` with ``uid``: the key whole
    when it fits in 255 bytes, else its digest."""
    if not re.fullmatch(_UID, uid):
        raise ValueError(f"uid {uid!r} cannot go in an interface alias")
    alias = f"{uid} {key}"
    if len(alias.encode()) <= ALIAS_MAX:
        return alias
    return f"{uid} {KEY_DIGEST_PREFIX}{key_digest(key)}"


def parse_alias(alias: str | None) -> Owner | None:
    """The owner an alias names, or None when it is not one of ours (missing,
    foreign or malformed): such an interface is never touched."""
    if not alias:
        return None
    match = _ALIAS.fullmatch(alias)
    return Owner(match.group(1), match.group(2)) if match else None


def owns(owner: Owner, key: str) -> bool:
    """Whether an alias's owner is the Network ``key`` (whole or by digest)."""
    if owner.key.startswith(KEY_DIGEST_PREFIX):
        return owner.key == KEY_DIGEST_PREFIX + key_digest(key) or owner.key == key
    return owner.key == key


def named_for(owner: Owner, name: str) -> bool:
    """Whether ``name`` is the bridge name the owner's key derives: an alias
    copied onto another interface does not make that interface ours."""
    return bridge_name(owner.key) == name


def _digest_of(key: str) -> str:
    if key.startswith(KEY_DIGEST_PREFIX):
        return key[len(KEY_DIGEST_PREFIX) :]
    return key_digest(key)
