"""Who may scrape: each request's bearer token checked by the API server.

::

    authorizer = DelegatingAuthorizer(client)
    decision = authorizer.authorize(request.headers.get("Authorization"), "/metrics")
    if not decision.allowed:
        reply(decision.code, decision.message)

controller-runtime's ``filters.WithAuthenticationAndAuthorization``, which
delegates both questions to the API server, as kubelet and kube-rbac-proxy do:

1. Authentication: the token goes to a ``TokenReview``
   (``authentication.k8s.io/v1``). No token, or one the server does not
   accept: **401**.
2. Authorization: a ``SubjectAccessReview`` (``authorization.k8s.io/v1``)
   asks whether that user may ``get`` the non-resource URL (``/metrics``).
   No: **403**. RBAC grants it with a ClusterRole rule
   ``nonResourceURLs: ["/metrics"], verbs: ["get"]`` (deploy/'s
   ``metrics-reader``).

The answers are cached as controller-runtime's delegating authenticator and
authorizer cache them: a TokenReview for 1 minute, an allowed SAR for 5
minutes, a denied one for 30 seconds, each cache an LRU of 1,024 entries
(:mod:`kubeloop.metrics.authcache`). A scrape every 15 s thus costs about one
TokenReview a minute, a revoked token scrapes for at most a minute more, and
a newly granted role works within 30 s. A review the API server could not
answer (down, throttled) is **500** and not cached, so the next scrape asks
again. The cache is keyed by the token's SHA-256, not the token, and no
token, header or review body reaches a log line or a response.

The controller's own identity needs ``create`` on ``tokenreviews`` and
``subjectaccessreviews`` (``system:auth-delegator`` has exactly that).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from kubeloop.client import Client
from kubeloop.clock import REAL_CLOCK, Clock
from kubeloop.errors import KubeloopError
from kubeloop.metrics.authcache import ExpiringLRU

__all__ = ["Decision", "DelegatingAuthorizer", "UserInfo"]

_log = logging.getLogger("kubeloop.metrics.filters")

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated user as the TokenReview named it (no token in it)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Decision:
    """``code`` 200 (allowed), 401, 403 or 500, and a message for the body."""

    code: int
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.code == 200


#: The cached TokenReview verdict: the user, or None for "not authenticated".
_Authn = UserInfo | None
_SarKey = tuple[UserInfo, str, str]


class DelegatingAuthorizer:
    """TokenReview then SubjectAccessReview, cached (see the module docs)."""

    def __init__(
        self,
        client: Client,
        *,
        clock: Clock = REAL_CLOCK,
        cache_size: int = 1024,
        token_ttl: float = 60.0,
        allow_ttl: float = 300.0,
        deny_ttl: float = 30.0,
    ) -> None:
        self.client = client
        self.token_ttl, self.allow_ttl, self.deny_ttl = token_ttl, allow_ttl, deny_ttl
        self._tokens: ExpiringLRU[bytes, tuple[_Authn]] = ExpiringLRU(cache_size, clock=clock)
        self._access: ExpiringLRU[_SarKey, bool] = ExpiringLRU(cache_size, clock=clock)

    def authorize(self, authorization: str | None, path: str, verb: str = "get") -> Decision:
        """The decision for a request with this ``Authorization`` header value."""
        token = _bearer(authorization)
        if token is None:
            return Decision(401, "Unauthorized")
        try:
            user = self.authenticate(token)
            if user is None:
                return Decision(401, "Unauthorized")
            if not self.allowed(user, path, verb):
                return Decision(403, f"Forbidden (user={user.username}, verb={verb}, path={path})")
        except KubeloopError as err:
            # The error names the review's path and the server's reason,
            # never the request's token.
            _log.warning("metrics: cannot review the request: %s", err)
            return Decision(500, "Internal Server Error")
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            # A review answer of an unexpected shape: its type only, since
            # a message could quote the body.
            _log.warning("metrics: unreadable review answer (%s)", type(err).__name__)
            return Decision(500, "Internal Server Error")
        return Decision(200)

    def authenticate(self, token: str) -> UserInfo | None:
        key = hashlib.sha256(token.encode()).digest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached[0]
        review = self.client.request(
            "POST",
            TOKEN_REVIEWS,
            body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            },
        )
        status: dict[str, Any] = review.get("status") or {}
        user = _user(status.get("user") or {}) if status.get("authenticated") else None
        self._tokens.set(key, (user,), self.token_ttl)
        return user

    def allowed(self, user: UserInfo, path: str, verb: str) -> bool:
        key = (user, path, verb)
        cached = self._access.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {
            "user": user.username,
            "groups": list(user.groups),
            "nonResourceAttributes": {"path": path, "verb": verb},
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        review = self.client.request(
            "POST",
            SUBJECT_ACCESS_REVIEWS,
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": spec,
            },
        )
        allowed = bool((review.get("status") or {}).get("allowed"))
        self._access.set(key, allowed, self.allow_ttl if allowed else self.deny_ttl)
        return allowed


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _user(doc: dict[str, Any]) -> UserInfo:
    extra = doc.get("extra") or {}
    return UserInfo(
        username=str(doc.get("username", "")),
        uid=str(doc.get("uid", "")),
        groups=tuple(doc.get("groups") or ()),
        extra=tuple(sorted((str(k), tuple(v or ())) for k, v in extra.items())),
    )
