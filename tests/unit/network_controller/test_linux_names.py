"""The Linux backend's bridge names and interface aliases (no netlink, no root)."""

from __future__ import annotations

import hashlib

import pytest

from network_controller.__main__ import parse_args
from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork, differs
from network_controller.linux_backend import LinuxBackend
from network_controller.linux_names import (
    ALIAS_MAX,
    Owner,
    bridge_name,
    format_alias,
    is_bridge_name,
    is_netns_name,
    named_for,
    owns,
    parse_alias,
    partial_name,
)

UID = "6f1c0a9e-3b7d-4c55-9a8e-0d2f4b6c8e10"


def test_the_bridge_name_is_kl_and_13_hex_characters_of_the_keys_sha256() -> None:
    digest = hashlib.sha256(b"default/blue").hexdigest()
    assert bridge_name("default/blue") == "kl" + digest[:13]
    assert len(bridge_name("default/blue")) == 15  # IFNAMSIZ - 1
    assert is_bridge_name(bridge_name("default/blue"))
    assert bridge_name("default/blue") != bridge_name("default/red")
    assert partial_name("default/blue") == "kt" + digest[:13]


def test_a_digest_key_names_the_same_bridge_as_the_key_it_digests() -> None:
    key = "ns/" + "n" * 253
    digest_key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert bridge_name(digest_key) == bridge_name(key)


@pytest.mark.parametrize("name", ["eth0", "kl562ef55a60e4", "kl562ef55a60e4cc", "KL562EF55A60E4C"])
def test_names_that_are_not_a_bridge_name(name: str) -> None:
    assert not is_bridge_name(name)


def test_the_alias_holds_the_uid_and_the_key_and_parses_back() -> None:
    alias = format_alias(UID, "default/blue")
    assert alias == f"{UID} default/blue"
    assert parse_alias(alias) == Owner(UID, "default/blue")


def test_a_key_too_long_for_255_bytes_is_stored_as_its_digest_and_still_owned() -> None:
    key = "a" * 63 + "/" + "b" * 253
    alias = format_alias(UID, key)
    assert len(alias.encode()) <= ALIAS_MAX
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert alias == f"{UID} sha256:{digest}"
    owner = parse_alias(alias)
    assert owner == Owner(UID, f"sha256:{digest}")
    assert owns(owner, key) and not owns(owner, "a/b")
    assert named_for(owner, bridge_name(key))


def test_the_longest_key_that_fits_is_kept_whole() -> None:
    key = "ns/" + "b" * (ALIAS_MAX - len(UID) - 1 - 3)
    assert format_alias(UID, key) == f"{UID} {key}"
    assert "sha256:" in format_alias(UID, key + "b")


@pytest.mark.parametrize(
    "alias",
    [
        None,
        "",
        "uplink to rack 3",
        f"{UID}",
        f"{UID} default/blue extra",
        f"{UID} Default/blue",
        f"{UID} sha256:abc",
        f" {UID} default/blue",
        "default/blue",
    ],
)
def test_an_alias_that_is_not_ours_parses_as_no_owner(alias: str | None) -> None:
    assert parse_alias(alias) is None


def test_ownership_is_by_the_key_and_the_name_it_derives() -> None:
    owner = Owner(UID, "default/blue")
    assert owns(owner, "default/blue") and not owns(owner, "default/red")
    assert named_for(owner, bridge_name("default/blue"))
    # The alias copied onto an interface of another name does not make it ours.
    assert not named_for(owner, bridge_name("default/red"))


@pytest.mark.parametrize("uid", ["", "has space", "x" * 65])
def test_a_uid_that_cannot_be_parsed_back_is_refused(uid: str) -> None:
    with pytest.raises(ValueError):
        format_alias(uid, "default/blue")


def test_a_link_that_is_down_differs_even_when_its_address_is_right() -> None:
    want = DesiredNetwork("ns/a", "10.0.0.0/24", "10.0.0.1", UID)
    up = ActualNetwork("ns/a", "kl0", "10.0.0.0/24", "10.0.0.1", UID)
    assert not differs(up, want)
    assert differs(
        ActualNetwork("ns/a", "kl0", "10.0.0.0/24", "10.0.0.1", UID, "link is down"), want
    )


def test_backend_linux_needs_a_netns_and_the_host_only_by_name() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--backend", "linux"])
    assert parse_args(["--backend", "linux", "--netns", "host"]).netns == "host"
    assert parse_args(["--backend", "linux", "--netns", "kl"]).netns == "kl"


@pytest.mark.parametrize("name", ["bad/name", "/run/netns/x", "..", ".", "", "a b", "x" * 256])
def test_a_netns_name_that_is_a_path_or_not_a_file_name_is_refused(name: str) -> None:
    # pyroute2 would take "bad/name" as a path and bind-mount a namespace there.
    assert not is_netns_name(name)
    with pytest.raises(SystemExit):
        parse_args(["--backend", "linux", "--netns", name])
    with pytest.raises(BackendError, match="not a network namespace name"):
        LinuxBackend(name)


def test_plain_netns_names_are_accepted() -> None:
    assert all(map(is_netns_name, ["kubeloop", "kl-test_1.a", "host"]))
