"""The recorder's counters in Prometheus: Events that were not written.

``kubeloop_events_dropped_total{controller, reason}``; ``reason`` is
``queue_full`` (the caller found the queue full), ``shutdown`` (still
queued when the recorder stopped), ``spam_filter`` (over the object's
budget) or ``write_failed`` (the server refused it, or the tries ran out).
client-go counts none of these; a controller that loses Events should be
able to tell.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from kubeloop._prometheus import PerRegistry

__all__ = ["REASONS", "dropped_counter"]

REASONS = ("queue_full", "shutdown", "spam_filter", "write_failed")


def _build(registry: CollectorRegistry) -> Counter:
    return Counter(
        "kubeloop_events_dropped_total",
        "Events an event recorder did not write, by reason.",
        ["controller", "reason"],
        registry=registry,
    )


_families = PerRegistry(_build)


def dropped_counter(registry: CollectorRegistry) -> Counter:
    """The family in ``registry`` (registered on first use)."""
    return _families(registry)
