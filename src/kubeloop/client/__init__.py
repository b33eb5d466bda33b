"""The API client: configuration, transport, REST and watch.

Example::

    from kubeloop.client import Client, load_config
    with Client(load_config()) as client:          # kubeconfig, else in-cluster
        nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace="default")
        for page in nets.list(limit=500):
            ...

- :func:`load_config` behaves like client-go's BuildConfigFromFlags.
- :class:`Client` shares one HTTP/2 connection between all requests and
  watches, throttles to ``config.qps``/``config.burst`` and honours
  Retry-After.
- :class:`ResourceClient` (from ``client.resource(...)``) does get, list
  (paged), watch, create, update (a PUT conditioned on resourceVersion),
  patch (merge, JSON, strategic, apply), delete and the status
  subresource. It is generic over its objects: ``ResourceClient[Object]``
  (plain dicts) from ``client.resource("v1", "configmaps")``,
  ``ResourceClient[Network]`` (a typed model, :mod:`kubeloop.typed`,
  decoded straight from the bytes) from ``client.resource(Network)``, and
  ``ResourceClient[PartialObjectMetadata]`` from ``.metadata(kind)``.
- :class:`AsyncClient` is its async twin (aiohttp, ``pip install
  kubeloop[async]``): the same resources and verbs, awaited
  (:class:`AsyncResourceClient`), watches as async iterators
  (:class:`AsyncWatch`), the same config, credentials, throttle and retry
  rules.
"""

from typing import TYPE_CHECKING

from kubeloop._lazy import lazy_exports

if TYPE_CHECKING:
    from kubeloop.client._async_client import AsyncClient
    from kubeloop.client._async_resource import AsyncResourceClient
    from kubeloop.client._async_watch import AsyncWatch
    from kubeloop.client._client import Client
    from kubeloop.client._codecs import (
        DICT_CODEC,
        METADATA_ACCEPT,
        METADATA_LIST_ACCEPT,
        Codec,
        DictCodec,
        MetadataCodec,
        ModelCodec,
    )
    from kubeloop.client._config import Config, ExecConfig, TokenSource
    from kubeloop.client._discovery import APIResource
    from kubeloop.client._loader import load_config, load_incluster_config, load_kubeconfig
    from kubeloop.client._pages import PATCH_CONTENT_TYPES, group_version_path
    from kubeloop.client._resource import ResourceClient
    from kubeloop.client._watch import Watch
    from kubeloop.client.types import (
        EventType,
        ListOptions,
        ListPage,
        Object,
        WatchEvent,
        WatchStream,
    )

__all__ = [
    "DICT_CODEC",
    "METADATA_ACCEPT",
    "METADATA_LIST_ACCEPT",
    "PATCH_CONTENT_TYPES",
    "APIResource",
    "AsyncClient",
    "AsyncResourceClient",
    "AsyncWatch",
    "Client",
    "Codec",
    "Config",
    "DictCodec",
    "EventType",
    "ExecConfig",
    "ListOptions",
    "ListPage",
    "MetadataCodec",
    "ModelCodec",
    "Object",
    "ResourceClient",
    "TokenSource",
    "Watch",
    "WatchEvent",
    "WatchStream",
    "group_version_path",
    "load_config",
    "load_incluster_config",
    "load_kubeconfig",
]

# The names above are imported when first used (see kubeloop._lazy).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "kubeloop.client._async_client": "AsyncClient",
        "kubeloop.client._async_resource": "AsyncResourceClient",
        "kubeloop.client._async_watch": "AsyncWatch",
        "kubeloop.client._client": "Client",
        "kubeloop.client._codecs": (
            "DICT_CODEC METADATA_ACCEPT METADATA_LIST_ACCEPT"
            " Codec DictCodec MetadataCodec ModelCodec"
        ),
        "kubeloop.client._config": "Config ExecConfig TokenSource",
        "kubeloop.client._discovery": "APIResource",
        "kubeloop.client._loader": "load_config load_incluster_config load_kubeconfig",
        "kubeloop.client._pages": "PATCH_CONTENT_TYPES group_version_path",
        "kubeloop.client._resource": "ResourceClient",
        "kubeloop.client._watch": "Watch",
        "kubeloop.client.types": "EventType ListOptions ListPage Object WatchEvent WatchStream",
    },
)
