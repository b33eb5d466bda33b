"""Client and AsyncClient against the real kube-apiserver, verb by verb.

Each verb test runs three times: through the sync ``Client``, and through
the ``AsyncClient`` under asyncio's own loop and under uvloop. A call is
awaited when the client is async, so one test body pins that both clients
mean the same by every verb, for dicts, models and metadata. Then what only
the async client has: a cancelled watch closes its connection within 1 s,
with no ResourceWarning, and cancelling a task cancels its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec
import psutil
import pytest
import uvloop

from kubeloop.client import AsyncClient, Client, EventType, load_config
from kubeloop.errors import AlreadyExists, Conflict, FieldsWouldBeDropped, NotFound
from kubeloop.typed import Model, ObjectMeta, PartialObjectMetadata, Resource
from network_controller.models import Network, NetworkSpec, NetworkStatus

pytestmark = pytest.mark.integration

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(loop: str, coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(coro())


async def do(result: Any) -> Any:
    """A verb's result, awaited when the client is async."""
    return await result if inspect.isawaitable(result) else result


async def pages_of(pages: Any) -> list[Any]:
    if hasattr(pages, "__aiter__"):
        return [page async for page in pages]
    return list(pages)


@pytest.fixture(params=["sync", "async-asyncio", "async-uvloop"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def twin(
    flavour: str, kubeconfig: str
) -> Iterator[Callable[[Callable[[Any], Awaitable[None]]], None]]:
    """Runs ``body(client)`` with the flavour's client, on its loop."""
    config = load_config(kubeconfig=kubeconfig)
    config.qps, config.burst = 500.0, 1000

    def go(body: Callable[[Any], Awaitable[None]]) -> None:
        if flavour == "sync":
            with Client(config) as client:
                run("asyncio", lambda: body(client))  # type: ignore[arg-type, return-value]
            return

        async def main() -> None:
            async with AsyncClient(config) as client:
                await body(client)

        run(flavour.removeprefix("async-"), main)

    yield go


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_dict_verbs_mean_the_same_in_both_clients(twin: Any, namespace: str) -> None:
    async def body(client: Any) -> None:
        cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
        created = await do(cms.create(cm("a", k="1")))
        assert created["metadata"]["namespace"] == namespace
        with pytest.raises(AlreadyExists):
            await do(cms.create(cm("a")))
        got = await do(cms.get("a"))
        got["data"]["k"] = "2"
        updated = await do(cms.update(got))  # a PUT at got's resourceVersion
        assert updated["data"] == {"k": "2"}
        with pytest.raises(Conflict):
            await do(cms.update(got))  # stale now
        merged = await do(cms.patch("a", {"data": {"m": "1"}}))
        assert merged["data"] == {"k": "2", "m": "1"}
        ops = [{"op": "remove", "path": "/data/m"}]
        assert (await do(cms.patch("a", ops, patch_type="json")))["data"] == {"k": "2"}
        strategic = await do(cms.patch("a", {"data": {"s": "1"}}, patch_type="strategic"))
        assert strategic["data"]["s"] == "1"
        applied = await do(cms.apply(cm("b", x="1"), field_manager="twin"))
        assert applied["metadata"]["managedFields"][0]["manager"] == "twin"
        for i in range(3):
            labelled = cm(f"p{i}")
            labelled["metadata"]["labels"] = {"parity": "even" if i % 2 == 0 else "odd"}
            await do(cms.create(labelled))
        pages = await pages_of(cms.pages(limit=2))
        assert [len(p.items) for p in pages] == [2, 2, 1]
        assert pages[0].resource_version and all(p.continue_ for p in pages[:-1])
        everything = await do(cms.list(limit=2))
        assert sorted(o["metadata"]["name"] for o in everything.items) == [
            "a",
            "b",
            "p0",
            "p1",
            "p2",
        ]
        exact = await do(
            cms.list_page(
                resource_version=everything.resource_version, resource_version_match="Exact"
            )
        )
        assert len(exact.items) == 5
        one = await do(cms.list(field_selector="metadata.name=p1"))
        assert [o["metadata"]["name"] for o in one.items] == ["p1"]
        with pytest.raises(Conflict):
            await do(cms.delete("b", preconditions={"resourceVersion": "1"}))
        await do(cms.delete("b"))
        with pytest.raises(NotFound):
            await do(cms.get("b"))
        await do(cms.delete_collection(label_selector="parity=even"))
        left = await do(cms.list())
        assert sorted(o["metadata"]["name"] for o in left.items) == ["a", "p1"]

    twin(body)


def test_discovery_by_kind_is_the_same_in_both_clients(twin: Any, namespace: str) -> None:
    async def body(client: Any) -> None:
        by_kind = client.resource("v1", "ConfigMap", namespace=namespace)
        await do(by_kind.create(cm("k")))
        assert by_kind.plural == "configmaps" and by_kind.namespaced is True

    twin(body)


def net(name: str) -> Network:
    spec = NetworkSpec(cidr="10.1.0.0/24", gateway="10.1.0.1")
    return Network(metadata=ObjectMeta(name=name), spec=spec)


def test_model_and_metadata_verbs_mean_the_same_in_both_clients(
    twin: Any, network_crd: str, namespace: str
) -> None:
    async def body(client: Any) -> None:
        nets = client.resource(Network, namespace=namespace)
        created = await do(nets.create(net("n")))
        assert isinstance(created, Network) and created.metadata.uid
        created.spec.gateway = "10.1.0.254"
        updated = await do(nets.update(created))
        assert updated.spec.gateway == "10.1.0.254" and updated.metadata.generation == 2
        updated.status = NetworkStatus(network_id="id-1", observed_generation=2)
        with_status = await do(nets.update_status(updated))
        assert with_status.status is not None and with_status.status.network_id == "id-1"
        patched = await do(nets.patch_status("n", {"status": {"networkID": "id-2"}}))
        assert patched.status is not None and patched.status.network_id == "id-2"
        applied = await do(nets.apply(net("m"), field_manager="twin"))
        assert isinstance(applied, Network)
        items = (await do(nets.list())).items
        assert sorted(n.metadata.name for n in items) == ["m", "n"]
        assert all(isinstance(n, Network) for n in items)
        meta = nets.metadata()
        page = await do(meta.list_page())
        assert all(isinstance(m, PartialObjectMetadata) for m in page.items)
        assert {m.kind for m in page.items} == {"Network"}
        assert (await do(meta.get("n"))).metadata.uid == created.metadata.uid
        with pytest.raises(TypeError, match="metadata-only"):
            await do(meta.create(page.items[0]))
        await do(nets.delete("m"))
        with pytest.raises(NotFound):
            await do(nets.get("m"))

    twin(body)


class ThinSpec(Model, kw_only=True):
    cidr: str = ""


class ThinNetwork(Resource, kw_only=True):
    """An older model of Network: it does not know spec.gateway."""

    API_VERSION: ClassVar[str] = Network.API_VERSION
    KIND: ClassVar[str] = "Network"
    PLURAL: ClassVar[str] = "networks"
    spec: ThinSpec = msgspec.field(default_factory=ThinSpec)


def test_a_typed_put_that_would_drop_fields_is_refused_by_both(
    twin: Any, network_crd: str, namespace: str
) -> None:
    async def body(client: Any) -> None:
        await do(client.resource(Network, namespace=namespace).create(net("x")))
        thin = client.resource(ThinNetwork, namespace=namespace)
        got = await do(thin.get("x"))
        got.spec.cidr = "10.1.0.0/16"
        with pytest.raises(FieldsWouldBeDropped, match=r"spec\.gateway") as refused:
            await do(thin.update(got))
        assert refused.value.fields == ["spec.gateway"]
        await do(thin.patch("x", got))  # the partial write keeps what it does not name
        after = await do(client.resource(Network, namespace=namespace).get("x"))
        assert (after.spec.cidr, after.spec.gateway) == ("10.1.0.0/16", "10.1.0.1")

    twin(body)


def test_watch_events_are_the_same_in_both_clients(twin: Any, namespace: str) -> None:
    async def body(client: Any) -> None:
        cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
        rv = (await do(cms.list_page())).resource_version
        watch = await do(cms.watch(resource_version=rv, timeout_seconds=30))
        await do(cms.create(cm("w")))
        await do(cms.patch("w", {"data": {"k": "v"}}))
        await do(cms.delete("w"))
        seen: list[tuple[str, str]] = []
        if hasattr(watch, "__aiter__"):
            async with watch:
                async for event in watch:
                    seen.append((event.type, event.object["metadata"]["name"]))
                    if event.type == EventType.DELETED:
                        break
        else:
            with watch:
                for event in watch:
                    seen.append((event.type, event.object["metadata"]["name"]))
                    if event.type == EventType.DELETED:
                        break
        assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]

    twin(body)


def _watch_connections(host: str, port: int) -> set[int]:
    """Local ports of this process's established connections to the server."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port
    }


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_cancelled_watch_closes_its_connection_within_1s_without_resource_warnings(
    loop: str, kubeconfig: str, namespace: str
) -> None:
    config = load_config(kubeconfig=kubeconfig)
    port = urlsplit(config.host).port or 443

    async def main() -> None:
        async with AsyncClient(config) as client:
            cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
            rv = (await cms.list_page()).resource_version
            before = _watch_connections(config.host, port)
            watch = await cms.watch(resource_version=rv, allow_watch_bookmarks=True)
            during = _watch_connections(config.host, port)
            assert len(during - before) == 1, (before, during)
            got_one = asyncio.Event()
            names: list[str] = []

            async def consume() -> None:
                async for event in watch:
                    names.append(event.object["metadata"]["name"])
                    got_one.set()

            task = asyncio.create_task(consume())
            await cms.create(cm("c1"))
            await asyncio.wait_for(got_one.wait(), 10)
            cancelled = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            while _watch_connections(config.host, port) - before:
                assert time.monotonic() - cancelled < 1.0, "the watch connection is still open"
                await asyncio.sleep(0.01)
            assert watch.stopped and names == ["c1"]
            assert await cms.get("c1")  # the client still works

    # What earlier tests in this process left for the collector (their
    # unclosed sockets warn when collected) must not be counted as ours.
    gc.collect()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", ResourceWarning)
        run(loop, main)
        gc.collect()
    leaks = [str(w.message) for w in record if issubclass(w.category, ResourceWarning)]
    assert leaks == []


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_cancelling_a_task_cancels_its_request(loop: str, kubeconfig: str, namespace: str) -> None:
    """A watch GET that the server holds open (no event comes) is a request
    in flight; cancelling the task awaiting its first event ends it at once."""
    config = load_config(kubeconfig=kubeconfig)

    async def main() -> None:
        async with AsyncClient(config) as client:
            cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
            rv = (await cms.list_page()).resource_version
            watch = await cms.watch(resource_version=rv, timeout_seconds=60)
            reading = asyncio.Event()

            async def first_event() -> Any:
                reading.set()  # no await before the read: the task runs on into it
                return await anext(aiter(watch))

            task = asyncio.create_task(first_event())
            await reading.wait()  # so the task is now suspended in the socket read
            started = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 1.0
            assert task.cancelled() and watch.stopped

    run(loop, main)
