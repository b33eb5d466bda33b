"""Watch event types are an enum decoded from the wire, equal to the wire
strings, and a line with a type the API does not define is refused."""

from __future__ import annotations

import msgspec
import pytest

from kubeloop.client import EventType
from kubeloop.client._watch import _event_decoder, decode_model_event
from kubeloop.typed import PartialObjectMetadata


@pytest.mark.parametrize("name", ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"])
def test_each_wire_type_decodes_to_its_member(name: str) -> None:
    event = _event_decoder.decode(b'{"type":"%s","object":{}}' % name.encode())
    assert event.type is EventType[name]
    assert event.type == name  # a StrEnum: comparisons with the wire string hold


def test_an_unknown_type_is_a_decode_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'RENAMED'"):
        _event_decoder.decode(b'{"type":"RENAMED","object":{}}')


def test_typed_events_carry_the_enum_too() -> None:
    line = b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}'
    event = decode_model_event(line, PartialObjectMetadata)
    assert event.type is EventType.BOOKMARK
    assert event.object.metadata.resource_version == "7"
