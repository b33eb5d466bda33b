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
  (paged), watch, create, update, patch (merge, JSON, strategic, apply),
  delete and the status subresource, with plain dicts in and out.
- :class:`TypedResourceClient` (from ``client.resource(Model, ...)``) does
  the same with typed models (:mod:`kubeloop.typed`) decoded straight from
  the response bytes.
"""

from typing import TYPE_CHECKING

from kubeloop._lazy import lazy_exports

if TYPE_CHECKING:
    from kubeloop.client._client import APIResource, Client
    from kubeloop.client._config import Config, ExecConfig, TokenSource
    from kubeloop.client._loader import load_config, load_incluster_config, load_kubeconfig
    from kubeloop.client._metadata import (
        METADATA_ACCEPT,
        METADATA_LIST_ACCEPT,
        MetadataClient,
        MetadataWatch,
    )
    from kubeloop.client._pages import PATCH_CONTENT_TYPES, group_version_path
    from kubeloop.client._resource import ResourceClient
    from kubeloop.client._typed import TypedResourceClient
    from kubeloop.client._watch import Watch
    from kubeloop.client.types import EventType, ListOptions, ListPage, WatchEvent, WatchStream

__all__ = [
    "METADATA_ACCEPT",
    "METADATA_LIST_ACCEPT",
    "PATCH_CONTENT_TYPES",
    "APIResource",
    "Client",
    "Config",
    "EventType",
    "ExecConfig",
    "ListOptions",
    "ListPage",
    "MetadataClient",
    "MetadataWatch",
    "ResourceClient",
    "TokenSource",
    "TypedResourceClient",
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
        "kubeloop.client._client": "APIResource Client",
        "kubeloop.client._config": "Config ExecConfig TokenSource",
        "kubeloop.client._loader": "load_config load_incluster_config load_kubeconfig",
        "kubeloop.client._metadata": (
            "METADATA_ACCEPT METADATA_LIST_ACCEPT MetadataClient MetadataWatch"
        ),
        "kubeloop.client._pages": "PATCH_CONTENT_TYPES group_version_path",
        "kubeloop.client._resource": "ResourceClient",
        "kubeloop.client._typed": "TypedResourceClient",
        "kubeloop.client._watch": "Watch",
        "kubeloop.client.types": "EventType ListOptions ListPage WatchEvent WatchStream",
    },
)
