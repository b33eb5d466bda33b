"""The requests a resource client's verbs make, built without I/O: paths,
namespace resolution, query parameters, bodies, content types. The sync
:class:`~kubeloop.client.ResourceClient` and its twin
:class:`~kubeloop.client.AsyncResourceClient` both derive from
:class:`ResourceCalls`, so a verb means the same in both and the rules are
written once; they differ only in how a :class:`Call` is sent.

::

    calls = ResourceCalls(DICT_CODEC, "v1", "configmaps", namespace="default")
    call = calls.get_call("cm1")          # Call("GET", "/api/v1/namespaces/default/...")

Namespace resolution for single-object calls: the ``namespace=`` argument,
else the object's metadata.namespace, else the client's namespace, else (for
a namespaced resource) the config's default namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from kubeloop.client._codec import encode_json
from kubeloop.client._codecs import Codec, MetadataCodec
from kubeloop.client._pages import PATCH_CONTENT_TYPES, PatchType, group_version_path, list_params
from kubeloop.client.types import ListOptions
from kubeloop.errors import FieldsWouldBeDropped

T = TypeVar("T")

PropagationPolicy = Literal["Foreground", "Background", "Orphan"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request a verb makes (the transport-free half of it)."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    accept: str | None = None
    timeout: float | None = None

    @property
    def what(self) -> str:
        """How errors name this request."""
        return f"{self.method} {self.path}"


def write_params(dry_run: bool, field_manager: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if dry_run:
        params["dryRun"] = "All"
    if field_manager:
        params["fieldManager"] = field_manager
    return params


def patch_params(
    patch_type: PatchType, field_manager: str | None, force: bool | None, dry_run: bool
) -> tuple[dict[str, str], str]:
    """The query parameters and content type of a PATCH, checked."""
    if patch_type not in PATCH_CONTENT_TYPES:
        raise ValueError(f"unknown patch type {patch_type!r}")
    if patch_type == "apply" and not field_manager:
        raise ValueError("server-side apply needs a field_manager")
    params = write_params(dry_run, field_manager)
    if force is not None:
        params["force"] = "true" if force else "false"
    return params, PATCH_CONTENT_TYPES[patch_type]


class ResourceCalls(Generic[T]):
    """One resource (optionally bound to a namespace) and the requests its
    verbs make; objects are ``T`` as ``codec`` says."""

    def __init__(
        self,
        codec: Codec[T],
        api_version: str,
        plural: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = True,
        default_namespace: str = "default",
    ) -> None:
        self.codec = codec
        self.api_version = api_version
        self.plural = plural
        self.namespace = namespace
        self.namespaced = namespaced
        self.default_namespace = default_namespace

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.api_version}, {self.plural}, "
            f"namespace={self.namespace!r})"
        )

    def metadata_codec(self, kind: str = "") -> MetadataCodec:
        """The codec of this resource read for its metadata only: objects say
        ``kind`` (a model's own by default) with this apiVersion."""
        kind = kind or str(getattr(getattr(self.codec, "model", None), "KIND", ""))
        return MetadataCodec(self.api_version, kind)

    # -- paths ---------------------------------------------------------------
    def _ns(self, namespace: str | None, obj: T | None = None) -> str | None:
        if self.namespaced is False:
            return None
        ns = namespace or (obj is not None and self.codec.namespace_of(obj)) or self.namespace
        if not ns and self.namespaced:
            ns = self.default_namespace
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

    def _list_path(self) -> str:
        return self.collection_path(self.namespace if self.namespaced is not False else None)

    # -- calls ---------------------------------------------------------------
    def get_call(
        self,
        name: str,
        namespace: str | None = None,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> Call:
        path = self.object_path(name, self._ns(namespace), subresource)
        return Call("GET", path, accept=self.codec.accept, timeout=timeout)

    def list_call(self, options: ListOptions) -> Call:
        params = list_params(options)
        return Call("GET", self._list_path(), params, accept=self.codec.list_accept)

    def watch_call(self, options: ListOptions) -> Call:
        params = list_params(options)
        params["watch"] = "true"
        return Call("GET", self._list_path(), params, accept=self.codec.accept)

    def create_call(
        self,
        obj: T,
        namespace: str | None,
        dry_run: bool,
        field_manager: str | None,
        timeout: float | None,
    ) -> Call:
        path = self.collection_path(self._ns(namespace, obj))
        params = write_params(dry_run, field_manager)
        return Call("POST", path, params, self.codec.encode(obj), timeout=timeout)

    def update_call(
        self,
        obj: T,
        namespace: str | None,
        subresource: str | None,
        dry_run: bool,
        field_manager: str | None,
        timeout: float | None,
    ) -> Call:
        path = self.object_path(self.codec.name_of(obj), self._ns(namespace, obj), subresource)
        params = write_params(dry_run, field_manager)
        return Call("PUT", path, params, self.codec.encode(obj), timeout=timeout)

    def checked_update(
        self, obj: T, live: bytes, subresource: str | None, build: Callable[[T], Call]
    ) -> Call:
        """The PUT of ``obj`` once ``live`` (the object as the server has
        it, read just before) shows it drops nothing: conditioned on the
        resourceVersion read (when ``obj`` carries none), so no field can
        appear in between. Raises :class:`FieldsWouldBeDropped` otherwise."""
        dropped = self.codec.dropped_fields(live, subresource)
        name = self.codec.name_of(obj)
        if dropped:
            shown = ", ".join(dropped[:8]) + (" ..." if len(dropped) > 8 else "")
            raise FieldsWouldBeDropped(
                f"{self.plural}/{name}: a PUT (update) of this model would delete fields it "
                f"does not know: {shown}; write with patch() or apply(), which leave them "
                "alone, or regenerate the model",
                dropped,
            )
        if not self.codec.resource_version_of(obj):
            live_rv = self.codec.decode(live, "the live object")
            rv = self.codec.resource_version_of(live_rv)
            obj = self.codec.with_resource_version(obj, rv)
        return build(obj)

    def patch_call(
        self,
        name: str,
        patch: Any,
        patch_type: PatchType,
        namespace: str | None,
        subresource: str | None,
        field_manager: str | None,
        force: bool | None,
        dry_run: bool,
        timeout: float | None = None,
    ) -> Call:
        """A dict, bytes or an object of this client (encoded by its codec)."""
        params, content_type = patch_params(patch_type, field_manager, force, dry_run)
        if isinstance(patch, bytes):
            body = patch
        elif isinstance(patch, (dict, list)):
            body = encode_json(patch)
        else:
            body = self.codec.encode(patch)
        path = self.object_path(name, self._ns(namespace), subresource)
        return Call("PATCH", path, params, body, content_type, self.codec.accept, timeout)

    def apply_call(
        self,
        obj: T,
        field_manager: str,
        force: bool,
        namespace: str | None,
        subresource: str | None,
    ) -> Call:
        return self.patch_call(
            self.codec.name_of(obj),
            obj,
            "apply",
            self._ns(namespace, obj),
            subresource,
            field_manager,
            force,
            False,
        )

    def delete_call(
        self,
        name: str,
        namespace: str | None,
        propagation_policy: PropagationPolicy | None,
        preconditions: dict[str, str] | None,
        grace_period_seconds: int | None,
        dry_run: bool,
    ) -> Call:
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions:
            body["preconditions"] = preconditions
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            body["dryRun"] = ["All"]
        return Call("DELETE", self.object_path(name, self._ns(namespace)), body=encode_json(body))

    def delete_collection_call(self, namespace: str | None, label_selector: str | None) -> Call:
        params = {"labelSelector": label_selector} if label_selector else None
        return Call("DELETE", self.collection_path(self._ns(namespace)), params)
