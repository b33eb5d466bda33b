"""The controller runtime: a controller is a reconcile function plus what it
watches; the plumbing (workers, retries, shutdown, leader election, metrics,
health, logging) lives here, once.

::

    from kubeloop.runtime import Context, Manager, Result, argument_parser

    def reconcile(ctx: Context[dict], foo: dict | None) -> Result:
        if foo is None:
            return Result.done()              # deleted; ctx.last_known has its final state
        ...                                   # make the world match foo's spec
        return Result.done()

    def main(argv: list[str] | None = None) -> int:
        args = argument_parser("foo-controller").parse_args(argv)
        manager = Manager.from_args(args)
        manager.controller(("samplecontroller.k8s.io/v1alpha1", "Foo"), reconcile) \\
            .owns(("apps/v1", "Deployment"))
        return manager.run()

- :class:`Manager` (:mod:`~kubeloop.runtime.manager`): client, cache,
  server, leader election, signals and the shutdown order.
- :class:`Controller` (:mod:`~kubeloop.runtime.controller`): ``owns``,
  ``watches``, event filters (:mod:`~kubeloop.runtime.predicates`),
  selectors, transforms, workers, timeout, periodic requeue.
- The contract: :class:`Context`, :class:`Result`, :class:`TerminalError`;
  :class:`Runner` is the worker loop. An ``async def reconcile`` has the same
  contract and runs as tasks (:class:`AsyncRunner`, at most ``workers`` at
  once) on the manager's loop; ``await manager.run_async()`` is the awaited
  :meth:`Manager.run`.
- Helpers: :func:`finalize`, conditions (:func:`set_condition`,
  :func:`update_status`), owner references (:func:`controller_of`,
  :func:`set_controller_reference`), :func:`create_or_update`.
- Sharding (:class:`ShardedController`, :class:`ShardingOptions`,
  ``manager.sharded_controller``): one controller across replicas, each
  holding about S/R shards through Leases (docs/sharding.md).
- Metrics under controller-runtime's names (:class:`ReconcileMetrics`);
  klog and JSON logging (:func:`setup_logging`).
- :class:`YieldingLock`, for state that reconciles share across workers:
  it yields the GIL instead of queueing, which keeps two workers from
  convoying on a lock (:mod:`kubeloop._locks`).
"""

from typing import TYPE_CHECKING

from kubeloop._lazy import lazy_exports

