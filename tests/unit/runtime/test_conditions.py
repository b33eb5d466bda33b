"""Conditions with apimachinery's lastTransitionTime rules; status writes
only on change."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.runtime import (
    find_condition,
    is_condition_true,
    remove_condition,
    set_condition,
    status_differs,
    update_status,
)
from kubeloop.typed import Condition

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def test_a_new_condition_gets_a_transition_time() -> None:
    conditions: list[Any] = []
    assert set_condition(conditions, "Ready", "False", "Creating", observed_generation=1, now=T0)
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "message": "",
            "lastTransitionTime": T0,
            "observedGeneration": 1,
        }
    ]


def test_only_a_status_change_moves_the_transition_time() -> None:
    conditions: list[Any] = []
    set_condition(conditions, "Ready", "False", "Creating", now=T0)
    assert set_condition(conditions, "Ready", "False", "Waiting", "replicas 0/1", now=T1)
    assert conditions[0]["lastTransitionTime"] == T0 and conditions[0]["reason"] == "Waiting"
    assert set_condition(conditions, "Ready", "True", "Available", now=T1)
    assert conditions[0]["lastTransitionTime"] == T1
    assert not set_condition(conditions, "Ready", "True", "Available", now="later")
    assert is_condition_true(conditions, "Ready")


def test_observed_generation_is_a_change() -> None:
    conditions: list[Any] = []
    set_condition(conditions, "Ready", "True", "Ok", observed_generation=1, now=T0)
    assert set_condition(conditions, "Ready", "True", "Ok", observed_generation=2, now=T1)
    assert conditions[0]["observedGeneration"] == 2
    assert conditions[0]["lastTransitionTime"] == T0


def test_typed_conditions() -> None:
    conditions: list[Any] = [Condition(type="Synced", status="True", last_transition_time=T0)]
    assert set_condition(conditions, "Ready", "Unknown", "Starting", now=T0)
    assert conditions[1] == Condition(
        type="Ready", status="Unknown", reason="Starting", last_transition_time=T0
    )
    assert set_condition(conditions, "Synced", "False", "Broken", now=T1)
    assert conditions[0].last_transition_time == T1
    assert find_condition(conditions, "Ready") is conditions[1]
    assert remove_condition(conditions, "Ready") and not remove_condition(conditions, "Ready")


def test_a_status_outside_true_false_unknown_is_refused() -> None:
    with pytest.raises(ValueError):
        set_condition([], "Ready", "yes", "Ok")


def test_status_differs_ignores_fields_a_merge_patch_would_keep() -> None:
    current = {"observedGeneration": 2, "conditions": [{"type": "Ready"}], "networkID": "n1"}
    assert not status_differs({"observedGeneration": 2}, current)
    assert status_differs({"observedGeneration": 3}, current)
    assert status_differs({"conditions": []}, current)
    assert not status_differs({}, {})


class StatusRecorder:
    def __init__(self) -> None:
        self.patches: list[tuple[str, Any, str | None]] = []

    def patch_status(self, name: str, patch: Any, *, namespace: str | None = None) -> Any:
        self.patches.append((name, patch, namespace))
        return patch


def test_update_status_writes_only_on_change() -> None:
    writer = StatusRecorder()
    obj = {"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Ready"}}
    assert not update_status(writer, obj, {"phase": "Ready"})
    assert update_status(writer, obj, {"phase": "Failed"})
    assert writer.patches == [("a", {"status": {"phase": "Failed"}}, "ns")]
