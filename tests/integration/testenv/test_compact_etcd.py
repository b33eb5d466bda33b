"""``ControlPlane.compact_etcd`` against the real etcd: compacting what is
already compacted is done, not an error (the randomized informer test with
KUBELOOP_SEED=256334069 compacted twice with no write between and stopped on
etcd's 400), and any other refusal names etcd's reason."""

from __future__ import annotations

import pytest

from kubeloop.client import Client
from kubeloop.errors import Gone
from kubeloop.testenv import ControlPlane
from kubeloop.testenv._controlplane import ControlPlaneError
from tests.integration.cache.helpers import pod_template

pytestmark = pytest.mark.integration


def test_compacting_twice_without_a_write_between_is_done(
    testenv: ControlPlane, client: Client, namespace: str
) -> None:
    maps = client.resource("v1", "configmaps", namespace=namespace)
    first = maps.create({"metadata": {"name": "before"}})
    rev = testenv.compact_etcd()
    assert rev >= int(first["metadata"]["resourceVersion"])
    # Nothing written since: the same revision again, then an older one.
    assert testenv.compact_etcd(rev) == rev
    assert testenv.compact_etcd(rev - 1) == rev - 1


def test_a_list_from_a_compacted_revision_is_gone(
    testenv: ControlPlane, client: Client, namespace: str
) -> None:
    # PodTemplates bypass the watch cache in testenv: etcd itself answers.
    templates = client.resource("v1", "podtemplates", namespace=namespace)
    created = templates.create(pod_template("p"))
    old = created["metadata"]["resourceVersion"]
    templates.patch("p", {"metadata": {"labels": {"x": "1"}}})
    testenv.compact_etcd()
    with pytest.raises(Gone):
        templates.list_page(resource_version=old, resource_version_match="Exact")


def test_a_compaction_etcd_refuses_for_another_reason_says_why(testenv: ControlPlane) -> None:
    header = testenv._etcd_post("/v3/kv/range", {"key": "AA=="})["header"]
    assert isinstance(header, dict)
    future = int(header["revision"]) + 1_000_000
    with pytest.raises(ControlPlaneError, match="future revision"):
        testenv.compact_etcd(future)