if TYPE_CHECKING:
    from kubeloop._locks import YieldingLock
    from kubeloop.runtime.async_runner import AsyncRunner
    from kubeloop.runtime.cache import Cache, CacheEntry, CacheNotStartedError
    from kubeloop.runtime.conditions import (
        find_condition,
        is_condition_true,
        remove_condition,
        set_condition,
        status_differs,
        update_status,
    )
    from kubeloop.runtime.context import Context, EventRecorderLike
    from kubeloop.runtime.controller import Controller
    from kubeloop.runtime.finalizers import (
        add_finalizer,
        finalize,
        finalizers_of,
        has_finalizer,
        remove_finalizer,
    )
    from kubeloop.runtime.flags import (
        DEFAULT_BURST,
        DEFAULT_QPS,
        add_manager_flags,
        argument_parser,
        duration,
    )
    from kubeloop.runtime.kinds import Kind, KindRef, KindResolver, group_of, kind_of
    from kubeloop.runtime.klog import JsonFormatter, KeyValueLogger, KlogFormatter, setup_logging
    from kubeloop.runtime.manager import LeaderElectionOptions, Manager
    from kubeloop.runtime.metrics import RECONCILE_TIME_BUCKETS, ReconcileMetrics
    from kubeloop.runtime.owners import (
        AlreadyOwnedError,
        OwnerRef,
        controller_of,
        is_controlled_by,
        new_controller_ref,
        owner_references,
        set_controller_reference,
    )
    from kubeloop.runtime.predicates import (
        DEFAULT_FILTERS,
        EventFilter,
        FilterLike,
        Predicate,
        all_of,
        annotations_changed,
        any_of,
        generation_changed,
        get_generation,
        labels_changed,
        resource_version_changed,
    )
    from kubeloop.runtime.result import ReconcileTimeoutError, Result, TerminalError
    from kubeloop.runtime.runner import AsyncReconciler, LastKnownStates, Reconciler, Runner
    from kubeloop.runtime.shard_assignment import assign_shards
    from kubeloop.runtime.shard_leases import ShardingOptions
    from kubeloop.runtime.sharded_controller import ShardedController
    from kubeloop.runtime.sources import Mapper, Scope
    from kubeloop.runtime.writes import OperationResult, create_or_update

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_FILTERS",
    "DEFAULT_QPS",
    "RECONCILE_TIME_BUCKETS",
    "AlreadyOwnedError",
    "AsyncReconciler",
    "AsyncRunner",
    "Cache",
    "CacheEntry",
    "CacheNotStartedError",
    "Context",
    "Controller",
    "EventFilter",
    "EventRecorderLike",
    "FilterLike",
    "JsonFormatter",
    "KeyValueLogger",
    "Kind",
    "KindRef",
    "KindResolver",
    "KlogFormatter",
    "LastKnownStates",
    "LeaderElectionOptions",
    "Manager",
    "Mapper",
    "OperationResult",
    "OwnerRef",
    "Predicate",
    "ReconcileMetrics",
    "ReconcileTimeoutError",
    "Reconciler",
    "Result",
    "Runner",
    "Scope",
    "ShardedController",
    "ShardingOptions",
    "TerminalError",
    "YieldingLock",
    "add_finalizer",
    "add_manager_flags",
    "all_of",
    "annotations_changed",
    "any_of",
    "argument_parser",
    "assign_shards",
    "controller_of",
    "create_or_update",
    "duration",
    "finalize",
    "finalizers_of",
    "find_condition",
    "generation_changed",
    "get_generation",
    "group_of",
    "has_finalizer",
    "is_condition_true",
    "is_controlled_by",
    "kind_of",
    "labels_changed",
    "new_controller_ref",
    "owner_references",
    "remove_condition",
    "remove_finalizer",
    "resource_version_changed",
    "set_condition",
    "set_controller_reference",
    "setup_logging",
    "status_differs",
    "update_status",
]

# The names above are imported when first used (see kubeloop._lazy).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "kubeloop.runtime.cache": "Cache CacheEntry CacheNotStartedError",
        "kubeloop.runtime.conditions": (
            "find_condition is_condition_true remove_condition set_condition status_differs "
            "update_status"
        ),
        "kubeloop._locks": "YieldingLock",
        "kubeloop.runtime.context": "Context EventRecorderLike",
        "kubeloop.runtime.controller": "Controller",
        "kubeloop.runtime.finalizers": (
            "add_finalizer finalize finalizers_of has_finalizer remove_finalizer"
        ),
        "kubeloop.runtime.flags": (
            "DEFAULT_BURST DEFAULT_QPS add_manager_flags argument_parser duration"
        ),
        "kubeloop.runtime.kinds": "Kind KindRef KindResolver group_of kind_of",
        "kubeloop.runtime.klog": "JsonFormatter KeyValueLogger KlogFormatter setup_logging",
        "kubeloop.runtime.manager": "LeaderElectionOptions Manager",
        "kubeloop.runtime.metrics": "RECONCILE_TIME_BUCKETS ReconcileMetrics",
        "kubeloop.runtime.owners": (
            "AlreadyOwnedError OwnerRef controller_of is_controlled_by new_controller_ref "
            "owner_references set_controller_reference"
        ),
        "kubeloop.runtime.predicates": (
            "DEFAULT_FILTERS EventFilter FilterLike Predicate all_of annotations_changed any_of "
            "generation_changed get_generation labels_changed resource_version_changed"
        ),
        "kubeloop.runtime.result": "ReconcileTimeoutError Result TerminalError",
        "kubeloop.runtime.runner": "AsyncReconciler LastKnownStates Reconciler Runner",
        "kubeloop.runtime.async_runner": "AsyncRunner",
        "kubeloop.runtime.sources": "Mapper Scope",
        "kubeloop.runtime.writes": "OperationResult create_or_update",
        "kubeloop.runtime.shard_assignment": "assign_shards",
        "kubeloop.runtime.shard_leases": "ShardingOptions",
        "kubeloop.runtime.sharded_controller": "ShardedController",
    },
)
