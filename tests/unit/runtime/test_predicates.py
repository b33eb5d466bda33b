"""Event filters: what each built-in passes, and how plain functions and
combinations behave."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.runtime import (
    DEFAULT_FILTERS,
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    get_generation,
    labels_changed,
    resource_version_changed,
)
from kubeloop.runtime.predicates import as_filter, normalize_filters
from kubeloop.typed import ObjectMeta, Resource


def obj(rv: str = "1", generation: int = 1, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "a", "resourceVersion": rv, "generation": generation, **meta}}


class Thing(Resource, kw_only=True):
    API_VERSION = "example.com/v1"
    KIND = "Thing"
    PLURAL = "things"


def test_resource_version_changed_drops_resyncs_only() -> None:
    assert resource_version_changed.update(obj("1"), obj("2"))
    assert not resource_version_changed.update(obj("1"), obj("1"))
    assert resource_version_changed.create(obj()) and resource_version_changed.delete(obj())
    assert (resource_version_changed,) == DEFAULT_FILTERS


def test_generation_changed_ignores_metadata_and_status_writes() -> None:
    assert not generation_changed.update(obj("1", 1), obj("2", 1, labels={"x": "y"}))
    assert generation_changed.update(obj("1", 1), obj("2", 2))
    typed_old = Thing(metadata=ObjectMeta(name="a", generation=3))
    typed_new = Thing(metadata=ObjectMeta(name="a", generation=4))
    assert generation_changed.update(typed_old, typed_new)
    assert get_generation({"metadata": {}}) == 0


def test_labels_and_annotations_changed() -> None:
    assert labels_changed.update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not labels_changed.update(obj(annotations={"a": "1"}), obj(annotations={"a": "2"}))
    assert annotations_changed.update(obj(annotations={"a": "1"}), obj(annotations={"a": "2"}))
    assert not annotations_changed.update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))


def test_a_plain_function_filters_updates_and_lets_adds_and_deletes_pass() -> None:
    def data_changed(old: Any, new: Any) -> bool:
        return bool(old.get("data") != new.get("data"))

    f = as_filter(data_changed)
    assert f.create(obj()) and f.delete(obj())
    assert not f.update({"data": 1, **obj()}, {"data": 1, **obj("2")})
    assert f.update({"data": 1}, {"data": 2})
    assert repr(f) == "data_changed"
    with pytest.raises(TypeError):
        as_filter(42)  # type: ignore[arg-type]


def test_any_of_and_all_of() -> None:
    either = any_of(generation_changed, labels_changed)
    assert either.update(obj("1", 1), obj("2", 1, labels={"x": "y"}))
    assert not either.update(obj("1", 1), obj("2", 1, annotations={"x": "y"}))
    both = all_of(resource_version_changed, Predicate(create_func=lambda o: False))
    assert not both.create(obj())
    assert both.update(obj("1"), obj("2")) and not both.update(obj("1"), obj("1"))
    assert "generation_changed" in repr(either)


def test_no_filters_means_the_default_and_an_empty_list_means_none() -> None:
    assert normalize_filters(None) == DEFAULT_FILTERS
    assert normalize_filters([]) == ()
