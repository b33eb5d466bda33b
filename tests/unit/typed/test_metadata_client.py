"""The metadata-only resource client (``ResourceClient[PartialObjectMetadata]``,
its :class:`MetadataCodec`) over a fake Requester: what it asks for (the
Accept headers), and how it reads every kind of answer, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeloop.client import (
    DICT_CODEC,
    METADATA_ACCEPT,
    METADATA_LIST_ACCEPT,
    Config,
    EventType,
    ListOptions,
    ResourceClient,
    Watch,
    WatchEvent,
)
from kubeloop.errors import DecodeError
from kubeloop.typed import PartialObjectMetadata
from tests.unit.client.fake_transport import FakeResponse, make_rest

PATH = "/apis/apps/v1/namespaces/prod/deployments"
META = {"name": "web", "namespace": "prod", "uid": "u1", "resourceVersion": "5"}
PARTIAL = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": META}


class FakeRequester:
    """Answers every request with ``body``; records what was asked."""

    def __init__(self, body: Any = None, lines: list[dict[str, Any]] | None = None) -> None:
        self.body = json.dumps(body).encode()
        self.stream = FakeResponse(200, parts=[json.dumps(e).encode() + b"\n" for e in lines or []])
        self.asked: list[tuple[str, str, str | None]] = []
        self.config = Config(host="https://example.invalid", namespace="default")

    def request_bytes(self, method: str, path: str, **kw: Any) -> bytes:
        self.asked.append((method, path, kw.get("accept")))
        return self.body

    def open_watch(
        self,
        path: str,
        params: dict[str, str],
        model: Any = None,
        *,
        accept: str | None = None,
        convert: Any = None,
    ) -> Watch[Any]:
        """A real :class:`Watch` over an in-memory response of ``lines``."""
        assert model is PartialObjectMetadata
        self.asked.append(("WATCH", path, accept))
        rest = make_rest(lambda sent: self.stream)
        return Watch(rest, path, params, idle_timeout=5, model=model, convert=convert)


def metadata_client(requester: FakeRequester, kind: str = "Deployment") -> Any:
    raw = ResourceClient(requester, DICT_CODEC, "apps/v1", "deployments", namespace="prod")
    return raw.metadata(kind)


def test_get_asks_for_partial_metadata_with_json_as_the_fallback() -> None:
    requester = FakeRequester(PARTIAL)
    obj = metadata_client(requester).get("web")
    assert requester.asked == [("GET", f"{PATH}/web", METADATA_ACCEPT)]
    assert METADATA_ACCEPT.endswith(",application/json")
    assert (obj.api_version, obj.kind, obj.metadata.name) == ("apps/v1", "Deployment", "web")


def test_without_a_kind_an_object_says_what_the_server_sent() -> None:
    obj = metadata_client(FakeRequester(PARTIAL), kind="").get("web")
    assert (obj.api_version, obj.kind) == ("meta.k8s.io/v1", "PartialObjectMetadata")


def test_a_full_object_answered_instead_is_read_for_its_metadata() -> None:
    full = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": META, "spec": {}}
    obj = metadata_client(FakeRequester(full), kind="").get("web")
    assert (obj.api_version, obj.kind, obj.metadata.uid) == ("apps/v1", "Deployment", "u1")


def test_an_answer_that_is_not_metadata_is_refused() -> None:
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "rows": []}
    with pytest.raises(DecodeError, match="answered Table"):
        metadata_client(FakeRequester(table)).get("web")
    with pytest.raises(DecodeError, match="answered Table"):
        metadata_client(FakeRequester(table)).list_page(ListOptions())


def test_list_asks_for_a_partial_list_and_types_its_items() -> None:
    body = {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "9", "continue": "next"},
        "items": [PARTIAL],
    }
    requester = FakeRequester(body)
    page = metadata_client(requester).list_page(ListOptions(limit=1))
    assert requester.asked[0][2] == METADATA_LIST_ACCEPT
    assert (page.resource_version, page.continue_) == ("9", "next")
    (item,) = page.items
    assert (item.api_version, item.kind) == ("apps/v1", "Deployment")


def test_a_watch_types_its_objects_keeps_bookmarks_and_stops_on_a_foreign_object() -> None:
    partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}
    lines = [
        {"type": "ADDED", "object": {**partial, "metadata": {"name": "web"}}},
        {"type": "BOOKMARK", "object": {**partial, "metadata": {"resourceVersion": "7"}}},
        {"type": "MODIFIED", "object": {"kind": "Table", "metadata": {}}},
    ]
    requester = FakeRequester(lines=lines)
    seen: list[WatchEvent[Any]] = []
    watch = metadata_client(requester).watch(resource_version="1")
    with pytest.raises(DecodeError, match="answered Table"):
        seen.extend(watch)
    assert requester.asked == [("WATCH", PATH, METADATA_ACCEPT)]
    assert [(e.type, e.object.kind) for e in seen] == [
        (EventType.ADDED, "Deployment"),
        (EventType.BOOKMARK, "PartialObjectMetadata"),
    ]
    assert requester.stream.closed
