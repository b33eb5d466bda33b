"""Status conditions with apimachinery's rules (``meta.SetStatusCondition``),
and status writes that happen only when the status changed.

::

    status = copy.deepcopy(foo.get("status") or {})
    conditions = status.setdefault("conditions", [])
    set_condition(conditions, "Ready", "True", "Synced", "Deployment is up to date",
                  observed_generation=get_generation(foo))
    status["observedGeneration"] = get_generation(foo)
    update_status(foos, foo, status)          # no write when nothing changed

``lastTransitionTime`` moves only when the condition's ``status`` changes
(a new reason or message is not a transition), so it says how long the
object has been Ready or not. ``observedGeneration`` says which spec the
condition describes: a reader compares it with ``metadata.generation`` to
tell a stale Ready from a current one.

Why writes only on change: a status write is an update event, which the
controller receives; writing an unchanged status on every reconcile would
reconcile for ever, one write per loop (the default filter drops nothing
whose resourceVersion changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from kubeloop.cache import get_name, get_namespace
from kubeloop.typed import Condition

__all__ = [
    "StatusWriter",
    "find_condition",
    "is_condition_true",
    "now_rfc3339",
    "remove_condition",
    "set_condition",
    "status_differs",
    "update_status",
]

# wire name -> attribute name of kubeloop.typed.Condition
_FIELDS = {
    "status": "status",
    "reason": "reason",
    "message": "message",
    "observedGeneration": "observed_generation",
    "lastTransitionTime": "last_transition_time",
}


def now_rfc3339() -> str:
    """The time as metav1.Time writes it (seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _get(condition: Any, wire: str) -> Any:
    if isinstance(condition, Mapping):
        return condition.get(wire)
    return getattr(condition, _FIELDS.get(wire, wire), None)


def _set(condition: Any, wire: str, value: Any) -> None:
    if isinstance(condition, dict):
        condition[wire] = value
    else:
        setattr(condition, _FIELDS[wire], value)


def find_condition(conditions: list[Any] | None, condition_type: str) -> Any | None:
    """The condition of that type (a dict or a :class:`kubeloop.typed.Condition`)."""
    return next((c for c in conditions or () if _get(c, "type") == condition_type), None)


def is_condition_true(conditions: list[Any] | None, condition_type: str) -> bool:
    found = find_condition(conditions, condition_type)
    return found is not None and _get(found, "status") == "True"


def set_condition(
    conditions: list[Any],
    condition_type: str,
    status: str,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: str | None = None,
) -> bool:
    """Set a condition in ``conditions`` (in place); True if anything changed.

    A new condition, or a change of ``status``, sets ``lastTransitionTime``
    to ``now``; other changes keep it. Elements are dicts, or typed
    :class:`~kubeloop.typed.Condition` models when the list holds those.
    """
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    when = now or now_rfc3339()
    existing = find_condition(conditions, condition_type)
    if existing is None:
        fields: dict[str, Any] = {
            "type": condition_type,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": when,
        }
        if observed_generation is not None:
            fields["observedGeneration"] = observed_generation
        typed = bool(conditions) and isinstance(conditions[0], Condition)
        conditions.append(msgspec.convert(fields, Condition) if typed else fields)
        return True
    changed = False
    if _get(existing, "status") != status:
        _set(existing, "status", status)
        _set(existing, "lastTransitionTime", when)
        changed = True
    wanted: dict[str, Any] = {"reason": reason, "message": message}
    if observed_generation is not None:
        wanted["observedGeneration"] = observed_generation
    for wire, value in wanted.items():
        if _get(existing, wire) != value:
            _set(existing, wire, value)
            changed = True
    return changed


def remove_condition(conditions: list[Any], condition_type: str) -> bool:
    """Remove the condition of that type; True if there was one."""
    found = find_condition(conditions, condition_type)
    if found is None:
        return False
    conditions.remove(found)
    return True


def _builtins(value: Any) -> Any:
    return (
        value
        if isinstance(value, dict | list | str | int | float | bool | None)
        else (msgspec.to_builtins(value))
    )


def status_differs(desired: Any, current: Any) -> bool:
    """Whether writing ``desired`` as a merge patch would change ``current``:
    some field it sets has another value (fields it leaves out are kept by
    a merge patch, so they do not count)."""
    desired, current = _builtins(desired), _builtins(current)
    if isinstance(desired, dict) and isinstance(current, dict):
        return any(status_differs(v, current.get(k)) for k, v in desired.items())
    return bool(desired != current)


class StatusWriter(Protocol):
    def patch_status(self, name: str, patch: Any, *, namespace: str | None = None) -> Any: ...


def update_status(resources: StatusWriter, obj: Any, status: Any) -> bool:
    """Merge-patch ``status`` into the object's status subresource if it
    differs from the status ``obj`` has; True if it wrote."""
    current = obj.get("status") if isinstance(obj, dict) else getattr(obj, "status", None)
    if not status_differs(status, current or {}):
        return False
    resources.patch_status(
        get_name(obj), {"status": _builtins(status)}, namespace=get_namespace(obj) or None
    )
    return True
