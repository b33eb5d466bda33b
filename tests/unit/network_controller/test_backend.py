"""normalise_cidr and differs: what the controller compares and reports."""

from __future__ import annotations

import ipaddress
import random

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


def _by_ipaddress(text: str) -> tuple[str, bool] | str:
    """What ``ipaddress`` alone makes of ``text``: the reference the fast
    IPv4 path must agree with, refusals included."""
    try:
        interface = ipaddress.ip_interface(text.strip())
    except ValueError:
        return "refused"
    return str(interface.network), interface.ip != interface.network.network_address


def _ours(text: str) -> tuple[str, bool] | str:
    try:
        return normalise_cidr(text)
    except ValueError:
        return "refused"


@pytest.mark.parametrize("seed", [1, 2, 3, 20261201])
def test_the_fast_ipv4_path_agrees_with_ipaddress_on_random_spellings(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["0", "00", "01", "1", "9", "10", "99", "127", "192", "255", "256", "999", "1000"]
    pieces += ["", " ", "+1", "-1", "٣", "1e1", "0x1"]
    for _ in range(5000):
        octets = [rng.choice(pieces) for _ in range(rng.choice([3, 4, 4, 4, 5]))]
        prefix = rng.choice(["0", "8", "08", "16", "24", "31", "32", "33", "", "+8", "٨", "1a"])
        text = ".".join(octets) + rng.choice(["/", "/", "//", ""]) + prefix
        assert _ours(text) == _by_ipaddress(text), text


def test_the_fast_ipv4_path_covers_every_prefix_of_one_address() -> None:
    for prefix in range(33):
        text = f"203.0.113.77/{prefix}"
        assert normalise_cidr(text) == _by_ipaddress(text), text
