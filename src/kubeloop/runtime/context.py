"""What a reconcile is told besides the object: which key, which attempt,
where to log, how to record an Event, how much time is left.

::

    def reconcile(ctx: Context[dict], foo: dict | None) -> Result:
        if foo is None:                       # gone from the cache
            ctx.log.info("deleted", last_uid=uid_of(ctx.last_known))
            return Result.done()
        ctx.event("Normal", "Synced", "Deployment is up to date")
        return Result.done()

``ctx.log`` carries ``controller``, ``namespace``, ``name`` and
``reconcileID`` (a fresh id per attempt, as controller-runtime's), so every
line of one attempt can be found together.

The context holds no thread or event: an async reconcile will get the same.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from kubeloop.cache import split_meta_namespace_key
from kubeloop.runtime.klog import KeyValueLogger
from kubeloop.runtime.result import ReconcileTimeoutError
from kubeloop.workqueue import Clock

__all__ = ["Context", "EventRecorderLike"]

T = TypeVar("T")


class EventRecorderLike(Protocol):
    """Anything with ``event(obj, type, reason, message)``, such as
    :class:`kubeloop.events.EventRecorder`."""

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None: ...


class Context(Generic[T]):
    """One reconcile attempt of one key (built by the runner).

    ``last_known``: when the key is gone from the cache, the final state its
    Delete event carried (a tombstone's last known object), else ``None``.
    It is kept until the key's next successful reconcile, and not across a
    restart: a process that starts after the delete never saw it, which is
    what finalizers and sweeps of the actual state are for.

    The cache drops a key before its handlers hear of the delete, so a
    reconcile that starts in between (the key was queued already) gets
    ``None`` and no ``last_known``; the Delete event then reconciles the key
    again, with it. A reconcile of an absent key must therefore cope
    without one, as it must after a restart.
    """

    __slots__ = (
        "_clock",
        "_kind",
        "_obj",
        "_recorder",
        "controller",
        "deadline",
        "key",
        "last_known",
        "log",
        "name",
        "namespace",
        "reconcile_id",
    )

    def __init__(
        self,
        *,
        controller: str,
        key: str,
        reconcile_id: str,
        log: KeyValueLogger,
        obj: T | None,
        last_known: T | None,
        recorder: EventRecorderLike | None,
        clock: Clock,
        deadline: float | None,
        kind: tuple[str, str] | None = None,
    ) -> None:
        self.controller = controller
        self.key = key
        self.namespace, self.name = split_meta_namespace_key(key)
        self.reconcile_id = reconcile_id
        self.log = log
        self.last_known = last_known
        self.deadline = deadline
        self._obj = obj
        self._recorder = recorder
        self._clock = clock
        self._kind = kind

    def __repr__(self) -> str:
        return f"Context({self.controller}, {self.key!r}, reconcile_id={self.reconcile_id!r})"

    def event(self, event_type: str, reason: str, message: str, obj: Any = None) -> None:
        """Record an Event on ``obj``, by default the object being reconciled
        (its last known state once deleted). Never blocks: the recorder
        writes in the background, through its own rate limiter."""
        own = self._obj if self._obj is not None else self.last_known
        target = obj if obj is not None else own
        if self._recorder is None or target is None:
            self.log.debug("event not recorded", type=event_type, reason=reason, message=message)
            return
        if target is own and self._kind and isinstance(target, dict) and not target.get("kind"):
            # An item of a LIST carries no apiVersion/kind; the Event must name them.
            api_version, kind = self._kind
            target = {**target, "apiVersion": api_version, "kind": kind}
        self._recorder.event(target, event_type, reason, message)

    def remaining(self) -> float | None:
        """Seconds left before the controller's reconcile timeout (``None``:
        no timeout); pass it as a request timeout to stay within it."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self._clock.now())

    def check_deadline(self) -> None:
        """Raise :class:`ReconcileTimeoutError` if the timeout has passed: a
        long reconcile calls this between steps to stop early."""
        if self.deadline is not None and self._clock.now() >= self.deadline:
            raise ReconcileTimeoutError(f"{self.controller}: reconcile of {self.key!r} timed out")
