"""A client for one resource whose objects are typed models.

Example::

    from network_controller.models import Network, NetworkSpec
    from kubeloop.typed import ObjectMeta

    nets = client.resource(Network, namespace="default")   # TypedResourceClient[Network]
    net = nets.create(Network(metadata=ObjectMeta(name="n1"),
                              spec=NetworkSpec(cidr="10.0.0.0/24", gateway="10.0.0.1")))
    net.spec.gateway = "10.0.0.254"
    net = nets.update(net)             # a Network; Conflict if someone wrote in between

Reads decode the response bytes straight into the model (no dict in
between). Writes encode only what the model sets: unset optional fields are
left out, and ``update``/``update_status`` are JSON merge patches rather than
PUTs, so a field the server has and the model does not know (a newer CRD
version's, another controller's annotation) is left alone instead of being
silently deleted. The object's ``metadata.resourceVersion`` still makes the
write conditional, exactly as a PUT's would.

What a merge patch cannot do: clear a field by leaving it unset (send an
explicit ``None`` through :meth:`TypedResourceClient.patch` with a dict), or
keep unknown fields *inside list items* (a merge patch replaces a list
whole).

The same resource read for its metadata only, one model for every kind
(:class:`~kubeloop.typed.PartialObjectMetadata`), is a
:class:`MetadataClient`: ``nets.metadata()``, or
``client.resource("apps/v1", "deployments").metadata("Deployment")``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kubeloop.client._codec import decode_model_list, encode_json
from kubeloop.client._metadata import (
    METADATA_ACCEPT,
    METADATA_LIST_ACCEPT,
    MetadataClient,
    _OnResource,
)
from kubeloop.client._pages import PATCH_CONTENT_TYPES, PatchType
from kubeloop.client._resource import ResourceClient
from kubeloop.client._watch import Watch
from kubeloop.client.types import ListOptions, ListPage
from kubeloop.errors import DecodeError
from kubeloop.typed import (
    ResourceT,
    decoder_for,
    encode,
    write_view,
)

__all__ = ["METADATA_ACCEPT", "METADATA_LIST_ACCEPT", "MetadataClient", "TypedResourceClient"]


class TypedResourceClient(_OnResource[ResourceT]):
    """Operations on one kind, in and out as its model ``ResourceT``.

    Built by ``client.resource(Model, namespace=...)``; ``raw`` is the dict
    client of the same resource, for anything the model cannot express.
    """

    raw: ResourceClient  # the whole dict client, not only what RawResource names

    def __init__(self, model: type[ResourceT], raw: ResourceClient) -> None:
        self.model = model
        self.raw = raw
        self._decoder = decoder_for(model)

    def __repr__(self) -> str:
        return f"TypedResourceClient({self.model.__name__}, namespace={self.namespace!r})"

    def with_namespace(self, namespace: str | None) -> TypedResourceClient[ResourceT]:
        return TypedResourceClient(self.model, self.raw.with_namespace(namespace))

    def _decode(self, data: bytes, what: str) -> ResourceT:
        try:
            obj: ResourceT = self._decoder.decode(data)
        except msgspec.DecodeError as err:  # ValidationError too
            name = self.model.__name__
            raise DecodeError(f"{what}: response does not decode as {name}: {err}") from err
        return obj

    def _request(self, method: str, path: str, **kw: Any) -> ResourceT:
        return self._decode(self.raw.client.request_bytes(method, path, **kw), f"{method} {path}")

    def _ns(self, namespace: str | None, obj: ResourceT | None = None) -> str | None:
        return self.raw._ns(namespace or (obj.metadata.namespace if obj is not None else None))

    # -- reads ---------------------------------------------------------------
    def get(
        self, name: str, *, namespace: str | None = None, timeout: float | None = None
    ) -> ResourceT:
        return self._request(
            "GET", self.raw.object_path(name, self._ns(namespace)), timeout=timeout
        )

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage:
        """One LIST request; ``items`` are ``ResourceT`` instances."""
        data, what = self.raw._list_bytes(options or ListOptions(**kw))
        items, rv, cont, remaining = decode_model_list(data, what, self.model)
        return ListPage(items, rv, cont, remaining)

    def watch(self, options: ListOptions | None = None, **kw: Any) -> Watch:
        """A watch whose event objects are ``ResourceT`` (BOOKMARKs carry a
        :class:`kubeloop.typed.PartialObjectMetadata`)."""
        return self.raw._open_watch(options or ListOptions(**kw), self.model)

    def metadata(self, kind: str = "") -> MetadataClient:
        """The same resource read for its metadata only (see
        :class:`MetadataClient`); objects say the model's kind unless given one."""
        return MetadataClient(self.raw, kind or self.model.KIND)

    # -- writes --------------------------------------------------------------
    def create(
        self,
        obj: ResourceT,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> ResourceT:
        return self._request(
            "POST",
            self.raw.collection_path(self._ns(namespace, obj)),
            body=encode(write_view(obj)),
            params=self.raw._write_params(dry_run, field_manager),
            timeout=timeout,
        )

    def update(
        self,
        obj: ResourceT,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> ResourceT:
        """Write what the model sets, as a merge patch conditional on
        ``metadata.resourceVersion`` (a stale one fails with Conflict);
        fields the model does not know keep their values on the server."""
        return self._request(
            "PATCH",
            self.raw.object_path(obj.metadata.name, self._ns(namespace, obj)),
            body=encode(write_view(obj)),
            params=self.raw._write_params(dry_run, field_manager),
            content_type=PATCH_CONTENT_TYPES["merge"],
            timeout=timeout,
        )

    def update_status(
        self, obj: ResourceT, *, namespace: str | None = None, field_manager: str | None = None
    ) -> ResourceT:
        """Write the model's ``status`` (only) to the status subresource, as
        :meth:`update` does: a merge patch conditional on the resourceVersion."""
        body: dict[str, Any] = {"status": getattr(obj, "status", None)}
        if obj.metadata.resource_version:
            body["metadata"] = {"resourceVersion": obj.metadata.resource_version}
        return self._request(
            "PATCH",
            self.raw.object_path(obj.metadata.name, self._ns(namespace, obj), "status"),
            body=encode_json(body),
            params=self.raw._write_params(False, field_manager),
            content_type=PATCH_CONTENT_TYPES["merge"],
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
    ) -> ResourceT:
        """Patch with a dict, bytes or a model (encoded without its unset
        fields); the result is decoded as the model."""
        params, content_type = self.raw._patch_params(patch_type, field_manager, force, dry_run)
        if isinstance(patch, self.model):
            body = encode(write_view(patch))
        else:
            body = patch if isinstance(patch, bytes) else encode_json(patch)
        return self._request(
            "PATCH",
            self.raw.object_path(name, self._ns(namespace), subresource),
            body=body,
            params=params,
            content_type=content_type,
        )

    def patch_status(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> ResourceT:
        return self.patch(
            name,
            patch,
            patch_type=patch_type,
            namespace=namespace,
            subresource="status",
            field_manager=field_manager,
            force=force,
        )

    def apply(
        self,
        obj: ResourceT,
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> ResourceT:
        """Server-side apply of the fields the model sets."""
        return self.patch(
            obj.metadata.name,
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
        """DELETE; returns what the server answers (the object being
        finalised, or a Status) as a dict."""
        return self.raw.delete(
            name,
            namespace=self._ns(namespace),
            propagation_policy=propagation_policy,
            preconditions=preconditions,
            grace_period_seconds=grace_period_seconds,
            dry_run=dry_run,
        )
