"""Create or update an owned object (controller-runtime's
``controllerutil.CreateOrUpdate``), or server-side apply it.

::

    def mutate(deployment: dict) -> None:
        deployment["spec"] = desired_spec(foo)
        set_controller_reference(foo, deployment, api_version=FOO_API, kind="Foo")

    skeleton = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"}}
    deployment, result = create_or_update(deployments, skeleton, mutate)   # "created" ...

``create_or_update`` reads the object (from ``current`` when given, e.g. the
cache's copy, else from the API), applies ``mutate`` to a copy, and writes
only when the copy differs: ``created``, ``updated`` or ``unchanged``. The
update carries the resourceVersion read, so a concurrent change makes it
fail with 409 Conflict and the reconcile is retried with fresh state,
rather than one writer silently undoing the other.

With ``field_manager=`` and ``server_side_apply=True`` the mutated skeleton
is applied instead (``force`` takes over fields another manager owns, as a
controller that is the source of truth for them should): the server
merges, and only the fields the skeleton sets are this manager's. Prefer
it when other controllers or users write other fields of the same object.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from typing import Any, Protocol

from kubeloop.cache import get_name, get_namespace, get_resource_version
from kubeloop.errors import is_not_found

__all__ = ["OperationResult", "WriterLike", "create_or_update"]

_UNSET: Any = object()


class OperationResult(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class WriterLike(Protocol):
    """The part of a dict or typed resource client these helpers use."""

    def get(self, name: str, *, namespace: str | None = None) -> Any: ...

    def create(self, obj: Any, *, field_manager: str | None = None) -> Any: ...

    def update(self, obj: Any, *, field_manager: str | None = None) -> Any: ...

    def apply(self, obj: Any, *, field_manager: str, force: bool = False) -> Any: ...


def create_or_update(
    resources: WriterLike,
    obj: Any,
    mutate: Callable[[Any], None] | None = None,
    *,
    current: Any = _UNSET,
    field_manager: str | None = None,
    server_side_apply: bool = False,
    force: bool = True,
) -> tuple[Any, OperationResult]:
    """Make the object ``obj`` names look like ``mutate`` says; returns the
    object as the server has it and what was done (see the module docs).

    ``obj`` names the object (``metadata.name``, ``metadata.namespace``) and
    is the starting point of a create; it is not modified. ``current``: the
    existing object as already read (``None``: known not to exist).
    """
    name, namespace = get_name(obj), get_namespace(obj) or None

    def mutated(base: Any) -> Any:
        result = copy.deepcopy(base)
        if mutate is not None:
            mutate(result)
        if (get_name(result), get_namespace(result) or None) != (name, namespace):
            raise ValueError("mutate may not change the object's name or namespace")
        return result

    if current is _UNSET:
        try:
            current = resources.get(name, namespace=namespace)
        except Exception as err:
            if not is_not_found(err):
                raise
            current = None
    if server_side_apply:
        if not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        applied = resources.apply(mutated(obj), field_manager=field_manager, force=force)
        if current is None:
            return applied, OperationResult.CREATED
        same = get_resource_version(applied) == get_resource_version(current)
        return applied, OperationResult.UNCHANGED if same else OperationResult.UPDATED
    if current is None:
        return resources.create(mutated(obj), field_manager=field_manager), OperationResult.CREATED
    desired = mutated(current)
    if desired == current:
        return current, OperationResult.UNCHANGED
    return resources.update(desired, field_manager=field_manager), OperationResult.UPDATED
