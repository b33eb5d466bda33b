"""The client budgets the runtime relies on: one token bucket per API
group when asked (client-go's typed clients with QPS unset), and a view
of a client with a bucket of its own (the event recorder's)."""

from __future__ import annotations

import threading

from kubeloop.client import Config
from kubeloop.client._client import Client
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket, api_group_of_path
from kubeloop.clock import FakeClock
from kubeloop.errors import TransportError


def test_the_group_of_a_request_path() -> None:
    assert api_group_of_path("/api/v1/namespaces/ns/pods") == ""
    assert api_group_of_path("/apis/apps/v1/deployments") == "apps"
    assert api_group_of_path("/apis/samplecrd.k8s.io/v1/namespaces/ns/networks/n") == (
        "samplecrd.k8s.io"
    )
    assert api_group_of_path("/version") == ""


def test_a_spent_group_does_not_hold_up_another() -> None:
    clock = FakeClock()
    buckets = PerGroupTokenBuckets(qps=0.001, burst=1, clock=clock)  # a token every 1000 s
    buckets.acquire("/api/v1/pods")  # core's only token
    stop = threading.Event()
    ended: list[BaseException] = []

    def take_core() -> None:
        try:
            buckets.acquire("/api/v1/configmaps", stop)
        except TransportError as err:
            ended.append(err)

    core = threading.Thread(target=take_core)
    core.start()
    clock.wait_for_waiters(1)  # core now waits for its next token
    buckets.acquire("/apis/apps/v1/deployments")  # apps has its own: no wait
    assert core.is_alive()
    assert buckets.bucket_for("/api/v1/x") is buckets.bucket_for("/api/v1/y")
    stop.set()  # the waiting one ends (as when its client closes)
    clock.step(0)
    core.join(10)
    assert not core.is_alive()
    assert [str(e) for e in ended] == ["the client was closed while waiting for the rate limiter"]


def test_clients_get_one_bucket_or_one_per_group_and_views_their_own() -> None:
    config = Config(host="https://127.0.0.1:1", qps=7.0, burst=9)
    shared = Client(config)
    per_group = Client(config, rate_limit_per_group=True)
    try:
        assert isinstance(shared._rest.limiter, TokenBucket)
        assert isinstance(per_group._rest.limiter, PerGroupTokenBuckets)
        view = shared.with_rate_limiter(2.0, 3)
        assert view._rest.limiter is not shared._rest.limiter
        assert (view.config.qps, view.config.burst) == (2.0, 3)
        assert view._rest.transport is shared._rest.transport  # one connection pool
        view.close()  # a view's close leaves the client open
        assert not shared._closed.is_set()
    finally:
        shared.close()
        per_group.close()
