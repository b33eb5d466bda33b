"""Finalizers: run cleanup before an object goes (kube-rs ``finalizer()``,
controller-runtime's ``controllerutil.AddFinalizer`` and friends).

::

    FINALIZER = "samplecontroller.k8s.io/cleanup"

    def reconcile(ctx: Context[dict], foo: dict | None) -> Result | None:
        if foo is None:
            return Result.done()                   # gone: cleanup ran already
        return finalize(foos, foo, FINALIZER, apply=ensure_foo, cleanup=delete_outside_state)

:func:`finalize` adds the finalizer before the first ``apply``, so no
object can be deleted without its cleanup running; once the object has a
``deletionTimestamp`` it runs ``cleanup`` and then removes the finalizer,
and the API server deletes the object. A cleanup that raises keeps the
finalizer, and the reconcile is retried with backoff.

Why not always: a finalizer makes the object undeletable while the
controller is not running (``kubectl delete`` hangs until it is, or the
finalizer is removed by hand), and costs a write per object. Use one when
something outside the cluster must be released (a cloud resource, a
backend record). For objects inside the cluster, owner references and the
garbage collector are enough.

Every write is a merge patch carrying the ``resourceVersion`` read, so it is
refused with 409 Conflict if the object changed meanwhile (another
controller's finalizer, a user's edit); the helper then re-reads the object
and tries again, a few times, rather than overwrite a list it did not see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from kubeloop.cache import get_deletion_timestamp, get_name, get_namespace, get_resource_version
from kubeloop.cache.accessor import get_metadata
from kubeloop.errors import NotFound, is_conflict, is_not_found
from kubeloop.runtime.result import Result

__all__ = [
    "ResourceClientLike",
    "add_finalizer",
    "finalize",
    "finalizers_of",
    "has_finalizer",
    "remove_finalizer",
]

T = TypeVar("T")

#: Attempts before a write that keeps conflicting gives up (the reconcile is retried).
CONFLICT_ATTEMPTS = 5


class ResourceClientLike(Protocol):
    """What the helpers need of a dict or typed resource client."""

    def get(self, name: str, *, namespace: str | None = None) -> Any: ...

    def patch(self, name: str, patch: Any, *, namespace: str | None = None) -> Any: ...


def finalizers_of(obj: Any) -> list[str]:
    md = get_metadata(obj)
    found = md.get("finalizers") if isinstance(md, dict) else md.finalizers
    return list(found or ())


def has_finalizer(obj: Any, finalizer: str) -> bool:
    return finalizer in finalizers_of(obj)


def _write_finalizers(
    resources: ResourceClientLike, obj: T, change: Callable[[list[str]], list[str] | None]
) -> T | None:
    """Patch ``metadata.finalizers`` to ``change(current)`` (``None``: no
    write needed), guarded by the resourceVersion, re-reading on conflict.
    Returns the object as written (or as it was), ``None`` if it is gone."""
    name, namespace = get_name(obj), get_namespace(obj) or None
    current: T = obj
    for attempt in range(CONFLICT_ATTEMPTS):
        wanted = change(finalizers_of(current))
        if wanted is None:
            return current
        patch = {
            "metadata": {"finalizers": wanted, "resourceVersion": get_resource_version(current)}
        }
        try:
            written: T = resources.patch(name, patch, namespace=namespace)
            return written
        except Exception as err:
            if is_not_found(err):
                return None
            if not is_conflict(err) or attempt + 1 == CONFLICT_ATTEMPTS:
                raise
        try:
            current = resources.get(name, namespace=namespace)
        except Exception as err:
            if is_not_found(err):
                return None
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def add_finalizer(resources: ResourceClientLike, obj: T, finalizer: str) -> T:
    """``obj`` with ``finalizer`` added (a write only if it was missing).
    Raises NotFound if the object is gone."""
    written = _write_finalizers(
        resources, obj, lambda fs: None if finalizer in fs else [*fs, finalizer]
    )
    if written is None:
        raise _gone(obj)
    return written


def remove_finalizer(resources: ResourceClientLike, obj: T, finalizer: str) -> T | None:
    """``obj`` without ``finalizer``; ``None`` when that let it go (it was
    the last finalizer of an object being deleted) or it was gone already."""
    return _write_finalizers(
        resources, obj, lambda fs: [f for f in fs if f != finalizer] if finalizer in fs else None
    )


def finalize(
    resources: ResourceClientLike,
    obj: T,
    finalizer: str,
    *,
    apply: Callable[[T], Result | None],
    cleanup: Callable[[T], Result | None],
) -> Result | None:
    """Run ``apply(obj)`` with the finalizer in place, or, once the object is
    being deleted, ``cleanup(obj)`` and then remove the finalizer.

    ``apply`` gets the object as written when the finalizer was just added.
    ``cleanup`` returns ``None`` or ``Result.done()`` when finished (the
    finalizer is then removed), or ``Result.after(d)`` / ``Result.backoff()``
    to keep it and look again (waiting for something outside to go).
    An object being deleted without this finalizer (added after another
    controller's, or already cleaned up) is left alone: ``Result.done()``.
    ``cleanup`` must be idempotent: a reconcile that reads a cache not yet
    showing the removal runs it again (the removal then finds the object gone).
    """
    if get_deletion_timestamp(obj):
        if not has_finalizer(obj, finalizer):
            return Result.done()
        result = cleanup(obj)
        if result is not None and (result.requeue or result.requeue_after is not None):
            return result  # not finished: the finalizer stays until it is
        remove_finalizer(resources, obj, finalizer)
        return Result.done()
    return apply(add_finalizer(resources, obj, finalizer))


def _gone(obj: Any) -> NotFound:
    message = f"{get_name(obj)!r} was deleted before its finalizer could be added"
    return NotFound(
        404, "NotFound", message, {"code": 404, "reason": "NotFound", "message": message}
    )
