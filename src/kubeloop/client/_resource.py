"""A client for one resource (client-go's dynamic ``ResourceInterface``
and typed clients in one), generic over what its objects are.

``client.resource("v1", "configmaps")`` gives a ``ResourceClient[Object]``
(plain dicts); ``client.resource(Network)`` a ``ResourceClient[Network]``
(the typed model, decoded straight from the bytes); ``.metadata(kind)`` on
either a ``ResourceClient[PartialObjectMetadata]``. The verbs mean the same
in all three (see :mod:`kubeloop.client._codecs` for the codecs):

- ``update`` is a PUT conditioned on ``metadata.resourceVersion`` (a stale
  one fails with :class:`~kubeloop.errors.Conflict`). A model skips fields
  it does not know, so its PUT is checked against the live object first and
  refused with :class:`~kubeloop.errors.FieldsWouldBeDropped` if it would
  delete any (one GET more per typed update; why, in ``_codecs``);
- ``patch`` (merge, JSON, strategic, apply) and ``apply`` are the partial
  writes, which leave what they do not name alone;
- ``list`` returns one :class:`ListPage` of every item over all pages (with
  the first page's resourceVersion), ``pages`` iterates over the pages, and
  ``list_page`` is one LIST request.

Example::

    nets = client.resource(Network, namespace="default")  # ResourceClient[Network]
    net = nets.create(Network(metadata=ObjectMeta(name="n1"), spec=...))
    net.spec.gateway = "10.0.0.254"
    net = nets.update(net)                # Conflict if someone wrote in between
    with nets.watch(resource_version=net.metadata.resource_version) as w:
        for event in w:
            print(event.type, event.object.metadata.name)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from kubeloop.client._calls import Call, PropagationPolicy, ResourceCalls
from kubeloop.client._codec import decode_json
from kubeloop.client._codecs import Codec
from kubeloop.client._pages import PatchType, Requester, join_pages, list_pages, page_options
from kubeloop.client._watch import Watch
from kubeloop.client.types import DEFAULT_PAGE_SIZE, ListOptions, ListPage
from kubeloop.typed import PartialObjectMetadata

T = TypeVar("T")


class ResourceClient(ResourceCalls[T], Generic[T]):
    """Operations on one resource, optionally bound to one namespace, with
    objects ``T`` (see the module docstring). Built by ``client.resource``."""

    def __init__(
        self,
        client: Requester,
        codec: Codec[T],
        api_version: str,
        plural: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = True,
    ) -> None:
        super().__init__(
            codec,
            api_version,
            plural,
            namespace=namespace,
            namespaced=namespaced,
            default_namespace=client.config.namespace,
        )
        self.client = client

    def with_namespace(self, namespace: str | None) -> ResourceClient[T]:
        return ResourceClient(
            self.client,
            self.codec,
            self.api_version,
            self.plural,
            namespace=namespace,
            namespaced=self.namespaced,
        )

    def metadata(self, kind: str = "") -> ResourceClient[PartialObjectMetadata]:
        """The same resource read for its metadata only (client-go's
        ``metadata.Interface``): objects are
        :class:`~kubeloop.typed.PartialObjectMetadata` saying ``kind`` (a
        model's own by default) with this client's apiVersion."""
        return ResourceClient(
            self.client,
            self.metadata_codec(kind),
            self.api_version,
            self.plural,
            namespace=self.namespace,
            namespaced=self.namespaced,
        )

    def _send(self, call: Call) -> bytes:
        return self.client.request_bytes(
            call.method,
            call.path,
            params=call.params,
            body=call.body,
            content_type=call.content_type,
            timeout=call.timeout,
            accept=call.accept,
        )

    def _one(self, call: Call) -> T:
        return self.codec.decode(self._send(call), call.what)

    # -- reads ---------------------------------------------------------------
    def get(
        self,
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> T:
        """GET one object. ``timeout`` (seconds) bounds this request instead
        of the config's; leader election keeps a renewal within its deadline."""
        return self._one(self.get_call(name, namespace, subresource, timeout))

    def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage[T]:
        """One LIST request (one page when ``limit`` is set); keyword
        arguments are :class:`ListOptions` fields."""
        call = self.list_call(options or ListOptions(**kw))
        return self.codec.decode_list(self._send(call), f"LIST {call.path}")

    def pages(
        self,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> Iterator[ListPage[T]]:
        """The pages of a LIST, following continue tokens (see
        :func:`~kubeloop.client._pages.list_pages`)."""
        first = page_options(
            label_selector, field_selector, limit, resource_version, resource_version_match
        )
        return list_pages(self.list_page, first)

    def list(self, **kw: Any) -> ListPage[T]:
        """Every item over all pages, with the first page's resourceVersion
        (keyword arguments as :meth:`pages`)."""
        return join_pages(self.pages(**kw))

    def watch(self, options: ListOptions | None = None, **kw: Any) -> Watch[T]:
        """Open a watch; see :class:`Watch`. Keyword arguments are
        :class:`ListOptions` fields (``resource_version``,
        ``allow_watch_bookmarks``, ``timeout_seconds``, ``send_initial_events``...).
        """
        call = self.watch_call(options or ListOptions(**kw))
        assert call.params is not None
        return self.client.open_watch(
            call.path,
            call.params,
            self.codec.watch_model,
            accept=call.accept,
            convert=self.codec.event_converter(),
        )

    # -- writes --------------------------------------------------------------
    def create(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> T:
        return self._one(self.create_call(obj, namespace, dry_run, field_manager, timeout))

    def update(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> T:
        """PUT the object, conditioned on its metadata.resourceVersion (a
        stale one fails with :class:`Conflict`). A model's PUT is refused
        with :class:`FieldsWouldBeDropped` if it would delete fields."""

        def build(o: T) -> Call:
            return self.update_call(o, namespace, subresource, dry_run, field_manager, timeout)

        if not self.codec.lossless:
            live = self._send(self.get_call(self.codec.name_of(obj), self._ns(namespace, obj)))
            return self._one(self.checked_update(obj, live, subresource, build))
        return self._one(build(obj))

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
        timeout: float | None = None,
    ) -> T:
        """Patch with a merge, JSON, strategic-merge (built-in kinds only) or
        server-side apply patch, given as a dict, bytes or an object (encoded
        without a model's unset fields). Apply needs ``field_manager``;
        ``force=True`` takes ownership of conflicting fields."""
        return self._one(
            self.patch_call(
                name,
                patch,
                patch_type,
                namespace,
                subresource,
                field_manager,
                force,
                dry_run,
                timeout,
            )
        )

    def apply(
        self,
        obj: T,
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> T:
        """Server-side apply of ``obj`` (which names itself)."""
        return self._one(self.apply_call(obj, field_manager, force, namespace, subresource))

    def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: dict[str, str] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Any:
        """DELETE; returns the object (being finalised) or a Status, as a
        dict. ``preconditions`` may hold ``uid`` and/or ``resourceVersion``."""
        call = self.delete_call(
            name, namespace, propagation_policy, preconditions, grace_period_seconds, dry_run
        )
        return decode_json(self._send(call), call.what)

    def delete_collection(
        self, *, namespace: str | None = None, label_selector: str | None = None
    ) -> Any:
        call = self.delete_collection_call(namespace, label_selector)
        return decode_json(self._send(call), call.what)

    # -- status subresource --------------------------------------------------
    def get_status(self, name: str, *, namespace: str | None = None) -> T:
        return self.get(name, namespace=namespace, subresource="status")

    def update_status(
        self, obj: T, *, namespace: str | None = None, field_manager: str | None = None
    ) -> T:
        """PUT the object's status to the status subresource (as :meth:`update`)."""
        return self.update(
            obj, namespace=namespace, subresource="status", field_manager=field_manager
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
    ) -> T:
        return self.patch(
            name,
            patch,
            patch_type=patch_type,
            namespace=namespace,
            subresource="status",
            field_manager=field_manager,
            force=force,
        )
