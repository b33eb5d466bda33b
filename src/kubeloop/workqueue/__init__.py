"""Work queues for controllers: deduplicating, delaying and rate-limited, after client-go.

::

    from kubeloop.workqueue import RateLimitingQueue

    q: RateLimitingQueue[str] = RateLimitingQueue(name="networks")
    q.add("default/net-a")
    item, shutdown = q.get()

- :class:`Queue`: an item is processed by at most one worker at a time, an
  item added while processed is queued again at ``done``, duplicates coalesce.
- :class:`DelayingQueue`: ``add_after(item, seconds)``.
- :class:`RateLimitingQueue`: ``add_rate_limited``, ``forget``, ``num_requeues``.
- Rate limiters (:mod:`kubeloop.workqueue.default_rate_limiters`).
- Metrics under client-go's names for named queues (:mod:`kubeloop.workqueue.metrics`,
  exported by :mod:`kubeloop.workqueue.prometheus_metrics`).
- Clocks, real and fake, re-exported from :mod:`kubeloop.clock`.
"""

from typing import TYPE_CHECKING

from kubeloop._lazy import lazy_exports

if TYPE_CHECKING:
    from kubeloop.clock import REAL_CLOCK, Clock, FakeClock, RealClock
    from kubeloop.workqueue.default_rate_limiters import (
        BucketRateLimiter,
        ItemExponentialFailureRateLimiter,
        ItemFastSlowRateLimiter,
        MaxOfRateLimiter,
        RateLimiter,
        WithMaxWaitRateLimiter,
        default_controller_rate_limiter,
    )
    from kubeloop.workqueue.delaying_queue import DelayingQueue
    from kubeloop.workqueue.metrics import (
        NOOP_METRICS_PROVIDER,
        MetricsProvider,
        NoopMetricsProvider,
        get_provider,
        set_provider,
    )
    from kubeloop.workqueue.prometheus_metrics import PrometheusMetricsProvider
    from kubeloop.workqueue.queue import GetResult, Queue
    from kubeloop.workqueue.rate_limiting_queue import RateLimitingQueue

__all__ = [
    "NOOP_METRICS_PROVIDER",
    "REAL_CLOCK",
    "BucketRateLimiter",
    "Clock",
    "DelayingQueue",
    "FakeClock",
    "GetResult",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "MetricsProvider",
    "NoopMetricsProvider",
    "PrometheusMetricsProvider",
    "Queue",
    "RateLimiter",
    "RateLimitingQueue",
    "RealClock",
    "WithMaxWaitRateLimiter",
    "default_controller_rate_limiter",
    "get_provider",
    "set_provider",
]

# The names above are imported when first used (see kubeloop._lazy).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "kubeloop.clock": "REAL_CLOCK Clock FakeClock RealClock",
        "kubeloop.workqueue.default_rate_limiters": (
            "BucketRateLimiter ItemExponentialFailureRateLimiter ItemFastSlowRateLimiter "
            "MaxOfRateLimiter RateLimiter WithMaxWaitRateLimiter default_controller_rate_limiter"
        ),
        "kubeloop.workqueue.delaying_queue": "DelayingQueue",
        "kubeloop.workqueue.metrics": (
            "NOOP_METRICS_PROVIDER MetricsProvider NoopMetricsProvider get_provider set_provider"
        ),
        "kubeloop.workqueue.prometheus_metrics": "PrometheusMetricsProvider",
        "kubeloop.workqueue.queue": "GetResult Queue",
        "kubeloop.workqueue.rate_limiting_queue": "RateLimitingQueue",
    },
)
