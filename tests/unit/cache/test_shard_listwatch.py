"""ShardedResourceClient without a server: the selector it sends, and the
client-side filter of pages and watch events (bookmarks pass, counts are
of what arrived)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.cache import ShardedResourceClient, ShardKey, probe_shard_selector
from kubeloop.client import EventType, ListOptions, ListPage, WatchEvent
from kubeloop.errors import BadRequest, Forbidden, InternalError

KEY = ShardKey("uid", 4)


def obj(uid: str) -> dict[str, Any]:
    return {"metadata": {"name": uid, "namespace": "ns", "uid": uid}}


# Real uids are random; similar strings ("uid-1", "uid-2") share FNV-1a's top
# bits and hence a shard, which would make the filter test nothing.
OBJECTS = [obj(str(uuid.UUID(int=random.Random(i).getrandbits(128)))) for i in range(40)]


class FakeWatch:
    def __init__(self, events: list[WatchEvent]) -> None:
        self.events = events
        self.stopped = False

    def __iter__(self) -> Iterator[WatchEvent]:
        return iter(self.events)

    def stop(self) -> None:
        self.stopped = True


class Fake:
    namespace = "ns"
    api_version = "v1"
    plural = "configmaps"

    def __init__(self) -> None:
        self.options: list[ListOptions] = []
        self.watch_stream = FakeWatch(
            [WatchEvent(EventType.ADDED, o) for o in OBJECTS]
            + [WatchEvent(EventType.BOOKMARK, {"metadata": {"resourceVersion": "9"}})]
        )

    def list_page(self, options: ListOptions) -> ListPage:
        self.options.append(options)
        return ListPage(list(OBJECTS), "7")

    def watch(self, options: ListOptions) -> FakeWatch:
        self.options.append(options)
        return self.watch_stream


def test_server_side_sends_the_shards_selector_and_keeps_what_comes() -> None:
    fake = Fake()
    client = ShardedResourceClient(fake, KEY, {2}, server_side=True)
    original = ListOptions(limit=5)
    page = client.list_page(original)
    assert fake.options[0].extra["shardSelector"] == KEY.ranges()[2].selector("uid")
    assert original.extra == {}  # the reflector's own options are not touched
    assert len(page.items) == 40 and client.received.value == 40
    assert (client.api_version, client.plural, client.namespace) == ("v1", "configmaps", "ns")


def test_client_side_keeps_exactly_the_shards_objects_and_every_bookmark() -> None:
    fake = Fake()
    client = ShardedResourceClient(fake, KEY, {0, 3}, server_side=False)
    mine = [o for o in OBJECTS if KEY.shard_of(o) in {0, 3}]
    assert 0 < len(mine) < 40
    assert client.list_page(ListOptions()).items == mine
    assert "shardSelector" not in fake.options[0].extra
    events = list(client.watch(ListOptions()))
    assert [e.object for e in events if e.type == EventType.ADDED] == mine
    assert events[-1].type == EventType.BOOKMARK
    assert client.received.value == 80  # 40 listed + 40 watched, before the filter
    client.watch(ListOptions()).stop()
    assert fake.watch_stream.stopped


def test_shards_outside_the_count_are_refused() -> None:
    with pytest.raises(ValueError, match="not among"):
        ShardedResourceClient(Fake(), KEY, {4}, server_side=True)
    with pytest.raises(ValueError, match="not among"):
        ShardedResourceClient(Fake(), KEY, set(), server_side=True)


class Refusing(Fake):
    def __init__(self, error: Exception | None) -> None:
        super().__init__()
        self.error = error

    def list_page(self, options: ListOptions) -> ListPage:
        assert options.limit == 1
        assert options.extra["shardSelector"] == "shardRange(object.metadata.uid, '0x0', '0x1')"
        if self.error is not None:
            raise self.error
        return ListPage([], "1")


@pytest.mark.parametrize(
    "error",
    [
        InternalError(500, "InternalError", "invalid shard selector: hexStart must be ..."),
        BadRequest(400, "BadRequest", "invalid shard selector: ..."),
    ],
)
def test_the_probe_reads_a_refusal_of_the_malformed_selector_whatever_its_code(
    error: Exception,
) -> None:
    assert probe_shard_selector(Refusing(error))


def test_the_probe_reads_a_listing_as_ignored_and_raises_other_failures() -> None:
    assert not probe_shard_selector(Refusing(None))
    with pytest.raises(Forbidden):
        probe_shard_selector(Refusing(Forbidden(403, "Forbidden", "no")))
