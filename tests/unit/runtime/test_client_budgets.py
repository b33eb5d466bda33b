"""The client budgets the runtime relies on: one token bucket per API
group when asked (client-go's typed clients with QPS unset), and a view
of a client with a bucket of its own (the event recorder's)."""

from __future__ import annotations

import asyncio

from kubeloop.client import Config
from kubeloop.client._client import Client
from kubeloop.client._ratelimit import PerGroupTokenBuckets, TokenBucket, api_group_of_path


def test_the_group_of_a_request_path() -> None:
    assert api_group_of_path("/api/v1/namespaces/ns/pods") == ""
    assert api_group_of_path("/apis/apps/v1/deployments") == "apps"
    assert api_group_of_path("/apis/samplecrd.k8s.io/v1/namespaces/ns/networks/n") == (
        "samplecrd.k8s.io"
    )
    assert api_group_of_path("/version") == ""


def test_a_spent_group_does_not_hold_up_another() -> None:
    async def scenario() -> None:
        buckets = PerGroupTokenBuckets(qps=0.001, burst=1)  # a token every 1000 s
        await buckets.acquire("/api/v1/pods")  # core's only token
        core = asyncio.ensure_future(buckets.acquire("/api/v1/configmaps"))
        await asyncio.sleep(0)  # core now waits for its next token
        await asyncio.wait_for(buckets.acquire("/apis/apps/v1/deployments"), timeout=30)
        assert not core.done()
        core.cancel()
        assert buckets.bucket_for("/api/v1/x") is buckets.bucket_for("/api/v1/y")

    asyncio.run(scenario())


def test_clients_get_one_bucket_or_one_per_group_and_views_their_own() -> None:
    config = Config(host="https://127.0.0.1:1", qps=7.0, burst=9)
    shared = Client(config)
    per_group = Client(config, rate_limit_per_group=True)
    try:
        assert isinstance(shared._rest.limiter, TokenBucket)
        assert shared._watch_rest.limiter is shared._rest.limiter
        assert isinstance(per_group._rest.limiter, PerGroupTokenBuckets)
        view = shared.with_rate_limiter(2.0, 3)
        assert view._rest.limiter is not shared._rest.limiter
        assert (view.config.qps, view.config.burst) == (2.0, 3)
        assert view._rest.http is shared._rest.http  # one connection
        view.close()  # a view's close leaves the client open
        assert not shared._closed[0]
    finally:
        shared.close()
        per_group.close()
