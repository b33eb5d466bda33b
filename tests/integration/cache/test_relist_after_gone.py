"""A watch that resumes from a compacted resourceVersion gets 410 Gone from
the real server; the reflector must relist, and the deletions it missed
meanwhile must reach handlers as tombstones.

PodTemplates are served without the watch cache in testenv, so after
``compact_etcd()`` a watch from an older resourceVersion is refused at once.
"""

from __future__ import annotations

import pytest

from kubeloop.cache import DeletedFinalStateUnknown
from kubeloop.client import Client
from kubeloop.errors import is_gone
from kubeloop.testenv import ControlPlane, FaultProxy
from tests.integration.cache.helpers import (
    cache_state,
    pod_template,
    pod_template_informer,
    running,
    server_state,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("use_watch_list", [True, False], ids=["watch-list", "list"])
def test_relist_after_410_gone_repairs_the_cache_and_delivers_tombstones(
    client: Client,
    proxied_client: Client,
    proxy: FaultProxy,
    testenv: ControlPlane,
    namespace: str,
    use_watch_list: bool,
) -> None:
    templates = client.resource("v1", "podtemplates", namespace=namespace)
    for i in range(5):
        templates.create(pod_template(f"p{i}"))

    watched = pod_template_informer(proxied_client, namespace, use_watch_list)
    factory, informer, mirror = watched.factory, watched.informer, watched.mirror
    recorder, errors = watched.requests, watched.watch_errors

    with running(factory):
        assert mirror.wait_for(lambda m: len(m.state) == 5)
        # One event over the live watch, so that breaking it below is an
        # ordinary end of a watch and not a "very short" one (which would
        # relist without ever resuming the watch).
        warm = templates.create(pod_template("warm"))
        assert mirror.wait_for(lambda m: f"{namespace}/warm" in m.state)
        lists_before = recorder.list_requests() + recorder.watch_list_requests()
        watches_before = len(recorder.watches)

        # The informer sees nothing of what follows until the watch resumes.
        proxy.stall(True)
        templates.delete("p0")
        templates.delete("p1")
        templates.patch("p2", {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}})
        templates.create(pod_template("p5"))
        compacted = testenv.compact_etcd()
        assert compacted > int(warm["metadata"]["resourceVersion"])
        proxy.cut_all()
        proxy.stall(False)

        expected = server_state(templates)
        assert set(expected) == {f"{namespace}/{n}" for n in ("p2", "p3", "p4", "p5", "warm")}
        assert mirror.wait_for(lambda m: m.state == expected), (
            f"mirror {mirror.snapshot()} != server {expected}; watch errors: {errors}"
        )
        assert cache_state(factory, "v1", "podtemplates") == expected
        assert informer.has_synced()

    assert any(is_gone(e) for e in errors), f"no 410 Gone was seen: {errors}"
    # The watch resumed from where it was (not a relist straight away), was
    # refused with 410, and only then did the reflector list again.
    resumed = recorder.watches[watches_before]
    assert resumed.resource_version is not None
    assert int(warm["metadata"]["resourceVersion"]) <= int(resumed.resource_version) < compacted
    assert not resumed.send_initial_events
    assert recorder.list_requests() + recorder.watch_list_requests() > lists_before
    # The two deletions happened while the informer was blind: they can only
    # have come from the relist, as tombstones carrying the last known state.
    tombstones = {t.key: t for t in mirror.tombstones}
    assert set(tombstones) == {f"{namespace}/p0", f"{namespace}/p1"}
    assert all(isinstance(t, DeletedFinalStateUnknown) for t in tombstones.values())
    assert tombstones[f"{namespace}/p0"].obj["metadata"]["name"] == "p0"
    updated = mirror.objects[f"{namespace}/p2"]
    assert updated["template"]["spec"]["containers"][0]["image"] == "x"
    assert mirror.violations == []
