"""Metadata-only informers on the real API server: cached, indexed and
listed like any informer, beside the full informer of the same resource."""

from __future__ import annotations

from typing import ClassVar

import pytest

from kubeloop.cache import ReflectorOptions, SharedInformerFactory
from kubeloop.client import Client
from kubeloop.typed import PartialObjectMetadata, Resource
from tests.integration.support import deployment

from .helpers import WAIT, Mirror, running

pytestmark = pytest.mark.integration


class Deployment(Resource, kw_only=True):
    API_VERSION: ClassVar[str] = "apps/v1"
    KIND: ClassVar[str] = "Deployment"
    PLURAL: ClassVar[str] = "deployments"
    NAMESPACED: ClassVar[bool] = True


@pytest.mark.parametrize("use_watch_list", [True, False], ids=["watch-list", "list"])
def test_full_and_metadata_only_deployment_informers_coexist(
    client: Client, namespace: str, other_namespace: str, use_watch_list: bool
) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    deployments.create(deployment("web", labels={"app": "web"}))
    deployments.create(deployment("db", labels={"app": "db"}))
    client.resource("apps/v1", "deployments", namespace=other_namespace, namespaced=True).create(
        deployment("elsewhere")
    )
    factory = SharedInformerFactory(
        client, 0, reflector_options=ReflectorOptions(use_watch_list=use_watch_list)
    )
    full = factory.informer_for("apps/v1", "deployments")
    metadata = factory.informer_for("apps/v1", "deployments", metadata_only=True)
    assert metadata is not full
    mirror = Mirror()
    metadata.add_event_handler(mirror)
    with running(factory):
        lister = factory.lister_for("apps/v1", "deployments", metadata_only=True)
        cached = lister.namespaced(namespace).list()
        assert sorted(o.metadata.name for o in cached) == ["db", "web"]
        assert all(isinstance(o, PartialObjectMetadata) for o in cached)
        assert {(o.api_version, o.kind) for o in cached} == {("apps/v1", "Deployment")}
        assert all(o.metadata.managed_fields is None for o in cached)  # stripped, as ever
        web = lister.namespaced(namespace).get("web")
        assert [o.metadata.name for o in lister.namespaced(namespace).list("app=web")] == ["web"]
        assert [o.metadata.name for o in lister.namespaced(other_namespace).list()] == ["elsewhere"]
        full_web = factory.lister_for("apps/v1", "deployments").namespaced(namespace).get("web")
        assert full_web["spec"]["replicas"] == 0  # the full informer keeps whole objects

        key = f"{namespace}/web"
        deployments.patch("web", {"metadata": {"labels": {"app": "web", "v": "2"}}})
        before = int(web.metadata.resource_version)
        assert mirror.wait_for(lambda m: int(m.state.get(key, "0")) > before)
        updated = lister.namespaced(namespace).get("web")
        assert updated.metadata.labels == {"app": "web", "v": "2"}
        deployments.delete("db")
        assert mirror.wait_for(lambda m: f"{namespace}/db" not in m.state, WAIT)
        assert sorted(o.metadata.name for o in lister.namespaced(namespace).list()) == ["web"]
    assert not mirror.violations


def test_a_typed_models_metadata_only_informer(client: Client, namespace: str) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    deployments.create(deployment("web"))
    factory = SharedInformerFactory(client, 0, namespace=namespace)
    typed = factory.lister_for(Deployment)
    metadata = factory.lister_for(Deployment, metadata_only=True)
    with running(factory):
        obj = metadata.namespaced(namespace).get("web")
        assert isinstance(obj, PartialObjectMetadata) and obj.kind == "Deployment"
        assert isinstance(typed.namespaced(namespace).get("web"), Deployment)
