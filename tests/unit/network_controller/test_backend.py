"""normalise_cidr and differs: what the controller compares and reports."""

from __future__ import annotations

import pytest

from network_controller.backend import ActualNetwork, DesiredNetwork, differs, normalise_cidr


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("192.168.0.0/16", ("192.168.0.0/16", False)),
        ("192.168.1.0/16", ("192.168.0.0/16", True)),  # the walkthrough's update
        ("10.1.2.3/8", ("10.0.0.0/8", True)),
        (" 10.0.0.0/24\n", ("10.0.0.0/24", False)),
        ("2001:db8::/32", ("2001:db8::/32", False)),
        ("2001:db8::1/64", ("2001:db8::/64", True)),
    ],
)
def test_normalise_cidr_clears_host_bits_and_says_whether_any_were_set(
    cidr: str, expected: tuple[str, bool]
) -> None:
    assert normalise_cidr(cidr) == expected


def test_normalise_cidr_does_not_report_a_mere_respelling_as_host_bits() -> None:
    # Same network, written differently: status must not claim host bits.
    assert normalise_cidr("2001:DB8::/32") == ("2001:db8::/32", False)


@pytest.mark.parametrize("cidr", ["", "not-a-cidr", "10.0.0.0/33", "300.0.0.0/8", "10.0.0.0/x"])
def test_normalise_cidr_refuses_what_is_not_a_cidr(cidr: str) -> None:
    with pytest.raises(ValueError):
        normalise_cidr(cidr)


ACTUAL = ActualNetwork(key="ns/a", id="id-1", cidr="10.0.0.0/24", gateway="10.0.0.1", uid="u1")


def test_differs_is_false_when_cidr_gateway_and_uid_agree() -> None:
    # The backend's id is its own business: it never makes a difference.
    desired = DesiredNetwork(key="ns/a", cidr="10.0.0.0/24", gateway="10.0.0.1", uid="u1")
    assert not differs(ACTUAL, desired)


@pytest.mark.parametrize(
    "change",
    [
        {"cidr": "10.0.1.0/24"},
        {"gateway": "10.0.0.254"},
        {"uid": "u2"},  # the Network was deleted and recreated under the same name
    ],
)
def test_differs_when_any_realised_field_changes(change: dict[str, str]) -> None:
    fields = {"key": "ns/a", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "uid": "u1"}
    assert differs(ACTUAL, DesiredNetwork(**{**fields, **change}))
