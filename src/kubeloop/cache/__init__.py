"""The informer machinery: reflector, FIFOs, indexer, shared informers,
listers and the informer factory, with client-go's semantics.

::

    factory = SharedInformerFactory(client, default_resync=30.0)
    pods = factory.informer_for("v1", "pods")
    pods.add_event_handler(ResourceEventHandlerFuncs(add_func=print))
    factory.start(stop)
    factory.wait_for_cache_sync(stop)
    factory.lister_for("v1", "pods").namespaced("default").get("web-0")

One event's way: watch stream -> :class:`Reflector` -> :class:`RealFIFO` ->
the informer's delta handler -> :class:`Indexer` (the cache) and each
handler's own buffer -> handler.

Which queue: informers use a :class:`RealFIFO`, as client-go does since 1.36
(InOrderInformers GA): one flat list of deltas, so handlers get events in the
order the server sent them, never merged per key. By default it is atomic (a
relist is one delta, applied to the cache in one step, its deletions worked
out against the cache when it is reached), popped in batches of distinct keys
(each batch written to the cache before any handler hears of it), and
unlocked while the informer notifies (the reflector never waits for
handlers' buffers). :class:`DeltaFIFO`, which hands out all pending changes of
one key together, stays selectable with
``SharedIndexInformer(queue_options=InformerQueueOptions(in_order=False))``.
"""

from typing import TYPE_CHECKING

from kubeloop._lazy import lazy_exports

if TYPE_CHECKING:
    from kubeloop.cache.accessor import (
        MissingMetadataError,
        get_annotations,
        get_deletion_timestamp,
        get_labels,
        get_name,
        get_namespace,
        get_resource_version,
        get_uid,
    )
    from kubeloop.cache.backoff import BackoffManager, ExponentialBackoffManager
    from kubeloop.cache.controller import (
        BatchProcessError,
        Config,
        Controller,
        InformerQueueOptions,
        process_deltas,
        process_deltas_in_batch,
    )
    from kubeloop.cache.delta_fifo import (
        Delta,
        DeltaFIFO,
        Deltas,
        DeltaType,
        FIFOClosedError,
        PopProcessFunc,
        TransformFunc,
    )
    from kubeloop.cache.factory import InformerKey, SharedInformerFactory
    from kubeloop.cache.handlers import (
        ResourceEventHandler,
        ResourceEventHandlerDetailedFuncs,
        ResourceEventHandlerFuncs,
        ResourceEventHandlerRegistration,
    )
    from kubeloop.cache.index import (
        NAMESPACE_INDEX,
        IndexConflictError,
        Indexers,
        IndexFunc,
        IndexNotFoundError,
        meta_namespace_index_func,
    )
    from kubeloop.cache.indexer import Indexer
    from kubeloop.cache.informer_metrics import (
        InformerMetricsProvider,
        InformerNameAndResource,
        NoopInformerMetricsProvider,
        get_informer_metrics_provider,
        set_informer_metrics_provider,
    )
    from kubeloop.cache.keys import (
        DeletedFinalStateUnknown,
        KeyFunc,
        KeyFuncError,
        deletion_handling_meta_namespace_key_func,
        meta_namespace_key_func,
        split_meta_namespace_key,
    )
    from kubeloop.cache.labels import Selector, SelectorParseError, parse_selector
    from kubeloop.cache.lister import Lister, NamespaceLister
    from kubeloop.cache.listwatch import ListerWatcher, ListWatch, TweakListOptionsFunc
    from kubeloop.cache.prometheus_informer_metrics import PrometheusInformerMetricsProvider
    from kubeloop.cache.queue import Queue, QueueWithBatch
    from kubeloop.cache.real_fifo import (
        BookmarkInfo,
        ProcessBatchFunc,
        RealFIFO,
        ReplacedAllInfo,
        SyncAllInfo,
    )
    from kubeloop.cache.reflector import (
        Reflector,
        ReflectorOptions,
        VeryShortWatchError,
        WatchErrorHandler,
        default_watch_error_handler,
    )
    from kubeloop.cache.shard_listwatch import (
        ReceivedCounter,
        ShardedResourceClient,
        probe_shard_selector,
    )
    from kubeloop.cache.sharding import ShardBy, ShardKey, ShardRange, fnv1a_64, shard_ranges
    from kubeloop.cache.shared_informer import InformerStateError, SharedIndexInformer
    from kubeloop.cache.stop import on_stop
    from kubeloop.cache.store import KeyListerGetter, ReflectorStore, Store
    from kubeloop.cache.transforms import strip_managed_fields
    from kubeloop.cache.wait import wait_for_cache_sync, wait_for_cache_sync_async

