"""Typed objects (msgspec Structs) flow through reflector, DeltaFIFO,
indexer, informer and listers unchanged: the cache never assumes dicts."""

from __future__ import annotations

import threading

import msgspec

from kubeloop.cache import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    Lister,
    ReflectorOptions,
    SharedIndexInformer,
    meta_namespace_index_func,
    strip_managed_fields,
    wait_for_cache_sync,
)
from kubeloop.cache.testing import FakeControllerSource
from kubeloop.errors import Gone

from .helpers import WAIT, FakeBackoff, Recorder


class ObjectMeta(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str = ""
    namespace: str | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    managed_fields: list[dict[str, str]] | None = None


class Network(msgspec.Struct, rename="camel"):
    metadata: ObjectMeta
    spec: dict[str, str] = {}


def net(name: str, ns: str, **labels: str) -> Network:
    return Network(
        ObjectMeta(name=name, namespace=ns, labels=labels, managed_fields=[{"manager": "m"}])
    )


def test_typed_objects_through_the_informer() -> None:
    source = FakeControllerSource()
    source.add(net("a", "prod", app="web"))
    source.add(net("b", "prod", app="db"))
    source.add(net("c", "dev", app="web"))
    for use_watch_list in (True, False):
        informer = SharedIndexInformer(
            source,
            0,
            {NAMESPACE_INDEX: meta_namespace_index_func},
            reflector_options=ReflectorOptions(
                use_watch_list=use_watch_list, backoff=FakeBackoff()
            ),
        )
        informer.set_transform(strip_managed_fields)
        rec = Recorder()
        informer.add_event_handler(rec)
        stop = threading.Event()
        thread = threading.Thread(target=informer.run, args=(stop,), name="kubeloop-test-typed")
        thread.start()
        try:
            assert wait_for_cache_sync(stop, informer.has_synced)
            lister = Lister(informer.get_indexer(), resource="networks")
            web = lister.namespaced("prod").list("app=web")
            assert [n.metadata.name for n in web] == ["a"]
            assert isinstance(web[0], Network)
            assert web[0].metadata.managed_fields is None
            assert sorted(informer.get_indexer().list_index_func_values(NAMESPACE_INDEX)) == [
                "dev",
                "prod",
            ]
            if use_watch_list:
                source.modify(net("a", "prod", app="web", v="2"))
                source.delete(net("b", "prod"))
                rec.wait_for(lambda ev: [k for k, _, _ in ev][-2:] == ["update", "delete"])
            else:
                # A missed deletion comes back as a tombstone of the typed object.
                source.delete_drop_watch(net("c", "dev"))
                source.compact()
                source.fail_watches(Gone(410, "Expired", "too old"))
                # RealFIFO reports a relist's missed deletions first.
                rec.wait_for(lambda ev: any(isinstance(e[1], DeletedFinalStateUnknown) for e in ev))
                tombstone = next(e[1] for e in rec.events if e[0] == "delete")
                assert isinstance(tombstone.obj, Network) and tombstone.key == "dev/c"
        finally:
            stop.set()
            thread.join(WAIT)
        assert not thread.is_alive()
