"""Listers (listers/) and label selectors (apimachinery labels)."""

from __future__ import annotations

import pytest

from kubeloop.cache import (
    NAMESPACE_INDEX,
    Indexer,
    Lister,
    SelectorParseError,
    deletion_handling_meta_namespace_key_func,
    meta_namespace_index_func,
    parse_selector,
)
from kubeloop.errors import NotFound, is_not_found

from .helpers import pod


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("env in (prod, staging)", {"env": "staging"}, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env in (prod)", {}, False),
        ("env notin (prod)", {}, True),
        ("env notin (prod)", {"env": "prod"}, False),
        ("canary", {"canary": ""}, True),
        ("canary", {}, False),
        ("!canary", {}, True),
        ("!canary", {"canary": "x"}, False),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas<2", {"replicas": "3"}, False),
        ("replicas>2", {"replicas": "abc"}, False),
        ("app=web,env in (a,b),!canary", {"app": "web", "env": "b"}, True),
        ("app=web,env in (a,b),!canary", {"app": "web", "env": "b", "canary": "1"}, False),
        ("example.com/team=x", {"example.com/team": "x"}, True),
        ("app=", {"app": ""}, True),
    ],
)
def test_selector_matching(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize("bad", ["app=web=x", "env in prod", "a>b", "=x", "app in (a;b)"])
def test_selector_parse_errors(bad: str) -> None:
    with pytest.raises(SelectorParseError):
        parse_selector(bad)


def test_selector_from_mapping_and_none() -> None:
    assert parse_selector({"app": "web"}).matches({"app": "web", "x": "y"})
    assert not parse_selector({"app": "web"}).matches({})
    assert parse_selector(None).empty()
    sel = parse_selector("a=b")
    assert parse_selector(sel) is sel


def indexer() -> Indexer:
    idx = Indexer(
        deletion_handling_meta_namespace_key_func, {NAMESPACE_INDEX: meta_namespace_index_func}
    )
    idx.add(pod("web-0", "prod", labels={"app": "web"}))
    idx.add(pod("web-1", "prod", labels={"app": "web", "canary": "true"}))
    idx.add(pod("db-0", "prod", labels={"app": "db"}))
    idx.add(pod("web-0", "dev", labels={"app": "web"}))
    return idx


def names(objs: list[dict[str, dict[str, str]]]) -> list[str]:
    return sorted(f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs)


def test_lister_list_with_selectors() -> None:
    lister = Lister(indexer(), resource="pods")
    assert len(lister.list()) == 4
    assert names(lister.list("app=web")) == ["dev/web-0", "prod/web-0", "prod/web-1"]
    assert names(lister.list("app=web,!canary")) == ["dev/web-0", "prod/web-0"]
    assert names(lister.list({"app": "db"})) == ["prod/db-0"]


def test_namespace_lister_uses_the_index_or_scans() -> None:
    for idx in (indexer(), _without_index()):
        prod = Lister(idx).namespaced("prod")
        assert names(prod.list()) == ["prod/db-0", "prod/web-0", "prod/web-1"]
        assert names(prod.list("app in (web)")) == ["prod/web-0", "prod/web-1"]
        assert prod.get("db-0")["metadata"]["name"] == "db-0"
        assert len(Lister(idx).namespaced("").list()) == 4  # NamespaceAll


def _without_index() -> Indexer:
    idx = Indexer(deletion_handling_meta_namespace_key_func)
    idx.replace(indexer().list(), "1")
    return idx


def test_get_raises_not_found() -> None:
    lister = Lister(indexer(), resource="pods")
    with pytest.raises(NotFound) as info:
        lister.namespaced("prod").get("missing")
    assert is_not_found(info.value)
    assert info.value.code == 404 and info.value.reason == "NotFound"
    assert 'pods "missing" not found' in info.value.message
    with pytest.raises(NotFound):
        lister.get("web-0")  # namespaced objects are not cluster-scoped keys


def test_cluster_scoped_get() -> None:
    idx = Indexer(deletion_handling_meta_namespace_key_func)
    idx.add(pod("node-1", labels={"role": "worker"}))
    lister = Lister(idx, resource="nodes")
    assert lister.get("node-1")["metadata"]["name"] == "node-1"
    assert len(lister.list("role=worker")) == 1
