"""Every ResourceClient operation against the real kube-apiserver."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil
import pytest

from kubeloop.client import Client, EventType, ListOptions, load_config
from kubeloop.errors import (
    AlreadyExists,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    TransportError,
    is_not_found,
)
from kubeloop.testenv import ControlPlane
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_create_get_update_delete_round_trip(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    created = cms.create(cm("a", k="1"))
    assert created["metadata"]["namespace"] == namespace
    got = cms.get("a")
    assert got["data"] == {"k": "1"}
    got["data"]["k"] = "2"
    updated = cms.update(got)
    assert updated["data"] == {"k": "2"}
    assert updated["metadata"]["resourceVersion"] != got["metadata"]["resourceVersion"]
    cms.delete("a")
    with pytest.raises(NotFound):
        cms.get("a")


def test_create_twice_is_already_exists(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("dup"))
    with pytest.raises(AlreadyExists) as info:
        cms.create(cm("dup"))
    assert info.value.code == 409 and info.value.reason == "AlreadyExists"


def test_stale_update_is_a_409_conflict(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    first = cms.create(cm("c", k="1"))
    fresh = dict(first, data={"k": "2"})
    cms.update(fresh)
    stale = dict(first, data={"k": "3"})  # still carries the old resourceVersion
    with pytest.raises(Conflict) as info:
        cms.update(stale)
    assert info.value.code == 409
    assert cms.get("c")["data"] == {"k": "2"}


def test_invalid_object_carries_field_causes(
    client: Client, network_crd: str, namespace: str
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace)
    with pytest.raises(Invalid) as info:
        nets.create(network("bad", cidr="not-a-cidr", gateway="10.0.0.1"))
    assert info.value.code == 422
    assert any("spec.cidr must be a CIDR" in c.get("message", "") for c in info.value.causes)


def test_list_of_1200_objects_paged_by_500(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    for i in range(1200):
        cms.create(cm(f"p{i:04d}"))
    pages = list(cms.list(limit=500))
    sizes = [len(p.items) for p in pages]
    # kube-root-ca.crt may be published into the namespace too
    assert sizes[:2] == [500, 500] and sizes[2] in (200, 201)
    assert pages[0].continue_ and pages[1].continue_ and not pages[2].continue_
    names = {i["metadata"]["name"] for p in pages for i in p.items}
    assert {f"p{i:04d}" for i in range(1200)} <= names
    # The whole list is one snapshot: every page reports the first page's RV.
    assert len({p.resource_version for p in pages}) == 1


def test_list_with_label_and_field_selectors(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    for i in range(4):
        obj = cm(f"s{i}")
        obj["metadata"]["labels"] = {"parity": "even" if i % 2 == 0 else "odd"}
        cms.create(obj)
    even = cms.list_all(label_selector="parity=even")
    assert sorted(i["metadata"]["name"] for i in even.items) == ["s0", "s2"]
    one = cms.list_all(field_selector="metadata.name=s3")
    assert [i["metadata"]["name"] for i in one.items] == ["s3"]


def test_list_at_exact_resource_version(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("v1"))
    snapshot = cms.list_page(ListOptions()).resource_version
    cms.create(cm("v2"))
    old = cms.list_page(ListOptions(resource_version=snapshot, resource_version_match="Exact"))
    names = {i["metadata"]["name"] for i in old.items}
    assert "v1" in names and "v2" not in names


def test_watch_delivers_added_modified_deleted_in_order(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    rv = cms.list_page(ListOptions()).resource_version
    with cms.watch(resource_version=rv, timeout_seconds=30) as w:
        obj = cms.create(cm("w", k="1"))
        obj["data"]["k"] = "2"
        cms.update(obj)
        cms.delete("w")
        seen = []
        for event in w:
            if event.object["metadata"]["name"] == "w":
                seen.append((event.type, event.object.get("data", {}).get("k")))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_watch_can_be_stopped_from_another_thread(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    w = cms.watch(resource_version="", timeout_seconds=300)
    ended = threading.Event()

    def consume() -> None:
        for _ in w:
            pass
        ended.set()

    t = threading.Thread(target=consume)
    t.start()
    started = time.monotonic()
    w.stop()
    assert ended.wait(5), "iteration did not end after stop()"
    assert time.monotonic() - started < 5
    t.join()


def test_watch_resumes_from_a_bookmark_resource_version(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("before"))
    # WatchList streaming ends its initial events with a bookmark at once.
    bookmark_rv = None
    with cms.watch(
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        resource_version="",
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    ) as w:
        for event in w:
            if event.type == EventType.BOOKMARK:
                annotations = event.object["metadata"].get("annotations", {})
                assert annotations.get("k8s.io/initial-events-end") == "true"
                bookmark_rv = event.object["metadata"]["resourceVersion"]
                break
    assert bookmark_rv
    cms.create(cm("after"))
    with cms.watch(resource_version=bookmark_rv, timeout_seconds=30) as w:
        first = next(iter(w))
    # Resuming replays nothing before the bookmark and everything after it.
    assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "after")


def test_watch_list_stream_keeps_delivering_after_the_initial_events(
    client: Client, namespace: str
) -> None:
    # Regression: a gzip-compressed watch held later events in the server's
    # compressor until the stream ended.
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("first"))
    with cms.watch(
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        resource_version="",
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    ) as w:
        events = iter(w)
        for event in events:
            if event.type == EventType.BOOKMARK:
                break
        cms.create(cm("second"))
        started = time.monotonic()
        event = next(e for e in events if e.type != EventType.BOOKMARK)
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "second")
        assert time.monotonic() - started < 10


def test_watch_from_a_compacted_resource_version_is_gone(
    client: Client, testenv: ControlPlane, namespace: str
) -> None:
    # testenv serves PodTemplates without the watch cache, so the watch
    # reaches etcd, whose history compaction has just removed.
    templates = client.resource("v1", "podtemplates", namespace=namespace)
    old_rv = templates.create(pod_template("g0"))["metadata"]["resourceVersion"]
    for i in range(3):
        templates.create(pod_template(f"g{i + 1}"))
    testenv.compact_etcd()
    with pytest.raises(Gone) as info, templates.watch(resource_version=old_rv) as w:
        next(iter(w))
    assert info.value.code == 410
    # A list at that exact resourceVersion is refused the same way.
    with pytest.raises(Gone):
        templates.list_page(resource_version=old_rv, resource_version_match="Exact")


def pod_template(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name},
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    }


def test_patch_merge_json_and_strategic(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("m", a="1", b="2"))
    merged = cms.patch("m", {"data": {"a": "10", "b": None}})
    assert merged["data"] == {"a": "10"}
    jsoned = cms.patch("m", [{"op": "add", "path": "/data/c", "value": "3"}], patch_type="json")
    assert jsoned["data"] == {"a": "10", "c": "3"}

    deps = client.resource("apps/v1", "deployments", namespace=namespace)
    deps.create(deployment("d"))
    # Strategic merge merges the containers list by name instead of replacing it.
    patched = deps.patch(
        "d",
        {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}},
        patch_type="strategic",
    )
    names = [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["app", "side"]


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


def test_server_side_apply_conflict_and_forced_resolution(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.apply(cm("ssa", k="alice"), field_manager="alice")
    with pytest.raises(Conflict) as info:
        cms.apply(cm("ssa", k="bob"), field_manager="bob")
    assert "conflict" in info.value.message.lower()
    forced = cms.apply(cm("ssa", k="bob"), field_manager="bob", force=True)
    assert forced["data"] == {"k": "bob"}
    managers = {m["manager"] for m in forced["metadata"]["managedFields"]}
    assert "bob" in managers


def test_delete_with_preconditions_and_propagation(client: Client, namespace: str) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace)
    obj = cms.create(cm("pre"))
    with pytest.raises(Conflict):
        cms.delete("pre", preconditions={"uid": "00000000-0000-0000-0000-000000000000"})
    assert cms.get("pre")
    cms.delete(
        "pre",
        preconditions={"uid": obj["metadata"]["uid"]},
        propagation_policy="Background",
        grace_period_seconds=0,
    )
    with pytest.raises(NotFound):
        cms.get("pre")

    deps = client.resource("apps/v1", "deployments", namespace=namespace)
    deps.create(deployment("fg"))
    pending = deps.delete("fg", propagation_policy="Foreground")
    # Foreground deletion keeps the owner, finalised, until dependents are gone.
    assert "foregroundDeletion" in pending["metadata"].get("finalizers", [])
    wait_until(lambda: _gone(deps, "fg"), 60, "foreground deletion to finish")


def _gone(rc: Any, name: str) -> bool:
    try:
        rc.get(name)
        return False
    except NotFound:
        return True


def test_status_subresource(client: Client, network_crd: str, namespace: str) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace)
    created = nets.create(network("st"))
    created["status"] = {"observedGeneration": 1, "normalizedCIDR": "10.0.0.0/24"}
    created["spec"]["gateway"] = "10.0.0.2"  # ignored by a status write
    after = nets.update_status(created)
    assert after["status"]["normalizedCIDR"] == "10.0.0.0/24"
    assert after["spec"]["gateway"] == "10.0.0.1"
    patched = nets.patch_status("st", {"status": {"observedGeneration": 7}})
    assert patched["status"]["observedGeneration"] == 7
    assert nets.get_status("st")["status"]["observedGeneration"] == 7


def test_discovery_finds_a_crd_by_kind(client: Client, network_crd: str) -> None:
    info = client.resource_for(network_crd, "Network")
    assert (info.name, info.namespaced) == ("networks", True)
    ns_info = client.resource_for("v1", "Namespace")
    assert (ns_info.name, ns_info.namespaced) == ("namespaces", False)
    with pytest.raises(NotFound):
        client.resource_for("v1", "NoSuchKind")


def test_requests_share_one_http2_connection_and_each_watch_has_its_own(
    kubeconfig: str, namespace: str
) -> None:
    config = load_config(kubeconfig=kubeconfig)
    port = int(config.host.rsplit(":", 1)[1])

    def connections() -> set[int]:
        return {
            k.laddr.port
            for k in psutil.Process().net_connections("tcp")
            if k.raddr and k.raddr.port == port and k.status == "ESTABLISHED"
        }

    before = connections()  # other clients of this test process
    with Client(config) as c:
        cms = c.resource("v1", "configmaps", namespace=namespace)
        watches = [cms.watch(resource_version="", timeout_seconds=60) for _ in range(3)]
        try:
            for _ in range(3):
                cms.list_all()
                cms.create(cm(f"h2-{_}"))
            assert len(connections() - before) == 1 + len(watches)
            for w in watches:  # all of them deliver
                it = iter(w)
                assert next(it).object["metadata"]["name"].startswith("h2-")
        finally:
            for w in watches:
                w.stop()


def test_unreachable_server_fails_with_a_transport_error_in_bounded_time(kubeconfig: str) -> None:
    config = load_config(kubeconfig=kubeconfig)
    config.host = "https://127.0.0.1:1"  # nothing listens there
    with Client(config) as c:
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            c.version()
        assert time.monotonic() - started < 30
    assert "cannot reach" in str(info.value)


def test_wrong_ca_is_a_clear_error(kubeconfig: str, tmp_path: Any) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    config = load_config(kubeconfig=kubeconfig)
    config.ca_data = cert.public_bytes(serialization.Encoding.PEM)
    with Client(config) as c, pytest.raises(TransportError) as info:
        c.version()
    assert "certificate" in str(info.value).lower()


def test_not_found_helper(client: Client, namespace: str) -> None:
    with pytest.raises(NotFound) as info:
        client.resource("v1", "configmaps", namespace=namespace).get("nope")
    assert is_not_found(info.value)


def test_listed_items_carry_kind_and_api_version_like_watched_ones(
    client: Client, network_crd: str, namespace: str
) -> None:
    nets = client.resource(network_crd, "networks", namespace=namespace)
    nets.create(network("k1"))
    (item,) = nets.list_all().items
    assert (item["kind"], item["apiVersion"]) == ("Network", "samplecrd.k8s.io/v1")
    deps = client.resource("apps/v1", "deployments", namespace=namespace)
    deps.create(deployment("k2"))
    (dep,) = deps.list_all().items
    assert (dep["kind"], dep["apiVersion"]) == ("Deployment", "apps/v1")
