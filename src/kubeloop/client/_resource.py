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
(:class:`~kubeloop.client._metadata.MetadataClient`).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from kubeloop.client._codec import decode_json, decode_list, encode_json
from kubeloop.client._metadata import MetadataClient
from kubeloop.client._pages import (
    PATCH_CONTENT_TYPES,
    Pages,
    PatchType,
    Requester,
    group_version_path,
    list_params,
)
from kubeloop.client._watch import Watch
from kubeloop.client.types import ListOptions, ListPage


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
