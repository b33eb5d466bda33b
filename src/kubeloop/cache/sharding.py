"""Shard hashing and ranges, as the API server computes them (KEP-5866).

::

    ranges = shard_ranges(4)                    # 4 equal slices of the 64-bit hash space
    ranges[0].selector("uid")
    # "shardRange(object.metadata.uid, '0x0000000000000000', '0x4000000000000000')"
    shard_of(fnv1a_64("0b1e...uid"), 4)           # the index whose range holds the hash
    ShardKey("uid").value(obj)                    # the string the server hashes for obj

Kubernetes 1.36 added ``shardSelector`` to LIST and WATCH (alpha, feature
gate ``ShardedListAndWatch``): ``shardRange(object.metadata.uid, start,
end)`` keeps the objects whose 64-bit FNV-1a hash of the field's string is
in ``[start, end)`` (k8s.io/apimachinery ``pkg/sharding``). The bounds are
``0x`` plus exactly 16 lowercase hex digits, except the upper end of the
space, ``0x10000000000000000`` (2**64), which has 17; the server refuses
anything else ("did you mean ...?"). The same hash is applied here to
events when a server ignores the selector (see
:mod:`kubeloop.cache.shard_listwatch`), so both sides must agree to the bit:
the unit tests pin it to vectors printed by the Go code.

Why ceilings for the bounds: range ``i`` is ``[ceil(i * 2**64 / S),
ceil((i + 1) * 2**64 / S))``, which holds exactly the hashes ``h`` with
``floor(h * S / 2**64) == i``. :func:`shard_of` is then one multiplication,
and the ranges tile the space with no gap and no overlap for every ``S``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kubeloop.cache.accessor import get_namespace, get_uid

__all__ = [
    "HASH_SPACE",
    "SHARD_FIELDS",
    "ShardBy",
    "ShardKey",
    "ShardRange",
    "fnv1a_64",
    "format_bound",
    "selector_for",
    "shard_of",
    "shard_ranges",
]

#: The size of the hash space: every range lies in ``[0, HASH_SPACE)``.
HASH_SPACE = 1 << 64

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = HASH_SPACE - 1

#: What objects are sharded by: their uid, or their namespace.
ShardBy = Literal["uid", "namespace"]

#: The selector's field path for each :data:`ShardBy`.
SHARD_FIELDS: dict[str, str] = {
    "uid": "object.metadata.uid",
    "namespace": "object.metadata.namespace",
}


def fnv1a_64(value: str) -> int:
    """The 64-bit FNV-1a hash of ``value``'s UTF-8 bytes (Go's ``hash/fnv``
    ``New64a``, as ``sharding.HashField`` uses it).

    >>> hex(fnv1a_64(""))
    '0xcbf29ce484222325'
    """
    h = _FNV_OFFSET
    for byte in value.encode():
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def format_bound(value: int) -> str:
    """A range bound as the server wants it: ``0x`` and 16 hex digits, or
    ``0x10000000000000000`` for the end of the space.

    >>> format_bound(0), format_bound(1 << 64)
    ('0x0000000000000000', '0x10000000000000000')
    """
    if value == HASH_SPACE:
        return "0x10000000000000000"
    if not 0 <= value < HASH_SPACE:
        raise ValueError(f"shard bound {value:#x} is outside the 64-bit hash space")
    return f"0x{value:016x}"


@dataclass(frozen=True, order=True)
class ShardRange:
    """``[start, end)`` of the hash space; ``index`` is its place among ``count``."""

    index: int
    count: int
    start: int
    end: int

    def __contains__(self, hash_value: int) -> bool:
        return self.start <= hash_value < self.end

    def selector(self, by: ShardBy) -> str:
        """The ``shardSelector`` that keeps this range's objects."""
        return selector_for([self], by)


def selector_for(ranges: list[ShardRange], by: ShardBy) -> str:
    """One ``shardSelector`` for the union of ``ranges`` (``||`` between
    them, as ``sharding.Selector.String`` renders it)."""
    if not ranges:
        raise ValueError("a shard selector needs at least one range")
    field = SHARD_FIELDS[by]
    return " || ".join(
        f"shardRange({field}, '{format_bound(r.start)}', '{format_bound(r.end)}')" for r in ranges
    )


def shard_ranges(count: int) -> list[ShardRange]:
    """``count`` equal ranges covering the whole hash space, in order."""
    if count < 1:
        raise ValueError(f"the shard count must be at least 1, not {count}")
    bounds = [-(-(i * HASH_SPACE) // count) for i in range(count + 1)]  # ceilings
    return [ShardRange(i, count, bounds[i], bounds[i + 1]) for i in range(count)]


def shard_of(hash_value: int, count: int) -> int:
    """The index of the range of :func:`shard_ranges` (``count``) holding ``hash_value``."""
    if not 0 <= hash_value < HASH_SPACE:
        raise ValueError(f"hash {hash_value:#x} is outside the 64-bit hash space")
    return (hash_value * count) >> 64


@dataclass(frozen=True)
class ShardKey:
    """What objects are sharded by (``"uid"`` or ``"namespace"``), and how
    many shards: maps an object, or the string the server would hash, to
    its shard.

    >>> ShardKey("namespace", 4).shard_of_value("prod")
    2
    """

    by: ShardBy = "uid"
    count: int = 1

    def __post_init__(self) -> None:
        if self.by not in SHARD_FIELDS:
            raise ValueError(f"shard by {self.by!r}: choose one of {sorted(SHARD_FIELDS)}")
        if self.count < 1:
            raise ValueError(f"the shard count must be at least 1, not {self.count}")

    def value(self, obj: Any) -> str:
        """The string the server hashes for ``obj`` (its uid or namespace)."""
        return get_uid(obj) if self.by == "uid" else get_namespace(obj)

    def shard_of_value(self, value: str) -> int:
        return shard_of(fnv1a_64(value), self.count)

    def shard_of(self, obj: Any) -> int:
        return self.shard_of_value(self.value(obj))

    def ranges(self) -> list[ShardRange]:
        return shard_ranges(self.count)
