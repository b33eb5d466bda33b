"""A controller for a kind whose CRD is installed after the manager
started: no exception at construction, one log line while it waits, and
reconciles once the CRD is served, without a restart."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.errors import is_not_found
from kubeloop.runtime import Manager
from tests.integration.support import ensure_crd

from .conftest import WAIT, Reconciles, running


@pytest.fixture
def widget_crd(client: Client) -> Iterator[dict[str, Any]]:
    """A CRD of a group no other test uses, not installed yet; removed after."""
    group = f"t{uuid.uuid4().hex[:8]}.kubeloop.test"
    manifest: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    yield manifest
    crds = client.resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
    try:
        crds.delete(manifest["metadata"]["name"])
    except Exception as err:
        if not is_not_found(err):
            raise


def test_a_controller_starts_once_its_crd_is_installed(
    client: Client,
    namespace: str,
    widget_crd: dict[str, Any],
    make_manager: Callable[..., Manager],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api_version = f"{widget_crd['spec']['group']}/v1"
    reconciles = Reconciles()
    manager = make_manager()
    controller = manager.controller((api_version, "Widget"), reconciles.record)
    caplog.set_level(logging.INFO, logger="kubeloop.runtime")
    waited = threading.Event()
    seen = _SetOn("discovery failed", waited)
    logging.getLogger("kubeloop.runtime").addHandler(seen)
    try:
        with running(manager):
            assert waited.wait(WAIT), "the controller never looked for its kind"
            assert not manager.cache.has_synced()  # not ready while the kind is not served
            _install_and_use(client, widget_crd, namespace, reconciles)
            assert controller.has_synced() and manager.cache.has_synced()
    finally:
        logging.getLogger("kubeloop.runtime").removeHandler(seen)
    waiting = [r for r in caplog.records if "discovery failed" in r.getMessage()]
    assert len(waiting) == 1, "one line for the failure, not one per attempt"
    assert "Widget" in waiting[0].getMessage() and "404" in waiting[0].getMessage()
    assert any("is served now, as widgets" in r.getMessage() for r in caplog.records)


class _SetOn(logging.Handler):
    def __init__(self, text: str, event: threading.Event) -> None:
        super().__init__()
        self.text, self.event = text, event

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def _install_and_use(
    client: Client, widget_crd: dict[str, Any], namespace: str, reconciles: Reconciles
) -> None:
    api_version = f"{widget_crd['spec']['group']}/v1"
    ensure_crd(client, widget_crd)
    widgets = client.resource(api_version, "widgets", namespace=namespace, namespaced=True)
    widgets.create({"apiVersion": api_version, "kind": "Widget", "metadata": {"name": "w"}})
    reconciles.wait_for(lambda s: any(x.key == f"{namespace}/w" for x in s))