__all__ = [
    "NAMESPACE_INDEX",
    "BackoffManager",
    "BatchProcessError",
    "BookmarkInfo",
    "Config",
    "Controller",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "ExponentialBackoffManager",
    "FIFOClosedError",
    "IndexConflictError",
    "IndexFunc",
    "IndexNotFoundError",
    "Indexer",
    "Indexers",
    "InformerKey",
    "InformerMetricsProvider",
    "InformerNameAndResource",
    "InformerQueueOptions",
    "InformerStateError",
    "KeyFunc",
    "KeyFuncError",
    "KeyListerGetter",
    "ListWatch",
    "Lister",
    "ListerWatcher",
    "MissingMetadataError",
    "NamespaceLister",
    "NoopInformerMetricsProvider",
    "PopProcessFunc",
    "ProcessBatchFunc",
    "PrometheusInformerMetricsProvider",
    "Queue",
    "QueueWithBatch",
    "RealFIFO",
    "ReceivedCounter",
    "Reflector",
    "ReflectorOptions",
    "ReflectorStore",
    "ReplacedAllInfo",
    "ResourceEventHandler",
    "ResourceEventHandlerDetailedFuncs",
    "ResourceEventHandlerFuncs",
    "ResourceEventHandlerRegistration",
    "Selector",
    "SelectorParseError",
    "ShardBy",
    "ShardKey",
    "ShardRange",
    "ShardedResourceClient",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "Store",
    "SyncAllInfo",
    "TransformFunc",
    "TweakListOptionsFunc",
    "VeryShortWatchError",
    "WatchErrorHandler",
    "default_watch_error_handler",
    "deletion_handling_meta_namespace_key_func",
    "fnv1a_64",
    "get_annotations",
    "get_deletion_timestamp",
    "get_informer_metrics_provider",
    "get_labels",
    "get_name",
    "get_namespace",
    "get_resource_version",
    "get_uid",
    "meta_namespace_index_func",
    "meta_namespace_key_func",
    "on_stop",
    "parse_selector",
    "probe_shard_selector",
    "process_deltas",
    "process_deltas_in_batch",
    "set_informer_metrics_provider",
    "shard_ranges",
    "split_meta_namespace_key",
    "strip_managed_fields",
    "wait_for_cache_sync",
    "wait_for_cache_sync_async",
]

# The names above are imported when first used (see kubeloop._lazy).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "kubeloop.cache.accessor": (
            "MissingMetadataError get_annotations get_deletion_timestamp get_labels get_name "
            "get_namespace get_resource_version get_uid"
        ),
        "kubeloop.cache.backoff": "BackoffManager ExponentialBackoffManager",
        "kubeloop.cache.controller": (
            "BatchProcessError Config Controller InformerQueueOptions process_deltas "
            "process_deltas_in_batch"
        ),
        "kubeloop.cache.delta_fifo": (
            "Delta DeltaFIFO Deltas DeltaType FIFOClosedError PopProcessFunc TransformFunc"
        ),
        "kubeloop.cache.factory": "InformerKey SharedInformerFactory",
        "kubeloop.cache.handlers": (
            "ResourceEventHandler ResourceEventHandlerDetailedFuncs ResourceEventHandlerFuncs "
            "ResourceEventHandlerRegistration"
        ),
        "kubeloop.cache.index": (
            "NAMESPACE_INDEX IndexConflictError Indexers IndexFunc IndexNotFoundError "
            "meta_namespace_index_func"
        ),
        "kubeloop.cache.indexer": "Indexer",
        "kubeloop.cache.informer_metrics": (
            "InformerMetricsProvider InformerNameAndResource NoopInformerMetricsProvider "
            "get_informer_metrics_provider set_informer_metrics_provider"
        ),
        "kubeloop.cache.keys": (
            "DeletedFinalStateUnknown KeyFunc KeyFuncError "
            "deletion_handling_meta_namespace_key_func meta_namespace_key_func "
            "split_meta_namespace_key"
        ),
        "kubeloop.cache.labels": "Selector SelectorParseError parse_selector",
        "kubeloop.cache.lister": "Lister NamespaceLister",
        "kubeloop.cache.listwatch": "ListerWatcher ListWatch TweakListOptionsFunc",
        "kubeloop.cache.prometheus_informer_metrics": "PrometheusInformerMetricsProvider",
        "kubeloop.cache.queue": "Queue QueueWithBatch",
        "kubeloop.cache.real_fifo": (
            "BookmarkInfo ProcessBatchFunc RealFIFO ReplacedAllInfo SyncAllInfo"
        ),
        "kubeloop.cache.reflector": (
            "Reflector ReflectorOptions VeryShortWatchError WatchErrorHandler "
            "default_watch_error_handler"
        ),
        "kubeloop.cache.shared_informer": "InformerStateError SharedIndexInformer",
        "kubeloop.cache.stop": "on_stop",
        "kubeloop.cache.store": "KeyListerGetter ReflectorStore Store",
        "kubeloop.cache.transforms": "strip_managed_fields",
        "kubeloop.cache.wait": "wait_for_cache_sync wait_for_cache_sync_async",
        "kubeloop.cache.shard_listwatch": (
            "ReceivedCounter ShardedResourceClient probe_shard_selector"
        ),
        "kubeloop.cache.sharding": "ShardBy ShardKey ShardRange fnv1a_64 shard_ranges",
    },
)
