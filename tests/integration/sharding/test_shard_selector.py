"""shardSelector on the real API server: the probe tells a server that
applies it from one that ignores it, and a shard's LIST and WATCH hold the
same objects either way (the server filters, or the client does)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.cache import (
    ReceivedCounter,
    ShardedResourceClient,
    ShardKey,
    SharedInformerFactory,
    get_name,
    probe_shard_selector,
    wait_for_cache_sync,
)
from kubeloop.client import Client, ListOptions
from tests.integration.support import network, wait_until

SHARDS = 3


@contextlib.contextmanager
def scratch_namespace(client: Client) -> Iterator[str]:
    name = f"sh-{uuid.uuid4().hex[:8]}"
    namespaces = client.resource("v1", "namespaces")
    namespaces.create({"metadata": {"name": name}})
    try:
        yield name
    finally:
        namespaces.delete(name)


def test_probe_says_the_gated_server_applies_selectors(gated_client: Client) -> None:
    assert probe_shard_selector(gated_client.resource("v1", "configmaps"))
    assert probe_shard_selector(gated_client.resource("samplecrd.k8s.io/v1", "networks"))


def test_probe_says_a_server_without_the_gate_ignores_them(client: Client) -> None:
    assert not probe_shard_selector(client.resource("v1", "configmaps"))


def server(gate: str, request: pytest.FixtureRequest) -> Client:
    """The gated server's client, or the session's (gate off, Network CRD installed)."""
    if gate == "on":
        client: Client = request.getfixturevalue("gated_client")
    else:
        request.getfixturevalue("network_crd")
        client = request.getfixturevalue("client")
    return client


def shard_contents(
    client: Client, namespace: str, server_side: bool
) -> tuple[list[set[str]], list[int], dict[str, str]]:
    """Each shard's names by LIST, the objects received per shard, name -> uid."""
    base = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
    key = ShardKey("uid", SHARDS)
    names, received = [], []
    for shard in range(SHARDS):
        counter = ReceivedCounter()
        sharded = ShardedResourceClient(
            base, key, {shard}, server_side=server_side, received=counter
        )
        page = sharded.list_page(ListOptions())
        names.append({get_name(o) for o in page.items})
        received.append(counter.value)
    uids = {get_name(o): o["metadata"]["uid"] for o in base.list_page(ListOptions()).items}
    return names, received, uids


def create_networks(client: Client, namespace: str, count: int) -> None:
    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
    for i in range(count):
        nets.create(network(f"net-{i}"))


@pytest.fixture(params=["on", "off"], ids=["gate-on", "gate-off"])
def where(request: pytest.FixtureRequest) -> Iterator[tuple[Client, str, bool]]:
    """(client, scratch namespace, whether the server applies selectors)."""
    client = server(request.param, request)
    with scratch_namespace(client) as namespace:
        yield client, namespace, request.param == "on"


def test_a_shards_list_holds_exactly_the_objects_whose_hash_is_in_its_range(
    where: tuple[Client, str, bool],
) -> None:
    client, namespace, server_side = where
    create_networks(client, namespace, 60)
    names, received, uids = shard_contents(client, namespace, server_side=server_side)
    key = ShardKey("uid", SHARDS)
    for shard, held in enumerate(names):
        assert held == {n for n, uid in uids.items() if key.shard_of_value(uid) == shard}
    assert set().union(*names) == set(uids) and sum(map(len, names)) == 60
    if server_side:  # the server filtered: each shard received its own objects only
        assert received == [len(n) for n in names]
    else:  # the client filtered: each received them all
        assert received == [60] * SHARDS


def test_a_shards_informer_watches_only_its_own_objects(where: tuple[Client, str, bool]) -> None:
    client, namespace, server_side = where
    stop = threading.Event()
    factory = SharedInformerFactory(client, 0.0, namespace=namespace)
    base = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace)
    key = ShardKey("uid", SHARDS)
    counter = ReceivedCounter()
    informer = factory.informer_for(
        ShardedResourceClient(base, key, {1}, server_side=server_side, received=counter)
    )
    seen: list[tuple[str, Any]] = []
    lock = threading.Condition()

    class Recorder:
        def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
            with lock:
                seen.append(("add", obj))
                lock.notify_all()

        def on_update(self, old: Any, new: Any) -> None:
            pass

        def on_delete(self, obj: Any) -> None:
            with lock:
                seen.append(("delete", obj))
                lock.notify_all()

    informer.add_event_handler(Recorder())
    try:
        factory.start(stop)
        assert wait_for_cache_sync(stop, informer.has_synced)
        create_networks(client, namespace, 45)
        uids = {get_name(o): o["metadata"]["uid"] for o in base.list_page(ListOptions()).items}
        mine = {n for n, uid in uids.items() if key.shard_of_value(uid) == 1}
        with lock:
            assert lock.wait_for(lambda: {get_name(o) for _, o in seen} >= mine, 30)
        # Deleting every object: only this shard's deletions arrive.
        for name in uids:
            base.delete(name)
        with lock:
            assert lock.wait_for(lambda: sum(k == "delete" for k, _ in seen) == len(mine), 30)
        assert {get_name(o) for k, o in seen if k == "add"} == mine
        assert {get_name(o) for k, o in seen if k == "delete"} == mine
        assert informer.get_indexer().list_keys() == []
        # The server sent this shard's adds and deletes; or all 90 when it
        # ignored the selector (the other shards' may still be on the way).
        expected = 2 * len(mine) if server_side else 90
        wait_until(lambda: counter.value >= expected, 30, f"{expected} objects received")
        assert counter.value == expected
    finally:
        stop.set()
        factory.shutdown()
