"""Events never take the reconcile writes' budget: on a throttled manager,
a backlog of Events waiting for their limiter does not delay other writes.

Counted, not timed: with qps 0.2 and burst 5 a token comes every 5 s. The
Event writer spends its burst at once and then waits; the writes that follow
must go through on the manager's own burst while the Events still wait, so
when they are done the API server holds no more Events than one burst (one
more if a token happened to come meanwhile). Had the two shared one bucket,
the writes would queue behind the Events and at least two more Events
would be written first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.client import Client
from kubeloop.runtime import Context, Kind, Manager
from tests.integration.support import wait_until

from .conftest import WAIT, configmap, running

BURST = 5
EVENTS = 15


def test_queued_events_do_not_delay_writes_on_a_throttled_client(
    client: Client, namespace: str, make_manager: Callable[..., Manager]
) -> None:
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    events = client.resource("v1", "events", namespace=namespace, namespaced=True)

    def reconcile(ctx: Context[dict[str, Any]], cm: dict[str, Any] | None) -> None:
        if ctx.name == "noisy":
            for i in range(EVENTS):
                ctx.event("Normal", f"Step{i}", f"step {i} of {EVENTS}")

    def written() -> int:
        return len(events.list().items)

    manager = make_manager(qps=0.2, burst=BURST)
    # Named in full: no discovery request takes one of the manager's tokens.
    manager.controller(Kind("v1", "ConfigMap", "configmaps", namespaced=True), reconcile)
    cms.create(configmap("noisy"))
    with running(manager):
        wait_until(lambda: written() >= BURST, WAIT, "the Event writer to spend its burst")
        secrets = manager.client.resource("v1", "secrets", namespace=namespace, namespaced=True)
        for i in range(3):  # the manager's own writes: its list and watch took 2 of 5 tokens
            secrets.create({"metadata": {"name": f"w-{i}"}, "stringData": {"k": "v"}})
        after_writes = written()
        assert manager.recorder._queue.qsize() > 0, "the Events were no longer waiting"
    assert BURST <= after_writes <= BURST + 1
    involved = {e["involvedObject"]["kind"] for e in events.list().items}
    assert involved == {"ConfigMap"}
