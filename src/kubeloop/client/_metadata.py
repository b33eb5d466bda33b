"""A client for one resource read for its metadata only (client-go's
metadata client): objects are :class:`~kubeloop.typed.PartialObjectMetadata`,
asked for by content negotiation.

::

    metadata = client.resource("apps/v1", "deployments").metadata("Deployment")
    for d in metadata.list_items():
        print(d.metadata.name, d.metadata.owner_references)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, Protocol

from kubeloop.client._codec import encode_json
from kubeloop.client._pages import M, Pages, PatchType, Requester
from kubeloop.client._watch import Watch
from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent
from kubeloop.errors import DecodeError
from kubeloop.typed import (
    PARTIAL_KIND,
    PartialObjectMetadata,
    check_partial,
    decode_partial,
    decode_partial_list,
)

__all__ = ["METADATA_ACCEPT", "METADATA_LIST_ACCEPT", "MetadataClient", "MetadataWatch"]


#: client-go's Accept headers for metadata (less protobuf): the metadata as
#: asked, else plain JSON, the full object, from a server that cannot.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


class RawResource(Protocol):
    """What the metadata (and typed) clients use of the dict
    :class:`~kubeloop.client._resource.ResourceClient` under them: named
    here, so that this module need not import that one, which offers
    ``metadata()`` and so imports this (no circle)."""

    api_version: str
    plural: str
    namespace: str | None

    @property
    def client(self) -> Requester: ...

    def with_namespace(self, namespace: str | None) -> RawResource: ...

    def _ns(self, namespace: str | None, obj: dict[str, Any] | None = None) -> str | None: ...

    def object_path(
        self, name: str, namespace: str | None, subresource: str | None = None
    ) -> str: ...

    def _list_bytes(self, options: ListOptions, accept: str | None = None) -> tuple[bytes, str]: ...

    def _open_watch(
        self, options: ListOptions, model: type[Any] | None = None, accept: str | None = None
    ) -> Watch: ...

    def _patch_params(
        self, patch_type: PatchType, field_manager: str | None, force: bool | None, dry_run: bool
    ) -> tuple[dict[str, str], str]: ...

    def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        preconditions: dict[str, str] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Any: ...


class _OnResource(Pages[M]):
    """What the typed and metadata clients share: the dict client under
    them (``raw``), and what it names."""

    raw: RawResource

    @property
    def api_version(self) -> str:
        return self.raw.api_version

    @property
    def plural(self) -> str:
        return self.raw.plural

    @property
    def namespace(self) -> str | None:
        return self.raw.namespace


class MetadataClient(_OnResource[PartialObjectMetadata]):
    """One resource read for its metadata only (client-go's metadata client).

    Example::

        deployments = client.resource("apps/v1", "deployments", namespace="prod")
        metadata = deployments.metadata("Deployment")
        for d in metadata.list_items(label_selector="app=web"):
            print(d.metadata.name, d.metadata.owner_references)

    Objects are :class:`~kubeloop.typed.PartialObjectMetadata`, asked for by
    content negotiation (``as=PartialObjectMetadata;g=meta.k8s.io;v=v1``,
    ``...List`` for a LIST), so no spec or status crosses the wire. With a
    ``kind`` each says the resource's apiVersion and that kind (what a
    reader, or an ownerReference made from it, needs); an object a server
    sent whole, for want of the transformation, keeps its own. What is
    neither metadata nor an object raises :class:`~kubeloop.errors.DecodeError`
    (see :mod:`kubeloop.typed._metadata`).

    Writes: ``patch`` (labels, annotations, finalizers, ownerReferences)
    and ``delete``, as in client-go; anything else goes through ``raw``.
    """

    def __init__(self, raw: RawResource, kind: str = "") -> None:
        self.raw = raw
        self.kind = kind

    def __repr__(self) -> str:
        return f"MetadataClient({self.api_version}, {self.plural}, namespace={self.namespace!r})"

    def with_namespace(self, namespace: str | None) -> MetadataClient:
        return MetadataClient(self.raw.with_namespace(namespace), self.kind)

    def _typed(self, obj: PartialObjectMetadata) -> PartialObjectMetadata:
        """``obj`` saying the resource's apiVersion and kind, when it said
        only PartialObjectMetadata and the kind is known (shared strings)."""
        if self.kind and obj.kind == PARTIAL_KIND:
            obj.api_version, obj.kind = self.raw.api_version, self.kind
        return obj

    def _request(self, method: str, path: str, **kw: Any) -> PartialObjectMetadata:
        data = self.raw.client.request_bytes(method, path, accept=METADATA_ACCEPT, **kw)
        return self._typed(decode_partial(data, f"{method} {path}"))

    def get(
        self, name: str, *, namespace: str | None = None, timeout: float | None = None
    ) -> PartialObjectMetadata:
        return self._request(
            "GET", self.raw.object_path(name, self.raw._ns(namespace)), timeout=timeout
        )

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage:
        """One LIST request; ``items`` are :class:`PartialObjectMetadata`."""
        data, what = self.raw._list_bytes(options or ListOptions(**kw), METADATA_LIST_ACCEPT)
        lst = decode_partial_list(data, what)
        items = [self._typed(item) for item in lst.items or ()]
        meta = lst.metadata
        return ListPage(items, meta.resource_version, meta.continue_, meta.remaining_item_count)

    def watch(self, options: ListOptions | None = None, **kw: Any) -> MetadataWatch:
        """A watch whose event objects are :class:`PartialObjectMetadata`."""
        watch = self.raw._open_watch(
            options or ListOptions(**kw), PartialObjectMetadata, METADATA_ACCEPT
        )
        return MetadataWatch(watch, self)

    def patch(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> PartialObjectMetadata:
        """Patch the object (a dict or bytes); the answer is its metadata."""
        params, content_type = self.raw._patch_params(patch_type, field_manager, force, dry_run)
        return self._request(
            "PATCH",
            self.raw.object_path(name, self.raw._ns(namespace)),
            body=patch if isinstance(patch, bytes) else encode_json(patch),
            params=params,
            content_type=content_type,
        )

    def delete(self, name: str, **kw: Any) -> Any:
        """DELETE, as :meth:`ResourceClient.delete` (same keyword arguments)."""
        return self.raw.delete(name, **kw)


class MetadataWatch:
    """A :class:`MetadataClient` watch: each event's object checked (see
    :func:`kubeloop.typed.check_partial`) and typed as the client's kind."""

    def __init__(self, watch: Watch, client: MetadataClient) -> None:
        self._watch = watch
        self._client = client

    def __iter__(self) -> Iterator[WatchEvent]:
        what = f"watch {self._client.plural}"
        for event in self._watch:
            if event.type != EventType.BOOKMARK:
                try:
                    check_partial(event.object, what)
                except DecodeError:
                    self._watch.stop()
                    raise
                self._client._typed(event.object)
            yield event

    def stop(self) -> None:
        self._watch.stop()

    def __enter__(self) -> MetadataWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
