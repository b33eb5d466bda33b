"""LIST and WATCH one shard of a resource: by the server's ``shardSelector``
when it applies it, else by the same hash on the client.

::

    key = ShardKey("uid", 12)
    applies = probe_shard_selector(client.resource("v1", "configmaps"))
    shard3 = ShardedResourceClient(client.resource("v1", "configmaps"), key, {3},
                                   server_side=applies)
    factory.informer_for(shard3)      # an informer of shard 3 alone

The probe: a LIST with ``limit=1`` and a deliberately malformed selector
(:data:`PROBE_SELECTOR`, 1-digit bounds). A server that applies shard
selectors refuses it with "invalid shard selector"; one that ignores the
parameter (the ``ShardedListAndWatch`` gate off, or a server before 1.36)
answers 200. The status code is not the signal: kube-apiserver 1.37.2
wraps the parse error in a plain error, which reaches the client as
``500 InternalError`` (not the 400 one would expect), so the probe reads
the message. ``metadata.shardInfo`` in a list would also tell, but 1.37
omits it for custom resources, so it is not relied on.

Client-side filtering keeps correctness where the server ignores the
selector, and loses only the saving: every replica then receives every
object, and drops those of other shards before they reach the cache. An
object never changes shard (its uid and namespace are immutable), so
filtering each watch event by its own object is exact: no event of a kept
object is dropped, and none of another shard's gets through. Bookmarks
pass untouched (they carry the resourceVersion every shard needs).

``received`` counts the objects the server sent (list items and watch
events, before any client-side filter): what the memory and bandwidth
saving of server-side sharding is measured by.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from kubeloop.cache.listwatch import ResourceClientLike
from kubeloop.cache.sharding import ShardKey, selector_for
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent, WatchStream
from kubeloop.errors import ApiError

__all__ = [
    "PROBE_SELECTOR",
    "SHARD_SELECTOR_PARAM",
    "ReceivedCounter",
    "ShardedResourceClient",
    "probe_shard_selector",
]

_log = logging.getLogger(__name__)

#: The query parameter of ListOptions.ShardSelector.
SHARD_SELECTOR_PARAM = "shardSelector"

#: Malformed on purpose (bounds must have 16 hex digits): a server that
#: applies shard selectors refuses it, one that ignores them lists.
PROBE_SELECTOR = "shardRange(object.metadata.uid, '0x0', '0x1')"

_REFUSAL = "invalid shard selector"


def probe_shard_selector(resource_client: ResourceClientLike) -> bool:
    """Whether the server applies ``shardSelector`` to this resource.

    Raises the API error of a LIST that failed for another reason (no
    access, not served): the caller retries or reports it; guessing
    "ignored" there would hide a broken setup behind client-side filtering.
    """
    options = ListOptions(limit=1, extra={SHARD_SELECTOR_PARAM: PROBE_SELECTOR})
    try:
        resource_client.list_page(options)
    except ApiError as err:
        if _REFUSAL in err.message:
            return True
        raise
    return False


class ReceivedCounter:
    """Objects received from the server, summed over the clients sharing it."""

    def __init__(self) -> None:
        # Guards _value (the reflectors of several shards add to it).
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int) -> None:
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


class ShardedResourceClient:
    """A resource client (:class:`~kubeloop.cache.ResourceClientLike`) that
    lists and watches only the objects of ``shards`` (indices of ``key``'s
    ranges).

    ``server_side``: send the ``shardSelector`` (the server filters);
    otherwise filter on the client, by the same hash. It has the wrapped
    client's ``api_version`` and ``plural``, so a
    :class:`~kubeloop.cache.SharedInformerFactory` names its informer after
    the resource, and a ``metadata()`` view sharded alike.
    """

    def __init__(
        self,
        inner: Any,
        key: ShardKey,
        shards: Iterable[int],
        *,
        server_side: bool,
        received: ReceivedCounter | None = None,
    ) -> None:
        self._inner = inner
        self.key = key
        self.shards = frozenset(shards)
        if not self.shards or not all(0 <= s < key.count for s in self.shards):
            raise ValueError(f"shards {sorted(self.shards)} are not among 0..{key.count - 1}")
        self.server_side = server_side
        self.received = received if received is not None else ReceivedCounter()
        ranges = [r for r in key.ranges() if r.index in self.shards]
        self.selector = selector_for(ranges, key.by)
        self.namespace: str | None = getattr(inner, "namespace", None)
        self.api_version: str | None = getattr(inner, "api_version", None)
        self.plural: str | None = getattr(inner, "plural", None) or getattr(inner, "resource", None)

    def __repr__(self) -> str:
        mode = "server" if self.server_side else "client"
        return f"ShardedResourceClient({self._inner!r}, shards={sorted(self.shards)}, {mode})"

    def _options(self, options: ListOptions) -> ListOptions:
        if not self.server_side:
            return options
        extra = {**options.extra, SHARD_SELECTOR_PARAM: self.selector}
        return dataclasses.replace(options, extra=extra)

    def _keeps(self, obj: Any) -> bool:
        return self.key.shard_of(obj) in self.shards

    def list_page(self, options: ListOptions) -> ListPage[Any]:
        page: ListPage[Any] = self._inner.list_page(self._options(options))
        self.received.add(len(page.items))
        if self.server_side:
            return page
        return dataclasses.replace(page, items=[o for o in page.items if self._keeps(o)])

    def watch(self, options: ListOptions) -> WatchStream[Any]:
        stream: WatchStream[Any] = self._inner.watch(self._options(options))
        return _ShardWatch(stream, self)

    def metadata(self, kind: str = "") -> ShardedResourceClient:
        """The metadata-only view of the same shards."""
        return ShardedResourceClient(
            self._inner.metadata(kind),
            self.key,
            self.shards,
            server_side=self.server_side,
            received=self.received,
        )


class _ShardWatch:
    """A watch stream that counts what arrives and, filtering on the client,
    drops the events of other shards' objects."""

    def __init__(self, stream: WatchStream[Any], client: ShardedResourceClient) -> None:
        self._stream = stream
        self._client = client

    def __iter__(self) -> Iterator[WatchEvent[Any]]:
        client = self._client
        for event in self._stream:
            if event.type == EventType.BOOKMARK:
                yield event
                continue
            client.received.add(1)
            if client.server_side or client._keeps(event.object):
                yield event

    def stop(self) -> None:
        self._stream.stop()
