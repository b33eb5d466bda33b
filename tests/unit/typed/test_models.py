"""Typed models: decode straight from bytes, tolerate unknown fields, encode
only what is set, and read the same as dicts through the cache's accessor."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from kubeloop.cache.accessor import (
    get_annotations,
    get_deletion_timestamp,
    get_labels,
    get_name,
    get_namespace,
    get_resource_version,
    get_uid,
)
from kubeloop.cache.transforms import strip_managed_fields
from kubeloop.client._codec import decode_list, decode_model_list
from kubeloop.client._watch import decode_model_event
from kubeloop.errors import DecodeError
from kubeloop.typed import ObjectMeta, PartialObjectMetadata, decode, encode, write_view
from network_controller.models import Network, NetworkCondition, NetworkSpec, NetworkStatus

REPO = Path(__file__).resolve().parents[3]

WIRE = (
    b'{"apiVersion":"samplecrd.k8s.io/v1","kind":"Network",'
    b'"metadata":{"name":"n1","namespace":"prod","uid":"u-1","resourceVersion":"42",'
    b'"generation":3,"creationTimestamp":"2024-01-02T03:04:05Z",'
    b'"labels":{"app":"web"},"annotations":{"a":"b"},'
    b'"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1",'
    b'"fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:cidr":{}}}}],'
    b'"someFutureMetaField":1},'
    b'"spec":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1","mtu":1500},'
    b'"status":{"observedGeneration":3,"networkID":"net-1","normalizedCIDR":"10.0.0.0/24",'
    b'"conditions":[{"type":"Ready","status":"True","reason":"Created",'
    b'"lastTransitionTime":"2024-01-02T03:04:06Z","severity":"Info"}],'
    b'"future":{"x":1}}}'
)


def test_decode_reads_every_known_field_and_skips_unknown_ones() -> None:
    net = decode(WIRE, Network)
    assert net.metadata.name == "n1" and net.metadata.resource_version == "42"
    assert net.spec == NetworkSpec(cidr="10.0.0.0/24", gateway="10.0.0.1")
    assert net.status is not None
    assert net.status.network_id == "net-1" and net.status.normalized_cidr == "10.0.0.0/24"
    assert net.status.conditions == [
        NetworkCondition(
            type="Ready",
            status="True",
            reason="Created",
            last_transition_time="2024-01-02T03:04:06Z",
        )
    ]


def test_encode_round_trips_what_the_model_knows() -> None:
    net = decode(WIRE, Network)
    wire = msgspec.json.decode(WIRE)
    again = msgspec.json.decode(encode(net))
    assert again["status"]["networkID"] == "net-1"
    assert again["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    # fieldsV1 is kept raw and written back byte for byte.
    assert again["metadata"]["managedFields"] == wire["metadata"]["managedFields"]
    assert "mtu" not in again["spec"] and "future" not in again["status"]
    assert decode(encode(net), Network) == net


def test_unset_optional_fields_are_not_encoded() -> None:
    net = Network(
        metadata=ObjectMeta(name="n1"), spec=NetworkSpec(cidr="10.0.0.0/24", gateway="10.0.0.1")
    )
    assert msgspec.json.decode(encode(net)) == {
        "apiVersion": "samplecrd.k8s.io/v1",
        "kind": "Network",
        "metadata": {"name": "n1"},
        "spec": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"},
    }
    net.status = NetworkStatus(observed_generation=1)
    assert msgspec.json.decode(encode(net))["status"] == {"observedGeneration": 1}


def test_a_model_knows_its_kind_even_when_the_wire_omits_it() -> None:
    net = decode(b'{"metadata":{"name":"x"},"spec":{"cidr":"c","gateway":"g"}}', Network)
    assert (net.api_version, net.kind) == ("samplecrd.k8s.io/v1", "Network")
    assert (Network.API_VERSION, Network.KIND, Network.PLURAL, Network.NAMESPACED) == (
        "samplecrd.k8s.io/v1",
        "Network",
        "networks",
        True,
    )


def test_type_mismatches_and_missing_required_fields_fail_to_decode() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"`gateway` - at `\$.spec`"):
        decode(b'{"spec":{"cidr":"c"}}', Network)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `str`"):
        decode(b'{"spec":{"cidr":1,"gateway":"g"}}', Network)
    with pytest.raises(msgspec.ValidationError, match="status"):
        decode(
            b'{"spec":{"cidr":"c","gateway":"g"},"status":{"conditions":[{"type":"R"}]}}', Network
        )


def test_the_cache_accessor_reads_models_as_it_reads_dicts() -> None:
    net = decode(WIRE, Network)
    as_dict = msgspec.json.decode(WIRE)
    for read in (get_name, get_namespace, get_resource_version, get_uid, get_labels):
        assert read(net) == read(as_dict)
    assert get_annotations(net) == {"a": "b"}
    assert get_deletion_timestamp(net) is None


def test_strip_managed_fields_and_write_view_drop_managed_fields() -> None:
    net = decode(WIRE, Network)
    view = write_view(net)
    assert view.metadata.managed_fields is None and net.metadata.managed_fields is not None
    assert view.spec is net.spec
    assert write_view(view) is view
    assert strip_managed_fields(net) is net and net.metadata.managed_fields is None


def test_models_are_not_tracked_by_the_cyclic_gc() -> None:
    net = decode(WIRE, Network)
    assert not gc.is_tracked(net) and not gc.is_tracked(net.metadata)


def list_body(n: int, *, with_kind: bool = True) -> bytes:
    item = msgspec.json.decode(WIRE)
    if not with_kind:
        del item["apiVersion"], item["kind"]
    items = [dict(item, metadata=dict(item["metadata"], name=f"n{i}")) for i in range(n)]
    return msgspec.json.encode(
        {
            "apiVersion": "samplecrd.k8s.io/v1",
            "kind": "NetworkList",
            "metadata": {"resourceVersion": "99", "continue": "tok", "remainingItemCount": 5},
            "items": items,
        }
    )


def test_a_list_body_decodes_into_models_like_the_dict_path() -> None:
    body = list_body(3, with_kind=False)
    items, rv, cont, remaining = decode_model_list(body, "LIST", Network)
    assert [i.metadata.name for i in items] == ["n0", "n1", "n2"]
    assert all(isinstance(i, Network) and i.kind == "Network" for i in items)
    assert (rv, cont, remaining) == ("99", "tok", 5)
    dicts, *meta = decode_list(body, "LIST")
    assert meta == [rv, cont, remaining]
    assert [get_name(d) for d in dicts] == [get_name(i) for i in items]


def test_an_undecodable_list_is_a_decode_error_naming_the_model() -> None:
    with pytest.raises(DecodeError, match="as Network"):
        decode_model_list(b'{"items":[{"spec":{}}]}', "LIST /x", Network)


def event(type_: str, obj: bytes) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + obj + b"}"


def test_watch_events_decode_into_models() -> None:
    ev = decode_model_event(event("MODIFIED", WIRE), Network)
    assert ev.type == "MODIFIED" and isinstance(ev.object, Network)
    assert ev.object.status.network_id == "net-1"


def test_a_bookmark_decodes_as_partial_object_metadata() -> None:
    bookmark = (
        b'{"kind":"Network","apiVersion":"samplecrd.k8s.io/v1","metadata":'
        b'{"resourceVersion":"77","annotations":{"k8s.io/initial-events-end":"true"}}}'
    )
    ev = decode_model_event(event("BOOKMARK", bookmark), Network)
    assert isinstance(ev.object, PartialObjectMetadata)
    assert get_resource_version(ev.object) == "77"
    assert get_annotations(ev.object) == {"k8s.io/initial-events-end": "true"}


def test_an_error_event_keeps_its_status_as_a_dict() -> None:
    status = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}'
    ev = decode_model_event(event("ERROR", status), Network)
    assert ev.type == "ERROR" and ev.object["code"] == 410


def test_an_added_object_that_does_not_fit_the_model_is_an_error() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_model_event(event("ADDED", b'{"spec":{"cidr":1}}'), Network)


def test_mypy_catches_a_type_error_against_a_typed_lister(tmp_path: Path) -> None:
    """The point of typed listers: a wrong attribute or type is a mypy error."""
    example = tmp_path / "example.py"
    example.write_text(
        "from kubeloop.cache import Lister\n"
        "from network_controller.models import Network\n"
        "def gateway(nets: Lister[Network]) -> int:\n"
        '    net = nets.namespaced("prod").get("n1")\n'
        "    reveal_type(net)\n"
        "    return net.spec.gateway\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(example)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert 'Revealed type is "network_controller.models.Network"' in result.stdout
    assert 'Incompatible return value type (got "str", expected "int")' in result.stdout
