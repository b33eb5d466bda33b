"""Which replica should hold which shard: a pure function of the shard
count and the live replicas, so every replica computes the same answer
from the same member list, and no coordinator is needed.

::

    assign_shards(12, ["a", "b", "c"])     # {"a": {...4 shards}, "b": {...}, "c": {...}}
    desired_shards(12, ["a", "b", "c"], "b")

The rule is rendezvous (highest random weight) hashing with capacities:
every ``(shard, member)`` pair has a weight (a hash of both), and, from the
heaviest pair down, a shard goes to the member of the pair if it has no
member yet and the member has room; the first ``count % len(members)`` members (in
name order) may hold ``ceil(count / members)``, the others the floor.
So every replica holds ``count / members`` shards to within one, and a
member joining or leaving moves few shards: a shard stays where it was
unless its first choice changed or capacities shrank. Safety does not
depend on agreement: while two replicas' member lists differ, both may
want a shard, and its Lease lets only one hold it.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeloop.cache.sharding import fnv1a_64

__all__ = ["assign_shards", "desired_shards"]


def assign_shards(count: int, members: Iterable[str]) -> dict[str, frozenset[int]]:
    """``member -> shards`` for ``count`` shards over ``members``.

    >>> sorted(len(s) for s in assign_shards(12, ["a", "b", "c", "d", "e"]).values())
    [2, 2, 2, 3, 3]
    """
    if count < 1:
        raise ValueError(f"the shard count must be at least 1, not {count}")
    names = sorted(set(members))
    if not names:
        return {}
    base, extra = divmod(count, len(names))
    capacity = {m: base + (1 if i < extra else 0) for i, m in enumerate(names)}
    held: dict[str, set[int]] = {m: set() for m in names}
    owner: dict[int, str] = {}
    # Strongest (shard, member) bonds first: a shard goes to the member it
    # ranks highest among those with room when its turn comes.
    pairs = sorted(
        ((fnv1a_64(f"{shard}/{m}"), m, shard) for shard in range(count) for m in names),
        reverse=True,
    )
    for _, member, shard in pairs:
        if shard not in owner and len(held[member]) < capacity[member]:
            owner[shard] = member
            held[member].add(shard)
    return {m: frozenset(s) for m, s in held.items()}


def desired_shards(count: int, members: Iterable[str], me: str) -> frozenset[int]:
    """The shards ``me`` should hold, ``me`` counted among ``members``."""
    return assign_shards(count, {*members, me})[me]
