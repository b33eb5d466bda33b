"""The base of every top-level kind: apiVersion, kind and how it is served.

A generated model looks like::

    class Network(Resource, kw_only=True):
        API_VERSION: ClassVar[str] = "samplecrd.k8s.io/v1"
        KIND: ClassVar[str] = "Network"
        PLURAL: ClassVar[str] = "networks"
        NAMESPACED: ClassVar[bool] = True

        spec: NetworkSpec
        status: NetworkStatus | None = None

    net = Network(metadata=ObjectMeta(name="n1"), spec=NetworkSpec(cidr=..., gateway=...))
    net.api_version, net.kind          # ("samplecrd.k8s.io/v1", "Network")

The ClassVars tell the client which URL serves the kind; the ``api_version``
and ``kind`` fields are filled from them when the wire left them out (the
server omits them on LIST items), so every object says what it is.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import msgspec

from kubeloop.typed._meta import Model, ObjectMeta

__all__ = [
    "Resource",
    "ResourceT",
    "decode",
    "decoder_for",
    "encode",
    "write_view",
]


class Resource(Model, kw_only=True):
    """A top-level kind. Subclasses set the four ClassVars."""

    API_VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = True

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)

    def __post_init__(self) -> None:
        # Missing (LIST items) or equal: either way use the class's own
        # string, so 50,000 cached objects share two strings, not 100,000.
        if not self.api_version or self.api_version == self.API_VERSION:
            self.api_version = self.API_VERSION
        if not self.kind or self.kind == self.KIND:
            self.kind = self.KIND


ResourceT = TypeVar("ResourceT", bound=Resource)

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder_for(model: Any) -> msgspec.json.Decoder[Any]:
    """A cached JSON decoder for ``model`` (a type msgspec understands)."""
    dec = _decoders.get(model)
    if dec is None:
        # Benign race: two threads may both build one; either is right.
        dec = _decoders[model] = msgspec.json.Decoder(model)
    return dec


def decode(data: bytes, model: type[ResourceT]) -> ResourceT:
    """One object, straight from JSON bytes into ``model``; unknown fields
    are ignored. Raises ``msgspec.ValidationError`` on a type mismatch."""
    obj: ResourceT = decoder_for(model).decode(data)
    return obj


def encode(obj: Any) -> bytes:
    """JSON bytes of a model; unset optional fields are left out."""
    return _encoder.encode(obj)


def write_view(obj: ResourceT) -> ResourceT:
    """``obj`` as it should be written: without ``metadata.managedFields``
    (the server's bookkeeping, never the writer's to send back). A shallow
    copy when there is something to drop, else ``obj`` itself."""
    if obj.metadata.managed_fields is None:
        return obj
    meta = msgspec.structs.replace(obj.metadata, managed_fields=None)
    return msgspec.structs.replace(obj, metadata=meta)
