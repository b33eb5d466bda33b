"""What a reconcile returns, and the errors that change how it is retried.

A reconcile ends in one of four ways, the same four controller-runtime and
kube-rs know::

    return Result.done()          # in sync: wait for the next change (None means the same)
    return Result.after(30.0)     # in sync for now: look again in 30 s (polling an outside system)
    return Result.backoff()       # not done, not an error: retry with the key's backoff
    raise SomeError(...)          # failed: retry with the key's exponential backoff
    raise TerminalError("spec.cidr is not a CIDR")   # failed for good: no retry

Why a terminal error is separate: a reconcile that cannot succeed until the
user changes the object (an invalid spec) would otherwise be retried with
backoff for ever, up to the limiter's 1000 s cap, and would fill the log and
the error metric with the same failure. A terminal error is logged and
counted once (``controller_runtime_terminal_reconcile_errors_total``), and
the key waits for its next change.

Nothing here is tied to threads: an ``async def reconcile`` will return the
same :class:`Result` and raise the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kubeloop.errors import KubeloopError

__all__ = ["ReconcileTimeoutError", "Result", "TerminalError"]


@dataclass(frozen=True, slots=True)
class Result:
    """What the runner does with the key once the reconcile returned.

    ``requeue_after`` (seconds): reconcile the key again after that long,
    whatever happens meanwhile (a change still reconciles it at once: the
    queue keeps the earlier of two times). ``requeue``: retry with the key's
    rate-limited backoff without counting an error. Neither: done until
    the next change.

    >>> Result.after(30.0)
    Result(requeue_after=30.0, requeue=False)
    >>> Result.done() == Result()
    True
    """

    requeue_after: float | None = None
    requeue: bool = False

    _DONE: ClassVar[Result]

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after <= 0:
            raise ValueError(
                f"requeue_after must be positive, not {self.requeue_after!r} "
                "(use Result.backoff() to retry now with backoff)"
            )

    @classmethod
    def done(cls) -> Result:
        """In sync: wait for a change (kube-rs ``Action::await_change``)."""
        return cls._DONE

    @classmethod
    def after(cls, seconds: float) -> Result:
        """Reconcile again in ``seconds`` (kube-rs ``Action::requeue``)."""
        return cls(requeue_after=float(seconds))

    @classmethod
    def backoff(cls) -> Result:
        """Retry with the key's backoff, not counted as an error
        (controller-runtime ``Result{Requeue: true}``)."""
        return cls(requeue=True)


Result._DONE = Result()


class TerminalError(KubeloopError):
    """A failure that retrying cannot fix: the key is not requeued.

    Raise it with the reason, or wrap the cause (``raise TerminalError(str(err))
    from err``); the key is reconciled again on its next change::

        if not valid_cidr(spec["cidr"]):
            raise TerminalError(f"spec.cidr {spec['cidr']!r} is not a CIDR")
    """


class ReconcileTimeoutError(KubeloopError):
    """The reconcile ran past the controller's timeout.

    Raised by :meth:`Context.check_deadline` for a reconcile that wants to
    stop early, and recorded by the runner for one that returned late: a
    thread cannot be interrupted, so a late reconcile's result is discarded
    and the key retried with backoff, as controller-runtime's context
    deadline makes a late reconcile fail.
    """
