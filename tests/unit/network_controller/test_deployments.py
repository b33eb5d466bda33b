"""desired_spec: the Network a Deployment's annotations ask for."""

from __future__ import annotations

import pytest

from network_controller.deployments import CIDR_ANNOTATION, GATEWAY_ANNOTATION, desired_spec


def test_no_cidr_annotation_asks_for_no_network() -> None:
    assert desired_spec({}) is None
    assert desired_spec({CIDR_ANNOTATION: ""}) is None
    assert desired_spec({CIDR_ANNOTATION: "  "}) is None
    assert desired_spec({GATEWAY_ANNOTATION: "10.0.0.1"}) is None  # a gateway alone


@pytest.mark.parametrize(
    ("cidr", "gateway"),
    [
        ("10.9.0.0/16", "10.9.0.1"),
        ("10.9.1.0/16", "10.9.0.1"),  # host bits set: the network's first host
        ("192.168.7.0/24", "192.168.7.1"),
        ("10.0.0.0/31", "10.0.0.1"),
        ("fd00:1::/64", "fd00:1::1"),
    ],
)
def test_the_gateway_defaults_to_the_first_host(cidr: str, gateway: str) -> None:
    assert desired_spec({CIDR_ANNOTATION: cidr}) == {"cidr": cidr, "gateway": gateway}


def test_the_cidr_is_kept_as_written_for_the_network_controller_to_normalise() -> None:
    spec = desired_spec({CIDR_ANNOTATION: " 10.9.1.0/16 "})
    assert spec == {"cidr": "10.9.1.0/16", "gateway": "10.9.0.1"}


def test_an_explicit_gateway_annotation_wins() -> None:
    annotations = {CIDR_ANNOTATION: "10.9.0.0/16", GATEWAY_ANNOTATION: "10.9.255.254"}
    assert desired_spec(annotations) == {"cidr": "10.9.0.0/16", "gateway": "10.9.255.254"}


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({CIDR_ANNOTATION: "not-a-cidr"}, f"{CIDR_ANNOTATION} is not a CIDR"),
        ({CIDR_ANNOTATION: "10.9.0.0/33"}, f"{CIDR_ANNOTATION} is not a CIDR"),
        (
            {CIDR_ANNOTATION: "10.9.0.0/16", GATEWAY_ANNOTATION: "10.8.0.1"},
            f"{GATEWAY_ANNOTATION} 10.8.0.1 is not inside 10.9.0.0/16",
        ),
        (
            {CIDR_ANNOTATION: "10.9.0.0/16", GATEWAY_ANNOTATION: "gw"},
            f"{GATEWAY_ANNOTATION} is not an IP address",
        ),
        (
            {CIDR_ANNOTATION: "10.9.0.0/16", GATEWAY_ANNOTATION: "fd00::1"},
            "is not inside",  # another IP family
        ),
        ({CIDR_ANNOTATION: "10.9.0.7/32"}, "no host for a default gateway"),
    ],
)
def test_what_the_api_server_would_refuse_is_a_value_error_naming_the_annotation(
    annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        desired_spec(annotations)
