"""What the sample-controller port found, fixed: an event recorder stopped
while throttled and then closed ends without a traceback; a closed client
raises a kubeloop error; a kind name and its plural share one informer;
a resource not served yet does not stop the factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.cache import SharedInformerFactory
from kubeloop.client import Client, load_config
from kubeloop.errors import TransportError
from kubeloop.events import EventRecorder

WAIT = 30.0


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException | None]]:
    """Exceptions that escaped any thread during the test."""
    caught: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: caught.append(args.exc_value))
    yield caught


def test_a_throttled_recorder_stopped_then_closed_ends_quietly(
    kubeconfig: str,
    namespace: str,
    thread_errors: list[BaseException | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(kubeconfig=kubeconfig)
    config.qps, config.burst = 2.0, 1
    client = Client(config)
    recorder = EventRecorder(client, "fixes-test")
    recorder.start()
    subject = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "subject", "namespace": namespace, "uid": "u1"},
    }
    for i in range(20):
        recorder.event(subject, "Normal", f"Reason{i}", f"event {i}")
    caplog.set_level(logging.WARNING, logger="kubeloop.events")
    recorder.stop(timeout=1.0)
    client.close()
    assert recorder._thread is not None
    recorder._thread.join(WAIT)
    assert not recorder._thread.is_alive()
    assert thread_errors == []
    assert "not done 1.0s after stop" in caplog.text
    assert recorder.dropped > 0


def test_a_closed_client_raises_a_kubeloop_error(kubeconfig: str) -> None:
    client = Client(load_config(kubeconfig=kubeconfig))
    cms = client.resource("v1", "configmaps", namespaced=True)
    client.close()
    with pytest.raises(TransportError, match="closed"):
        client.version()
    with pytest.raises(TransportError, match="closed"):
        cms.list_page()
    with pytest.raises(TransportError, match="closed"):
        cms.watch()
    client.close()  # again: nothing happens


def test_a_kind_name_and_its_plural_share_one_informer_and_one_watch(
    client: Client, namespace: str
) -> None:
    factory = SharedInformerFactory(client, 0.0, namespace=namespace)
    by_kind = factory.informer_for("apps/v1", "Deployment")
    assert factory.informer_for("apps/v1", "deployments") is by_kind
    assert factory.informer_for(("apps/v1", "Deployment")) is by_kind
    stop = threading.Event()
    try:
        factory.start(stop)
        assert factory.wait_for_cache_sync(stop) == {("apps/v1", "deployments"): True}
        names = [t.name for t in threading.enumerate() if t.name.startswith("kubeloop-informer-")]
        assert names.count("kubeloop-informer-apps/v1/deployments") == 1
    finally:
        stop.set()
        factory.shutdown(WAIT)


def test_an_informer_for_a_resource_not_served_yet_is_made_and_retries(
    client: Client, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    factory = SharedInformerFactory(client, 0.0, namespace=namespace)
    caplog.set_level(logging.WARNING)
    informer = factory.informer_for("nothing.kubeloop.test/v1", "things")  # no exception
    assert "not served yet" in caplog.text
    listed = threading.Event()

    def on_error(_reflector: Any, err: BaseException) -> None:
        if "404" in str(err):
            listed.set()

    informer.set_watch_error_handler(on_error)
    stop = threading.Event()
    try:
        factory.start(stop)
        assert listed.wait(WAIT), "the informer never tried to list"
        assert not informer.has_synced()
    finally:
        stop.set()
        factory.shutdown(WAIT)
