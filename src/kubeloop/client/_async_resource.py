"""The async twin of :class:`~kubeloop.client.ResourceClient`: the same
verbs with the same meaning (the requests are built by the same
:class:`~kubeloop.client._calls.ResourceCalls`), awaited.

::

    async with AsyncClient(load_config()) as client:
        nets = client.resource(Network, namespace="default")  # AsyncResourceClient[Network]
        net = await nets.get("n1")
        async for page in nets.pages(limit=500):
            ...
        async with await nets.watch(resource_version=net.metadata.resource_version) as w:
            async for event in w:
                ...

A dict resource named without ``namespaced=`` (or by its kind) is looked up
in discovery on its first call, not when it is made, so making one never
blocks the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, TypeVar

from kubeloop.client._async_watch import AsyncWatch
from kubeloop.client._calls import Call, PropagationPolicy, ResourceCalls
from kubeloop.client._codec import decode_json
from kubeloop.client._codecs import Codec
from kubeloop.client._config import Config
from kubeloop.client._discovery import APIResource
from kubeloop.client._pages import PatchType, add_page, next_page_options, page_options
from kubeloop.client.types import DEFAULT_PAGE_SIZE, ListOptions, ListPage
from kubeloop.typed import PartialObjectMetadata

T = TypeVar("T")


class AsyncRequester(Protocol):
    """What an async resource client needs of the
    :class:`~kubeloop.client.AsyncClient` under it (no import of it)."""

    @property
    def config(self) -> Config: ...

    async def send_call(self, call: Call) -> bytes: ...

    async def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: type[Any] | None = None,
        *,
        accept: str | None = None,
        convert: Any = None,
    ) -> AsyncWatch[Any]: ...

    async def resource_for(self, api_version: str, kind_or_plural: str) -> APIResource: ...


class AsyncResourceClient(ResourceCalls[T], Generic[T]):
    """Operations on one resource, awaited; see :class:`ResourceClient`."""

    def __init__(
        self,
        client: AsyncRequester,
        codec: Codec[T],
        api_version: str,
        plural: str,
        *,
        namespace: str | None = None,
        namespaced: bool | None = True,
        discover: bool = False,
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
        self._discover = discover

    def with_namespace(self, namespace: str | None) -> AsyncResourceClient[T]:
        return AsyncResourceClient(
            self.client,
            self.codec,
            self.api_version,
            self.plural,
            namespace=namespace,
            namespaced=self.namespaced,
            discover=self._discover,
        )

    def metadata(self, kind: str = "") -> AsyncResourceClient[PartialObjectMetadata]:
        """The same resource read for its metadata only (see
        :meth:`ResourceClient.metadata`)."""
        return AsyncResourceClient(
            self.client,
            self.metadata_codec(kind),
            self.api_version,
            self.plural,
            namespace=self.namespace,
            namespaced=self.namespaced,
            discover=self._discover,
        )

    async def _ready(self) -> None:
        """Look the resource up in discovery once, if it was made unknown."""
        if self._discover:
            found = await self.client.resource_for(self.api_version, self.plural)
            self.plural, self.namespaced = found.name, found.namespaced
            self._discover = False

    async def _send(self, call: Call) -> bytes:
        return await self.client.send_call(call)

    async def _one(self, call: Call) -> T:
        return self.codec.decode(await self._send(call), call.what)

    # -- reads ---------------------------------------------------------------
    async def get(
        self,
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> T:
        await self._ready()
        return await self._one(self.get_call(name, namespace, subresource, timeout))

    async def list_page(self, options: ListOptions | None = None, **kw: Any) -> ListPage[T]:
        await self._ready()
        call = self.list_call(options or ListOptions(**kw))
        return self.codec.decode_list(await self._send(call), f"LIST {call.path}")

    async def pages(
        self,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = DEFAULT_PAGE_SIZE,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> AsyncIterator[ListPage[T]]:
        """The pages of a LIST, following continue tokens."""
        first = page_options(
            label_selector, field_selector, limit, resource_version, resource_version_match
        )
        options: ListOptions | None = first
        while options is not None:
            page = await self.list_page(options)
            yield page
            options = next_page_options(first, page)

    async def list(self, **kw: Any) -> ListPage[T]:
        """Every item over all pages (keyword arguments as :meth:`pages`)."""
        joined: ListPage[T] = ListPage([], "")
        async for page in self.pages(**kw):
            add_page(joined, page)
        return joined

    async def watch(self, options: ListOptions | None = None, **kw: Any) -> AsyncWatch[T]:
        """Open a watch: an async iterator of events (see :class:`AsyncWatch`)."""
        await self._ready()
        call = self.watch_call(options or ListOptions(**kw))
        assert call.params is not None
        return await self.client.open_watch(
            call.path,
            call.params,
            self.codec.watch_model,
            accept=call.accept,
            convert=self.codec.event_converter(),
        )

    # -- writes --------------------------------------------------------------
    async def create(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> T:
        await self._ready()
        return await self._one(self.create_call(obj, namespace, dry_run, field_manager, timeout))

    async def update(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> T:
        """As :meth:`ResourceClient.update`: a PUT conditioned on the
        resourceVersion, refused for a model that would drop fields."""
        await self._ready()

        def build(o: T) -> Call:
            return self.update_call(o, namespace, subresource, dry_run, field_manager, timeout)

        if not self.codec.lossless:
            get = self.get_call(self.codec.name_of(obj), self._ns(namespace, obj))
            live = await self._send(get)
            return await self._one(self.checked_update(obj, live, subresource, build))
        return await self._one(build(obj))

    async def patch(
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
        await self._ready()
        call = self.patch_call(
            name, patch, patch_type, namespace, subresource, field_manager, force, dry_run, timeout
        )
        return await self._one(call)

    async def apply(
        self,
        obj: T,
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> T:
        await self._ready()
        return await self._one(self.apply_call(obj, field_manager, force, namespace, subresource))

    async def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: dict[str, str] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Any:
        await self._ready()
        call = self.delete_call(
            name, namespace, propagation_policy, preconditions, grace_period_seconds, dry_run
        )
        return decode_json(await self._send(call), call.what)

    async def delete_collection(
        self, *, namespace: str | None = None, label_selector: str | None = None
    ) -> Any:
        await self._ready()
        call = self.delete_collection_call(namespace, label_selector)
        return decode_json(await self._send(call), call.what)

    # -- status subresource --------------------------------------------------
    async def get_status(self, name: str, *, namespace: str | None = None) -> T:
        return await self.get(name, namespace=namespace, subresource="status")

    async def update_status(
        self, obj: T, *, namespace: str | None = None, field_manager: str | None = None
    ) -> T:
        return await self.update(
            obj, namespace=namespace, subresource="status", field_manager=field_manager
        )

    async def patch_status(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> T:
        return await self.patch(
            name,
            patch,
            patch_type=patch_type,
            namespace=namespace,
            subresource="status",
            field_manager=field_manager,
            force=force,
        )
