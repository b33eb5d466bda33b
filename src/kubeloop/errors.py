"""One exception hierarchy for kubeloop.

Everything kubeloop raises on purpose derives from :class:`KubeloopError`:

- :class:`ConfigError`: a kubeconfig, in-cluster or exec-plugin problem,
  naming the file, field or command at fault.
- :class:`TransportError`: the server could not be reached or the connection
  broke (distinct from an answer the server gave).
- :class:`ApiError` and its subclasses: the server answered with a
  ``Status`` failure; each carries ``code``, ``reason``, ``message`` and
  ``details`` from that Status, so callers branch on the Kubernetes reason and
  not on message text.
- :class:`DecodeError`: bytes from the server that are not the JSON we expect.
- :class:`FieldsWouldBeDropped`: a typed PUT refused before it was sent,
  because the model does not know some of the live object's fields.
- Errors of one layer are defined beside the code that raises them and
  derive from :class:`KubeloopError` too: ``cache.MissingMetadataError``
  (also a ``TypeError``: an object that is not a Kubernetes object, as
  client-go's ``meta.Accessor`` refuses it), ``gen.SchemaError`` (also a
  ``ValueError``), ``testenv.BuildError`` and ``testenv.ControlPlaneError``.

Use the ``is_*`` helpers rather than ``isinstance`` when handling errors from
the API, as client-go users do with ``apierrors.IsNotFound``::

    try:
        nets.get("example")
    except ApiError as err:
        if not is_not_found(err):
            raise
"""

from __future__ import annotations

from typing import Any


class KubeloopError(Exception):
    """Root of every error kubeloop raises on purpose."""


class ConfigError(KubeloopError):
    """A client configuration could not be loaded (kubeconfig, in-cluster, exec plugin)."""


class TransportError(KubeloopError):
    """The API server could not be reached, or the connection broke mid-request."""


class DecodeError(KubeloopError):
    """The server sent bytes that do not decode as the expected JSON."""


class FieldsWouldBeDropped(KubeloopError):
    """A PUT of a typed model was refused before it was sent: the object on
    the server has fields the model does not know, which the PUT would
    delete. ``fields`` names them; ``patch`` or ``apply`` write only what the
    model sets and leave them alone."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


class ApiError(KubeloopError):
    """The API server answered with a failure ``Status``.

    ``status`` is the decoded Status object (or a synthesised one when the body
    was not a Status), so nothing the server said is lost.
    """

    code: int
    reason: str
    message: str
    status: dict[str, Any]

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        status: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status if status is not None else {}
        self.retry_after = retry_after
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")

    @property
    def details(self) -> dict[str, Any]:
        details = self.status.get("details")
        return details if isinstance(details, dict) else {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        """Field-level causes (``details.causes``), e.g. for Invalid."""
        causes = self.details.get("causes")
        return causes if isinstance(causes, list) else []


class BadRequest(ApiError):
    """400 BadRequest."""


class Unauthorized(ApiError):
    """401: the credentials were missing, wrong or expired."""


class Forbidden(ApiError):
    """403: authenticated, but RBAC (or admission) refused the request."""


class NotFound(ApiError):
    """404 NotFound."""


class MethodNotAllowed(ApiError):
    """405 MethodNotAllowed."""


class AlreadyExists(ApiError):
    """409 AlreadyExists (a create whose name is taken)."""


class Conflict(ApiError):
    """409 Conflict (optimistic concurrency: stale resourceVersion, SSA field conflict)."""


class Gone(ApiError):
    """410 Gone / Expired: the resourceVersion asked for has been compacted away."""


class Invalid(ApiError):
    """422 Invalid: the object failed validation; see :attr:`causes`."""


class TooManyRequests(ApiError):
    """429: back off for :attr:`retry_after` seconds (when the server said so)."""


class InternalError(ApiError):
    """500 InternalError."""


class ServiceUnavailable(ApiError):
    """503 ServiceUnavailable."""


class ServerTimeout(ApiError):
    """504 / reason ServerTimeout or Timeout: the server gave up; safe to retry."""


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Gone,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "InternalError": InternalError,
    "ServiceUnavailable": ServiceUnavailable,
    "ServerTimeout": ServerTimeout,
    "Timeout": ServerTimeout,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
    500: InternalError,
    503: ServiceUnavailable,
    504: ServerTimeout,
}


def api_error_from_status(
    status: dict[str, Any] | None,
    code: int | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """Build the typed error for a Kubernetes ``Status`` (or a bare HTTP code).

    The reason wins over the HTTP code, as in apimachinery: a 409 is
    AlreadyExists or Conflict depending on the reason, and a watch ERROR event
    carries a Status with code 410 and reason "Expired" or "Gone".
    """
    status = status or {}
    raw_code = status.get("code")
    status_code = raw_code if isinstance(raw_code, int) and raw_code else (code or 500)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(status_code, ApiError)
    if retry_after is None and cls is TooManyRequests:
        details = status.get("details")
        if isinstance(details, dict) and isinstance(details.get("retryAfterSeconds"), int):
            retry_after = float(details["retryAfterSeconds"])
    return cls(status_code, reason, message, status, retry_after)


def _is(err: BaseException, cls: type[ApiError]) -> bool:
    return isinstance(err, cls)


def is_not_found(err: BaseException) -> bool:
    return _is(err, NotFound)


def is_already_exists(err: BaseException) -> bool:
    return _is(err, AlreadyExists)


def is_conflict(err: BaseException) -> bool:
    return _is(err, Conflict)


def is_gone(err: BaseException) -> bool:
    """True for 410 Gone and reason Expired: the resourceVersion is too old."""
    return _is(err, Gone)


def is_invalid(err: BaseException) -> bool:
    return _is(err, Invalid)


def is_forbidden(err: BaseException) -> bool:
    return _is(err, Forbidden)


def is_unauthorized(err: BaseException) -> bool:
    return _is(err, Unauthorized)


def is_too_many_requests(err: BaseException) -> bool:
    return _is(err, TooManyRequests)


def is_server_timeout(err: BaseException) -> bool:
    return _is(err, ServerTimeout)


def is_internal_error(err: BaseException) -> bool:
    return _is(err, InternalError)


def is_too_large_resource_version(err: BaseException) -> bool:
    """The server's "Too large resource version" (a 504 Timeout with cause
    ResourceVersionTooLarge): the reflector then relists with RV=""."""
    if not isinstance(err, ApiError):
        return False
    if any(c.get("reason") == "ResourceVersionTooLarge" for c in err.causes):
        return True
    return "too large resource version" in err.message.lower()


__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "DecodeError",
    "FieldsWouldBeDropped",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "KubeloopError",
    "MethodNotAllowed",
    "NotFound",
    "ServerTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "api_error_from_status",
    "is_already_exists",
    "is_conflict",
    "is_forbidden",
    "is_gone",
    "is_internal_error",
    "is_invalid",
    "is_not_found",
    "is_server_timeout",
    "is_too_large_resource_version",
    "is_too_many_requests",
    "is_unauthorized",
]
