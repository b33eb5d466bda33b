"""Every ResourceClient operation against the real kube-apiserver."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

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
from kubeloop.testenv import ControlPlane, FaultProxy, proxied_config
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
    pages = list(cms.pages(limit=500))
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
    even = cms.list(label_selector="parity=even")
    assert sorted(i["metadata"]["name"] for i in even.items) == ["s0", "s2"]
    one = cms.list(field_selector="metadata.name=s3")
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
    # The server would keep this watch open for 300 s: only stop() ends it sooner.
    w = cms.watch(resource_version="", timeout_seconds=300)
    ended = threading.Event()

    def consume() -> None:
        for _ in w:
            pass
        ended.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    w.stop()
    assert ended.wait(60), "iteration did not end after stop()"
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
    # compressor until the stream ended. So each event must arrive while the
    # stream is still open, which the next one proves: had "second" been
    # flushed only at the end, the stream would be over before "third" existed.
    cms = client.resource("v1", "configmaps", namespace=namespace)
    cms.create(cm("first"))
    ours = {"first", "second", "third"}  # kube-root-ca.crt may appear at any time
    with cms.watch(
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        resource_version="",
        allow_watch_bookmarks=True,
        timeout_seconds=60,
    ) as w:
        events = (
            e for e in w if e.type is EventType.BOOKMARK or e.object["metadata"]["name"] in ours
        )
        for event in events:
            if event.type == EventType.BOOKMARK:
                break
        for name in ("second", "third"):
            cms.create(cm(name))
            got = next((e for e in events if e.type != EventType.BOOKMARK), None)
            assert got is not None, f"the stream ended before it delivered {name!r}"
            assert (got.type, got.object["metadata"]["name"]) == ("ADDED", name)


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


def test_requests_reuse_keepalive_connections_and_each_watch_has_its_own(
    kubeconfig: str, testenv: ControlPlane, namespace: str
) -> None:
    # The client under test reaches the server through a proxy of its own,
    # so every connection the proxy forwards is one this client opened.
    server = urlsplit(testenv.server)
    assert server.hostname is not None and server.port is not None
    with FaultProxy(server.hostname, server.port) as proxy:
        config = proxied_config(load_config(kubeconfig=kubeconfig), proxy.port)
        config.qps, config.burst = 0, 0  # unthrottled, so the requests below overlap
        with Client(config) as c:
            cms = c.resource("v1", "configmaps", namespace=namespace)
            watches = [cms.watch(resource_version="", timeout_seconds=60) for _ in range(3)]
            try:
                for i in range(3):
                    cms.list()
                    cms.create(cm(f"h1-{i}"))
                # One after another, requests take turns on one connection.
                assert proxy.accepted == 1 + len(watches)
                # At once, each needs one; the pool keeps them for later.
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda _: cms.list(), range(16)))
                accepted = proxy.accepted
                assert 1 + len(watches) <= accepted <= 8 + len(watches)
                for _ in range(5):
                    cms.list()
                assert proxy.accepted == accepted
                for w in watches:  # all of them deliver
                    it = iter(w)
                    assert next(it).object["metadata"]["name"].startswith("h1-")
            finally:
                for w in watches:
                    w.stop()
            # A stopped watch's connection is closed, not pooled mid-stream.
            wait_until(
                lambda: proxy.open_connections() == accepted - len(watches),
                timeout=10,
                what="the stopped watches' connections closed",
            )


class _HangUp:
    """A listener that accepts each connection and closes it at once: a
    server that is there but never answers. Counts the connections."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1  # before the close the client is waiting for
            conn.close()

    def close(self) -> None:
        # shutdown() wakes the accept() blocked in the thread; close() alone does not.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(10)


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port: int = s.getsockname()[1]
    return port  # nothing listens there now: connections are refused


@pytest.mark.parametrize("server", ["refused", "hangs-up"])
def test_unreachable_server_fails_with_a_transport_error_after_a_bounded_number_of_attempts(
    kubeconfig: str, server: str
) -> None:
    hang_up = _HangUp() if server == "hangs-up" else None
    config = load_config(kubeconfig=kubeconfig)
    config.host = f"https://127.0.0.1:{hang_up.port if hang_up else _closed_port()}"
    try:
        with Client(config) as c, pytest.raises(TransportError) as info:
            c.version()
    finally:
        if hang_up is not None:
            hang_up.close()
    message = str(info.value)
    assert "cannot reach" in message
    # The first try and max_connect_retries (4) retries, then it gives up.
    attempts = re.search(r"after (\d+) attempts", message)
    assert attempts is not None and int(attempts.group(1)) == 5, message
    if hang_up is not None:  # counted where they arrived, not as the client says
        assert hang_up.accepted == 5


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
    (item,) = nets.list().items
    assert (item["kind"], item["apiVersion"]) == ("Network", "samplecrd.k8s.io/v1")
    deps = client.resource("apps/v1", "deployments", namespace=namespace)
    deps.create(deployment("k2"))
    (dep,) = deps.list().items
    assert (dep["kind"], dep["apiVersion"]) == ("Deployment", "apps/v1")
