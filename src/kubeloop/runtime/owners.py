"""Owner references: who controls an object (apimachinery's
``metav1.GetControllerOf``, controller-runtime's ``SetControllerReference``).

::

    ref = new_controller_ref(foo, api_version="samplecontroller.k8s.io/v1alpha1", kind="Foo")
    deployment = {"metadata": {"name": "web", "ownerReferences": [ref]}, ...}
    set_controller_reference(foo, deployment)        # the same, in place
    controller_of(deployment)                        # OwnerRef(kind="Foo", name=..., ...)
    is_controlled_by(deployment, foo)                # True

An object has at most one *controller* (the ``ownerReference`` with
``controller: true``): it is the one whose changes ``owns()`` maps the
object back to, and the garbage collector deletes the object with it
(``blockOwnerDeletion`` makes a foreground delete of the owner wait).
Objects may be dicts or typed models; a dict read from a LIST has no
``apiVersion``/``kind`` of its own, so name them when the owner is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.cache import get_name, get_uid
from kubeloop.cache.accessor import get_metadata
from kubeloop.errors import KubeloopError
from kubeloop.runtime.kinds import group_of
from kubeloop.typed import OwnerReference

__all__ = [
    "AlreadyOwnedError",
    "OwnerRef",
    "controller_of",
    "is_controlled_by",
    "new_controller_ref",
    "owner_references",
    "set_controller_reference",
]


class AlreadyOwnedError(KubeloopError):
    """The object already has another controller; two controllers fighting
    over one object would undo each other's writes."""


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """One ``metadata.ownerReferences[]`` entry, whatever the object's shape."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": self.controller,
            "blockOwnerDeletion": self.block_owner_deletion,
        }


def _ref(entry: Any) -> OwnerRef:
    if isinstance(entry, dict):
        return OwnerRef(
            str(entry.get("apiVersion", "")),
            str(entry.get("kind", "")),
            str(entry.get("name", "")),
            str(entry.get("uid", "")),
            bool(entry.get("controller")),
            bool(entry.get("blockOwnerDeletion")),
        )
    return OwnerRef(
        entry.api_version,
        entry.kind,
        entry.name,
        entry.uid,
        bool(entry.controller),
        bool(entry.block_owner_deletion),
    )


def owner_references(obj: Any) -> list[OwnerRef]:
    """Every owner reference of ``obj`` (a dict or a typed model)."""
    md = get_metadata(obj)
    refs = md.get("ownerReferences") if isinstance(md, dict) else md.owner_references
    return [_ref(entry) for entry in refs or ()]


def controller_of(obj: Any) -> OwnerRef | None:
    """The reference with ``controller: true``, if any."""
    return next((ref for ref in owner_references(obj) if ref.controller), None)


def is_controlled_by(obj: Any, owner: Any) -> bool:
    """Whether ``owner`` is ``obj``'s controller (compared by uid, as apimachinery does)."""
    ref = controller_of(obj)
    return ref is not None and bool(ref.uid) and ref.uid == get_uid(owner)


def _type_of(owner: Any, api_version: str | None, kind: str | None) -> tuple[str, str]:
    if isinstance(owner, dict):
        api_version = api_version or owner.get("apiVersion")
        kind = kind or owner.get("kind")
    else:
        api_version = api_version or getattr(owner, "api_version", "")
        kind = kind or getattr(owner, "kind", "")
    if not api_version or not kind:
        raise ValueError(
            f"owner {get_name(owner)!r} has no apiVersion/kind (an item of a LIST): "
            "pass api_version= and kind="
        )
    return api_version, kind


def new_controller_ref(
    owner: Any, *, api_version: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """An ownerReference naming ``owner`` as controller, with
    ``blockOwnerDeletion`` (metav1.NewControllerRef)."""
    api_version, kind = _type_of(owner, api_version, kind)
    if not get_uid(owner):
        raise ValueError(f"owner {get_name(owner)!r} has no uid: read it from the API first")
    return OwnerRef(api_version, kind, get_name(owner), get_uid(owner), True, True).to_dict()


def set_controller_reference(
    owner: Any, obj: Any, *, api_version: str | None = None, kind: str | None = None
) -> None:
    """Make ``owner`` the controller of ``obj`` (in place).

    A reference to the same owner (same group, kind and name) is replaced;
    a different controller raises :class:`AlreadyOwnedError`.
    """
    ref = new_controller_ref(owner, api_version=api_version, kind=kind)
    new = _ref(ref)
    current = controller_of(obj)
    if current is not None and _key(current) != _key(new):
        raise AlreadyOwnedError(
            f"{get_name(obj)!r} is already controlled by {current.kind} {current.name!r}"
        )
    md = get_metadata(obj)
    if isinstance(md, dict):
        # Other references stay as the server wrote them, and where.
        md["ownerReferences"] = _put(list(md.get("ownerReferences") or ()), ref, _key(new))
        return
    model = OwnerReference(
        api_version=new.api_version,
        kind=new.kind,
        name=new.name,
        uid=new.uid,
        controller=True,
        block_owner_deletion=True,
    )
    md.owner_references = _put(list(md.owner_references or ()), model, _key(new))


def _put(entries: list[Any], entry: Any, key: tuple[str, str, str]) -> list[Any]:
    """``entries`` with the one for ``key`` replaced by ``entry`` (appended if none)."""
    for i, existing in enumerate(entries):
        if _key(_ref(existing)) == key:
            entries[i] = entry
            return entries
    return [*entries, entry]


def _key(ref: OwnerRef) -> tuple[str, str, str]:
    return ref.group, ref.kind, ref.name
