"""The delegating authorizer against a fake API server: 401 / 403 / 200, and
controller-runtime's cache lifetimes (TokenReview 1 min, allow 5 min, deny
30 s) on a fake clock; the LRU's bound."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kubeloop.client import Client
from kubeloop.clock import FakeClock
from kubeloop.errors import ServiceUnavailable
from kubeloop.metrics import DelegatingAuthorizer, ExpiringLRU
from kubeloop.metrics.filters import SUBJECT_ACCESS_REVIEWS, TOKEN_REVIEWS


class FakeAPI:
    """Answers TokenReviews for ``users`` (token -> name) and SARs for ``readers``."""

    def __init__(self) -> None:
        self.users = {"good": "alice", "nobody": "bob"}
        self.readers = {"alice"}
        self.calls: list[str] = []
        self.down = False

    def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        assert method == "POST"
        self.calls.append(path)
        if self.down:
            raise ServiceUnavailable(503, "ServiceUnavailable", f"{method} {path}: down")
        spec = body["spec"]
        if path == TOKEN_REVIEWS:
            name = self.users.get(spec["token"])
            if name is None:
                return {"status": {"authenticated": False}}
            user = {"username": name, "uid": f"uid-{name}", "groups": ["system:authenticated"]}
            return {"status": {"authenticated": True, "user": user}}
        assert path == SUBJECT_ACCESS_REVIEWS
        assert spec["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
        assert spec["groups"] == ["system:authenticated"] and spec["uid"] == f"uid-{spec['user']}"
        return {"status": {"allowed": spec["user"] in self.readers}}


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authorizer(api: FakeAPI, clock: FakeClock) -> DelegatingAuthorizer:
    return DelegatingAuthorizer(cast(Client, api), clock=clock)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic Zm9vOmJhcg=="])
def test_no_bearer_token_is_401_without_asking_the_server(
    authorizer: DelegatingAuthorizer, api: FakeAPI, header: str | None
) -> None:
    assert authorizer.authorize(header, "/metrics").code == 401
    assert api.calls == []


def test_a_token_the_server_rejects_is_401(authorizer: DelegatingAuthorizer) -> None:
    decision = authorizer.authorize("Bearer made-up", "/metrics")
    assert (decision.code, decision.message) == (401, "Unauthorized")


def test_a_user_without_the_permission_is_403_naming_the_user_not_the_token(
    authorizer: DelegatingAuthorizer,
) -> None:
    decision = authorizer.authorize("Bearer nobody", "/metrics")
    assert decision.code == 403
    assert "user=bob" in decision.message and "nobody" not in decision.message


def test_a_reader_is_allowed(authorizer: DelegatingAuthorizer) -> None:
    assert authorizer.authorize("bearer good", "/metrics").allowed


def test_a_token_review_is_cached_for_a_minute(
    authorizer: DelegatingAuthorizer, api: FakeAPI, clock: FakeClock
) -> None:
    for _ in range(3):
        assert authorizer.authorize("Bearer good", "/metrics").allowed
    assert api.calls == [TOKEN_REVIEWS, SUBJECT_ACCESS_REVIEWS]
    api.users.pop("good")  # revoked: still served from the cache until it expires
    clock.step(59.0)
    assert authorizer.authorize("Bearer good", "/metrics").allowed
    clock.step(1.0)
    assert authorizer.authorize("Bearer good", "/metrics").code == 401
    assert api.calls.count(TOKEN_REVIEWS) == 2


def test_an_allowed_review_lasts_five_minutes_and_a_denied_one_30_seconds(
    authorizer: DelegatingAuthorizer, api: FakeAPI, clock: FakeClock
) -> None:
    assert authorizer.authorize("Bearer good", "/metrics").allowed
    assert authorizer.authorize("Bearer nobody", "/metrics").code == 403
    api.readers = {"bob"}  # the role moves from alice to bob
    clock.step(29.0)
    assert authorizer.authorize("Bearer nobody", "/metrics").code == 403
    clock.step(1.0)  # the denial expired (and the token reviews not yet)
    assert authorizer.authorize("Bearer nobody", "/metrics").allowed
    assert authorizer.authorize("Bearer good", "/metrics").allowed  # allow: 5 min
    clock.step(270.0)  # 300 s after alice's allow
    assert authorizer.authorize("Bearer good", "/metrics").code == 403
    assert api.calls.count(SUBJECT_ACCESS_REVIEWS) == 4


def test_a_review_the_server_cannot_answer_is_500_and_not_cached(
    authorizer: DelegatingAuthorizer, api: FakeAPI
) -> None:
    api.down = True
    decision = authorizer.authorize("Bearer good", "/metrics")
    assert (decision.code, decision.message) == (500, "Internal Server Error")
    api.down = False
    assert authorizer.authorize("Bearer good", "/metrics").allowed


def test_a_review_answer_of_another_shape_is_500(
    authorizer: DelegatingAuthorizer, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "request", lambda *a, **k: ["not", "a", "review"])
    assert authorizer.authorize("Bearer good", "/metrics").code == 500


def test_the_token_cache_holds_hashes_not_tokens(authorizer: DelegatingAuthorizer) -> None:
    authorizer.authorize("Bearer good", "/metrics")
    keys = list(authorizer._tokens._entries)
    assert len(keys) == 1 and b"good" not in keys[0] and len(keys[0]) == 32


def test_the_lru_drops_the_least_recently_used_beyond_its_bound(clock: FakeClock) -> None:
    cache: ExpiringLRU[int, str] = ExpiringLRU(3, clock=clock)
    for i in range(3):
        cache.set(i, str(i), ttl=60.0)
    assert cache.get(0) == "0"  # 0 is now the most recently used
    cache.set(3, "3", ttl=60.0)
    assert len(cache) == 3
    assert [cache.get(i) for i in range(4)] == ["0", None, "2", "3"]


def test_the_lru_expires_each_entry_after_its_own_ttl(clock: FakeClock) -> None:
    cache: ExpiringLRU[str, bool] = ExpiringLRU(10, clock=clock)
    cache.set("deny", False, ttl=30.0)
    cache.set("allow", True, ttl=300.0)
    clock.step(29.9)
    assert (cache.get("deny"), cache.get("allow")) == (False, True)
    clock.step(0.1)
    assert (cache.get("deny"), cache.get("allow")) == (None, True)
    assert len(cache) == 1


def test_the_default_caches_hold_1024_entries(authorizer: DelegatingAuthorizer) -> None:
    for i in range(1100):
        authorizer.authorize(f"Bearer made-up-{i}", "/metrics")
    assert len(authorizer._tokens) == 1024
