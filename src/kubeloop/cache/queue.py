"""The queue an informer pops from: a
:class:`~kubeloop.cache.store.ReflectorStore` the reflector writes to and a
consumer pops from (the informer's :class:`~kubeloop.cache.real_fifo.RealFIFO`
or :class:`~kubeloop.cache.delta_fifo.DeltaFIFO`; client-go's ``Queue``), and
``QueueWithBatch``, one that can hand out several deltas at once (client-go's
``QueueWithBatch``, for ``InOrderInformersBatchProcess``).

Not in :mod:`kubeloop.cache.store`, which the FIFOs import, because these
name the FIFOs' own types (no import circle).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from kubeloop.cache.delta_fifo import Deltas, PopProcessFunc
from kubeloop.cache.real_fifo import ProcessBatchFunc
from kubeloop.cache.store import ReflectorStore

__all__ = ["Queue", "QueueWithBatch"]


class Queue(ReflectorStore, Protocol):
    """A ReflectorStore whose changes one consumer pops (client-go's ``Queue``)."""

    def pop(self, process: PopProcessFunc, timeout: float | None = None) -> Deltas:
        """Block for the next deltas, run ``process`` on them, return them."""
        ...

    def has_synced(self) -> bool:
        """True once the first ``replace`` was fully popped (or anything else came first)."""
        ...

    def close(self) -> None: ...

    def is_closed(self) -> bool: ...


@runtime_checkable
class QueueWithBatch(Queue, Protocol):
    """A Queue that can hand out several deltas, one per key, in one pop."""

    def pop_batch(
        self,
        process_batch: ProcessBatchFunc,
        process_single: PopProcessFunc,
        timeout: float | None = None,
    ) -> None: ...
