"""The object metadata every Kubernetes kind shares (apimachinery's meta/v1).

Attribute names are snake_case, wire names camelCase (``rename="camel"``), so
:mod:`kubeloop.cache.accessor` reads ``metadata.name``,
``metadata.resource_version``, ``metadata.deletion_timestamp`` ... of a model
exactly as it reads a dict's.

Timestamps stay the RFC 3339 strings the server sent: a round trip through a
model then writes back byte-identical values.
"""

from __future__ import annotations

import sys

import msgspec

__all__ = [
    "Condition",
    "ListMeta",
    "ManagedFieldsEntry",
    "Model",
    "ObjectMeta",
    "OwnerReference",
]


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel", gc=False):
    """Base of every typed model: keyword-only, camelCase on the wire, and
    unset (default) fields left out when encoding.

    Why these options: ``omit_defaults`` turns "the model did not set it"
    into "the write does not mention it", so a patch never clears a field
    the model left alone; ``gc=False`` keeps the cyclic garbage collector
    from walking every cached object (decoded JSON has no cycles; do not
    build one out of models). Subclasses must repeat ``kw_only=True``
    (msgspec does not inherit it).
    """


class OwnerReference(Model, kw_only=True):
    """An object this one depends on (``metadata.ownerReferences[]``)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(Model, kw_only=True):
    """One server-side-apply manager's record (``metadata.managedFields[]``).

    ``fields_v1`` is kept raw, undecoded (empty when absent): controllers
    rarely read it and it is the bulk of the entry. A raw value is a view into the response body it
    came from, which stays in memory while the entry lives; informers strip
    ``managedFields`` before caching (the factory's default), which lets the
    body go.
    """

    manager: str = ""
    operation: str = ""
    api_version: str = ""
    time: str | None = None
    fields_type: str = ""
    fields_v1: msgspec.Raw = msgspec.Raw()
    subresource: str = ""


class ObjectMeta(Model, kw_only=True):
    """``metadata`` of a persisted object. Maps and lists are None when absent
    (not empty), which costs no memory per cached object."""

    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None

    def __post_init__(self) -> None:
        # A cache holds thousands of objects of a handful of namespaces.
        if self.namespace:
            self.namespace = sys.intern(self.namespace)


class ListMeta(Model, kw_only=True):
    """``metadata`` of a list."""

    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")
    remaining_item_count: int | None = None


class Condition(Model, kw_only=True):
    """A ``metav1.Condition``, the standard shape of ``status.conditions[]``."""

    type: str
    status: str
    observed_generation: int | None = None
    last_transition_time: str = ""
    reason: str = ""
    message: str = ""
