"""The shard assignment: complete, balanced to within one, deterministic,
and moving few shards when a replica joins or leaves."""

from __future__ import annotations

import random

import pytest

from kubeloop.runtime.shard_assignment import assign_shards, desired_shards


def moved(before: dict[str, frozenset[int]], after: dict[str, frozenset[int]]) -> int:
    owner = {s: m for m, shards in before.items() for s in shards}
    return sum(owner.get(s) != m for m, shards in after.items() for s in shards)


@pytest.mark.parametrize("seed", range(10))
def test_every_shard_has_exactly_one_member_and_loads_differ_by_at_most_one(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.randint(1, 64)
    members = [f"replica-{rng.randrange(10**6)}" for _ in range(rng.randint(1, 9))]
    assignment = assign_shards(count, members)
    held = sorted(s for shards in assignment.values() for s in shards)
    assert held == list(range(count))
    loads = [len(s) for s in assignment.values()]
    assert max(loads) - min(loads) <= 1
    assert assignment == assign_shards(count, list(reversed(members)))  # order-free


@pytest.mark.parametrize("seed", range(10))
def test_membership_changes_move_few_shards_beyond_the_necessary(seed: int) -> None:
    rng = random.Random(seed)
    count, members = rng.randint(4, 48), [f"r{rng.randrange(10**6)}" for _ in range(4)]
    before = assign_shards(count, members)
    joined = assign_shards(count, [*members, "new"])
    left = assign_shards(count, members[1:])
    assert moved(before, joined) <= len(joined["new"]) + count // 6 + 1
    assert moved(before, left) <= len(before[members[0]]) + count // 6 + 1


def test_a_joiner_takes_about_its_share_and_the_rest_stays() -> None:
    three = assign_shards(12, ["a", "b", "c"])
    four = assign_shards(12, ["a", "b", "c", "d"])
    assert len(four["d"]) == 3
    assert moved(three, four) <= 5  # 3 must move to d; capacity shifts move at most 2 more


def test_a_leavers_shards_are_spread_over_the_others() -> None:
    three = assign_shards(12, ["a", "b", "c"])
    two = assign_shards(12, ["a", "c"])
    assert sorted(len(s) for s in two.values()) == [6, 6]
    assert moved(three, two) <= len(three["b"]) + 2  # b's, and at most 2 more


def test_desired_shards_counts_the_asking_replica_in() -> None:
    assert desired_shards(4, [], "me") == frozenset(range(4))
    assert len(desired_shards(4, ["other"], "me")) == 2


def test_no_members_means_no_assignment_and_bad_counts_are_refused() -> None:
    assert assign_shards(3, []) == {}
    with pytest.raises(ValueError, match="at least 1"):
        assign_shards(0, ["a"])
