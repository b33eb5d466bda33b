"""Typed models: msgspec Structs decoded straight from the wire.

Example::

    from network_controller.models import Network      # made by `kubeloop gen`
    nets = client.resource(Network, namespace="default")
    net = nets.get("n1")                                 # a Network, not a dict
    net.status and net.status.network_id

A model declares only the fields its schema has; fields the server sends
that the model does not know are skipped when decoding and never deleted
by a write: ``patch`` and ``apply`` send what the model sets, and a PUT
(``update``) that would drop such fields is refused with
:class:`~kubeloop.errors.FieldsWouldBeDropped` before it is sent (see
:mod:`kubeloop.client._codecs` for why, measured). Models are made by ``kubeloop gen``
from CRD manifests; this package holds what they share.
"""

from kubeloop.typed._meta import (
    Condition,
    ListMeta,
    ManagedFieldsEntry,
    Model,
    ObjectMeta,
    OwnerReference,
)
from kubeloop.typed._metadata import (
    PARTIAL_KIND,
    PartialObjectMetadata,
    PartialObjectMetadataList,
    check_partial,
    decode_partial,
    decode_partial_list,
    is_likely_object_metadata,
)
from kubeloop.typed._resource import (
    Resource,
    ResourceT,
    decode,
    decoder_for,
    encode,
    write_view,
)

#: ``x-kubernetes-int-or-string`` (e.g. a port number or name).
IntOrString = int | str

__all__ = [
    "PARTIAL_KIND",
    "Condition",
    "IntOrString",
    "ListMeta",
    "ManagedFieldsEntry",
    "Model",
    "ObjectMeta",
    "OwnerReference",
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "Resource",
    "ResourceT",
    "check_partial",
    "decode",
    "decode_partial",
    "decode_partial_list",
    "decoder_for",
    "encode",
    "is_likely_object_metadata",
    "write_view",
]
