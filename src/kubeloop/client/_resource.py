"""A client for one resource (client-go's dynamic ``ResourceInterface``).

Objects are plain dicts in and out. Namespace resolution for single-object
calls: the ``namespace=`` argument, else the object's metadata.namespace,
else the client's namespace, else (for a namespaced resource) the config's
default namespace.

Example::

    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace="default")
    net = nets.create({"apiVersion": "samplecrd.k8s.io/v1", "kind": "Network",
                       "metadata": {"name": "n1"},
                       "spec": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}})
    net["spec"]["gateway"] = "10.0.0.254"
    nets.update(net)                     # Conflict if someone wrote in between
    with nets.watch(resource_version=net["metadata"]["resourceVersion"]) as w:
        for event in w:
            print(event.type, event.object["metadata"]["name"])

``nets.metadata("Network")`` reads the same resource as metadata only
(:class:`~kubeloop.client._typed.MetadataClient`).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote

from kubeloop.client._codec import decode_json, decode_list, encode_json
from kubeloop.client._config import Config
from kubeloop.client._watch import Watch
from kubeloop.client.types import DEFAULT_PAGE_SIZE, EventType, ListOptions, ListPage, WatchEvent
from kubeloop.errors import DecodeError
from kubeloop.typed import (
    PARTIAL_KIND,
    PartialObjectMetadata,
    check_partial,
    decode_partial,
    decode_partial_list,
)


class Requester(Protocol):
    """What a resource client needs of the :class:`~kubeloop.client.Client`
    under it: its config, one request, one watch. Written as a protocol so
    that the resource clients sit below the client that makes them, with no
    import of it (no circle)."""

    @property
    def config(self) -> Config: ...

    def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str | None = None,
    ) -> bytes: ...

    def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: type[Any] | None = None,
        *,
        accept: str | None = None,
    ) -> Watch: ...


PatchType = Literal["merge", "json", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def group_version_path(api_version: str) -> str:
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def list_params(options: ListOptions) -> dict[str, str]:
    """metav1.ListOptions as query parameters (only those that are set)."""
    params: dict[str, str] = {}
    if options.label_selector:
        params["labelSelector"] = options.label_selector
    if options.field_selector:
        params["fieldSelector"] = options.field_selector
    if options.limit:
        params["limit"] = str(options.limit)
    if options.continue_:
        params["continue"] = options.continue_
    if options.resource_version is not None:
        params["resourceVersion"] = options.resource_version
    if options.resource_version_match:
        params["resourceVersionMatch"] = options.resource_version_match
    if options.timeout_seconds is not None:
        params["timeoutSeconds"] = str(options.timeout_seconds)
    if options.allow_watch_bookmarks:
        params["allowWatchBookmarks"] = "true"
    if options.send_initial_events is not None:
        params["sendInitialEvents"] = "true" if options.send_initial_events else "false"
    params.update(options.extra)
    return params


def list_pages(
    list_page: Callable[[ListOptions], ListPage], first: ListOptions
) -> Iterator[ListPage]:
    """The pages of a LIST, following ``continue`` tokens.

    As in client-go's pager, continue requests carry no resourceVersion:
    the token pins the snapshot of the first page.
    """
    options = first
    while True:
        page = list_page(options)
        yield page
        if not page.continue_:
            return
        options = dataclasses.replace(
            first, continue_=page.continue_, resource_version=None, resource_version_match=None
        )


M = TypeVar("M")


class Pages(Generic[M]):
    """``list`` and ``list_items`` over a client's ``list_page``
    (one LIST request whose items are ``M``), for every resource client."""

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage:
        raise NotImplementedError

    def list(
        self,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> Iterator[ListPage]:
        """Iterate over the pages of a LIST (see :func:`list_pages`)."""
        return list_pages(
            self.list_page,
            ListOptions(
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                resource_version=resource_version,
                resource_version_match=resource_version_match,
            ),
        )

    def list_items(self, **kw: Any) -> builtins.list[M]:
        """Every object over all pages (keyword arguments as :meth:`list`)."""
        items: builtins.list[M] = []
        for page in self.list(**kw):
            items.extend(page.items)
        return items


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class ResourceClient(Pages[Any]):
    """Operations on one resource, optionally bound to one namespace."""

    def __init__(
        self,
        client: Requester,
        api_version: str,
        plural: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = True,
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.plural = plural
        self.namespace = namespace
        self.namespaced = namespaced

    def __repr__(self) -> str:
        return f"ResourceClient({self.api_version}, {self.plural}, namespace={self.namespace!r})"

    def with_namespace(self, namespace: str | None) -> ResourceClient:
        return ResourceClient(
            self.client,
            self.api_version,
            self.plural,
            namespace=namespace,
            namespaced=self.namespaced,
        )

    # -- paths ---------------------------------------------------------------
    def _ns(self, namespace: str | None, obj: dict[str, Any] | None = None) -> str | None:
        if self.namespaced is False:
            return None
        ns = namespace or (obj is not None and _meta(obj).get("namespace")) or self.namespace
        if not ns and self.namespaced:
            ns = self.client.config.namespace
        return ns or None

    def collection_path(self, namespace: str | None) -> str:
        base = group_version_path(self.api_version)
        if namespace:
            return f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None, subresource: str | None = None) -> str:
        if not name:
            raise ValueError(f"{self.plural}: an object name is required")
        path = f"{self.collection_path(namespace)}/{quote(name, safe='')}"
        return f"{path}/{subresource}" if subresource else path

    def _do(self, method: str, path: str, **kw: Any) -> Any:
        return decode_json(self.client.request_bytes(method, path, **kw), f"{method} {path}")

    # -- reads ---------------------------------------------------------------
    def get(
        self,
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """GET one object. ``timeout`` (seconds) bounds this request instead
        of the config's; leader election keeps a renewal within its deadline."""
        return self._do(
            "GET", self.object_path(name, self._ns(namespace), subresource), timeout=timeout
        )

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage:
        """One LIST request (one page when ``limit`` is set)."""
        data, what = self._list_bytes(options or ListOptions(**kw))
        items, rv, cont, remaining = decode_list(data, what)
        return ListPage(items, rv, cont, remaining)

    def _list_bytes(self, options: ListOptions, accept: str | None = None) -> tuple[bytes, str]:
        """The body of one LIST request, and what to call it in errors."""
        path = self.collection_path(self.namespace if self.namespaced is not False else None)
        data = self.client.request_bytes("GET", path, params=list_params(options), accept=accept)
        return data, f"LIST {path}"

    def list_all(self, **kw: Any) -> ListPage:
        """Every item over all pages, with the first page's resourceVersion."""
        items: list[Any] = []
        rv = ""
        for page in self.list(**kw):
            rv = rv or page.resource_version
            items.extend(page.items)
        return ListPage(items, rv)

    def watch(self, options: ListOptions | None = None, **kw: Any) -> Watch:
        """Open a watch; see :class:`Watch`. Keyword arguments are
        :class:`ListOptions` fields (``resource_version``,
        ``allow_watch_bookmarks``, ``timeout_seconds``, ``send_initial_events``...).
        """
        return self._open_watch(options or ListOptions(**kw))

    def _open_watch(
        self, options: ListOptions, model: type[Any] | None = None, accept: str | None = None
    ) -> Watch:
        params = list_params(options)
        params["watch"] = "true"
        path = self.collection_path(self.namespace if self.namespaced is not False else None)
        return self.client.open_watch(path, params, model, accept=accept)

    def metadata(self, kind: str = "") -> MetadataClient:
        """The same resource read for its metadata only (client-go's
        ``metadata.Interface``): objects are
        :class:`~kubeloop.typed.PartialObjectMetadata`. ``kind`` (e.g.
        ``"Deployment"``) is then set on each object with this client's
        apiVersion, so it says what it is; without one the objects say
        ``meta.k8s.io/v1, PartialObjectMetadata``."""
        return MetadataClient(self, kind)

    # -- writes --------------------------------------------------------------
    @staticmethod
    def _write_params(dry_run: bool, field_manager: str | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if dry_run:
            params["dryRun"] = "All"
        if field_manager:
            params["fieldManager"] = field_manager
        return params

    def create(
        self,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        path = self.collection_path(self._ns(namespace, obj))
        return self._do(
            "POST",
            path,
            body=encode_json(obj),
            params=self._write_params(dry_run, field_manager),
            timeout=timeout,
        )

    def update(
        self,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """PUT the object. Its metadata.resourceVersion makes the write
        conditional: a stale one fails with :class:`Conflict`."""
        path = self.object_path(_meta(obj).get("name", ""), self._ns(namespace, obj), subresource)
        return self._do(
            "PUT",
            path,
            body=encode_json(obj),
            params=self._write_params(dry_run, field_manager),
            timeout=timeout,
        )

    def patch(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Patch with a merge, JSON, strategic-merge (built-in kinds only) or
        server-side apply patch. Apply needs ``field_manager``; ``force=True``
        takes ownership of conflicting fields."""
        params, content_type = self._patch_params(patch_type, field_manager, force, dry_run)
        body = patch if isinstance(patch, bytes) else encode_json(patch)
        return self._do(
            "PATCH",
            self.object_path(name, self._ns(namespace), subresource),
            body=body,
            params=params,
            content_type=content_type,
        )

    @classmethod
    def _patch_params(
        cls, patch_type: PatchType, field_manager: str | None, force: bool | None, dry_run: bool
    ) -> tuple[dict[str, str], str]:
        """The query parameters and content type of a PATCH, checked."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        params = cls._write_params(dry_run, field_manager)
        if force is not None:
            params["force"] = "true" if force else "false"
        return params, PATCH_CONTENT_TYPES[patch_type]

    def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Any:
        """Server-side apply of ``obj`` (which names itself)."""
        return self.patch(
            _meta(obj).get("name", ""),
            obj,
            patch_type="apply",
            namespace=self._ns(namespace, obj),
            subresource=subresource,
            field_manager=field_manager,
            force=force,
        )

    def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        preconditions: dict[str, str] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Any:
        """DELETE; returns the object (being finalised) or a Status.
        ``preconditions`` may hold ``uid`` and/or ``resourceVersion``."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions:
            body["preconditions"] = preconditions
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            body["dryRun"] = ["All"]
        return self._do(
            "DELETE", self.object_path(name, self._ns(namespace)), body=encode_json(body)
        )

    def delete_collection(
        self, *, namespace: str | None = None, label_selector: str | None = None
    ) -> Any:
        params = {"labelSelector": label_selector} if label_selector else None
        return self._do("DELETE", self.collection_path(self._ns(namespace)), params=params)

    # -- status subresource --------------------------------------------------
    def get_status(self, name: str, *, namespace: str | None = None) -> Any:
        return self.get(name, namespace=namespace, subresource="status")

    def update_status(self, obj: dict[str, Any], *, namespace: str | None = None) -> Any:
        return self.update(obj, namespace=namespace, subresource="status")

    def patch_status(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> Any:
        return self.patch(
            name,
            patch,
            patch_type=patch_type,
            namespace=namespace,
            subresource="status",
            field_manager=field_manager,
            force=force,
        )


#: client-go's Accept headers for metadata (less protobuf): the metadata as
#: asked, else plain JSON, the full object, from a server that cannot.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


class _OnResource(Pages[M]):
    """What the typed and metadata clients share: the dict client under
    them (``raw``), and what it names."""

    raw: ResourceClient

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

    def __init__(self, raw: ResourceClient, kind: str = "") -> None:
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
