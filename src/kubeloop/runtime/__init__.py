"""The controller runtime: a controller is a reconcile function plus
declarations; the plumbing lives here, once.

Work in progress: the pieces so far are the reconcile contract and the runner.
"""

from kubeloop.runtime.context import Context, EventRecorderLike
from kubeloop.runtime.klog import JsonFormatter, KeyValueLogger, KlogFormatter, setup_logging
from kubeloop.runtime.metrics import RECONCILE_TIME_BUCKETS, ReconcileMetrics
from kubeloop.runtime.result import ReconcileTimeoutError, Result, TerminalError
from kubeloop.runtime.runner import LastKnownStates, Reconciler, Runner

__all__ = [
    "RECONCILE_TIME_BUCKETS",
    "Context",
    "EventRecorderLike",
    "JsonFormatter",
    "KeyValueLogger",
    "KlogFormatter",
    "LastKnownStates",
    "ReconcileMetrics",
    "ReconcileTimeoutError",
    "Reconciler",
    "Result",
    "Runner",
    "TerminalError",
    "setup_logging",
]
