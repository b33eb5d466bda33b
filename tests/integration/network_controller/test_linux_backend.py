"""``--backend linux`` on the real API server and the real kernel (issue 23).

The controller runs as users run it (its own process, ``--backend linux
--netns <fresh>``), and the test looks at and damages the bridges with its
own pyroute2 socket in that namespace: the kernel's state is the backend's
state, so what is checked is what a user would see with ``ip -n NS link``.
Every test makes a network namespace of its own and removes it at the end.
Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for the namespace), which CI has;
the tests fail, not skip, without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

from kubeloop.client import ResourceClient
from network_controller.linux_names import bridge_name, format_alias, partial_name
from tests.integration.network_controller.test_guarantees import (
    StartController,
    containing,
    gone,
    networks,
    ready_condition,
    start_controller,
    state_dir,
    wait_ready,
)
from tests.integration.support import network, wait_until

pytestmark = pytest.mark.integration

RESYNC = "2s"
# The fixtures this module shares with test_guarantees, by name.
__all__ = ["networks", "start_controller", "state_dir"]


# -- the kernel's state, as the test reads and damages it --------------------------
class Bridges:
    """The test's own netlink socket in the controller's namespace."""

    def __init__(self, ipr: Any) -> None:
        self.ipr = ipr

    def link(self, name: str) -> Any | None:
        found = self.ipr.link_lookup(ifname=name)
        return self.ipr.get_links(found[0])[0] if found else None

    def index(self, name: str) -> int:
        link = self.link(name)
        assert link is not None, f"no link {name}"
        return int(link["index"])

    def addresses(self, name: str) -> set[str]:
        """The link's addresses but the kernel's own IPv6 link-local one."""
        msgs = self.ipr.get_addr(index=self.index(name))
        found = {f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}" for m in msgs}
        return {a for a in found if not a.startswith("fe80:")}

    def alias(self, name: str) -> str | None:
        link = self.link(name)
        return None if link is None else link.get_attr("IFLA_IFALIAS")

    def is_up(self, name: str) -> bool:
        link = self.link(name)
        return link is not None and bool(link["flags"] & 1)

    def names(self) -> set[str]:
        return {link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}

    def in_place(self, name: str, address: str, uid: str, key: str) -> bool:
        """The bridge is as the controller makes it: the one address, the alias, up."""
        return (
            self.link(name) is not None
            and self.addresses(name) == {address}
            and self.alias(name) == format_alias(uid, key)
            and self.is_up(name)
        )


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture
def netns_name() -> Iterator[str]:
    name = f"kltest-{uuid.uuid4().hex[:10]}"
    netns.create(name)
    yield name
    netns.remove(name)
    assert name not in netns.listnetns()


@pytest.fixture
def bridges(netns_name: str) -> Iterator[Bridges]:
    with IPRoute(netns=netns_name) as ipr:
        yield Bridges(ipr)


@pytest.fixture
def start_linux(netns_name: str, start_controller: StartController) -> StartController:
    """test_guarantees' controller (its own process in the test's namespace,
    killed after the test, before the netns is removed) on the linux backend."""
    return lambda *args: start_controller("--backend", "linux", "--netns", netns_name, *args)


# -- create, update, delete -----------------------------------------------------------
def test_a_network_becomes_a_bridge_with_its_gateway_that_follows_updates_and_deletes(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    key = f"{namespace}/blue"
    name = bridge_name(key)
    start_linux("--resync", RESYNC)
    networks.create(network("blue", "10.1.0.0/24", "10.1.0.1"))
    got = wait_ready(networks, "blue")
    uid = got["metadata"]["uid"]
    assert got["status"]["networkID"] == name
    assert bridges.in_place(name, "10.1.0.1/24", uid, key)
    assert bridges.alias(name) == f"{uid} {key}"  # the UID, then the key
    link = bridges.link(name)
    assert link is not None
    assert link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "bridge"
    index = bridges.index(name)

    # Host bits set: the bridge gets the normalised network's prefix length.
    obj = networks.get("blue")
    obj["spec"] = {"cidr": "10.2.3.4/16", "gateway": "10.2.0.1"}
    networks.update(obj)
    got = wait_ready(networks, "blue")
    assert got["status"]["normalizedCIDR"] == "10.2.0.0/16"
    assert bridges.addresses(name) == {"10.2.0.1/16"}
    assert bridges.index(name) == index  # changed in place, not recreated

    networks.delete("blue")
    wait_until(lambda: bridges.link(name) is None, 30, f"bridge {name} deleted")


# -- drift by hand ----------------------------------------------------------------------
def test_each_kind_of_drift_made_by_hand_is_repaired_within_a_resync(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    specs = {
        "deleted": ("10.11.0.0/24", "10.11.0.1"),
        "unaddressed": ("10.12.0.0/24", "10.12.0.1"),
        "down": ("10.13.0.0/24", "10.13.0.1"),
        "readdressed": ("fd00:14::/64", "fd00:14::1"),
    }
    controller = start_linux("--resync", RESYNC)
    started = controller.mark()
    for n, (cidr, gateway) in specs.items():
        networks.create(network(n, cidr, gateway))
    uids = {n: wait_ready(networks, n)["metadata"]["uid"] for n in specs}
    # The Ready status each first reconcile writes comes back as an update
    # event, whose reconcile would repair a drift made before it runs, with
    # no sweep to flag it: wait for that second reconcile of every key.
    for n in specs:
        synced = f"Successfully synced '{namespace}/{n}'"
        controller.wait_for_lines(lambda line, s=synced: s in line, started, 2, 30)
    names = {n: bridge_name(f"{namespace}/{n}") for n in specs}
    want = {n: f"{gw}/{cidr.split('/')[1]}" for n, (cidr, gw) in specs.items()}
    index = {n: bridges.index(names[n]) for n in specs}

    mark = controller.mark()
    ipr = bridges.ipr
    ipr.link("del", index=index["deleted"])
    ipr.addr("del", index=index["unaddressed"], address="10.12.0.1", prefixlen=24)
    ipr.link("set", index=index["down"], state="down")
    ipr.addr("del", index=index["readdressed"], address="fd00:14::1", prefixlen=64)
    ipr.addr("add", index=index["readdressed"], address="fd00:99::1", prefixlen=64)
    assert bridges.link(names["deleted"]) is None and not bridges.is_up(names["down"])

    def repaired() -> bool:
        return all(bridges.in_place(names[n], want[n], uids[n], f"{namespace}/{n}") for n in specs)

    wait_until(repaired, 30, "every drift repaired")
    for n in ("unaddressed", "down", "readdressed"):
        assert bridges.index(names[n]) == index[n], f"{n} was recreated, not repaired"
    flagged = "\n".join(controller.since(mark))
    for n in specs:
        assert f"backend sweep: '{namespace}/{n}' is out of sync" in flagged
    assert "(link is down)" in flagged
    for n in specs:
        assert ready_condition(networks.get(n))["status"] == "True"


# -- restart, orphans -------------------------------------------------------------------
def test_after_a_restart_bridges_are_found_from_their_aliases_and_orphans_removed(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    keep, dropped = f"{namespace}/keep", f"{namespace}/gone"
    controller = start_linux("--resync", RESYNC)
    networks.create(network("keep", "10.21.0.0/24", "10.21.0.1"))
    networks.create(network("gone", "10.22.0.0/24", "10.22.0.1"))
    uid = wait_ready(networks, "keep")["metadata"]["uid"]
    wait_ready(networks, "gone")
    keep_index = bridges.index(bridge_name(keep))
    controller.kill()  # SIGKILL: nothing is cleaned up on the way out

    # While the controller is down: a Network is deleted (its bridge is now
    # an orphan), a bridge appears with our alias for a Network that never
    # existed, and two interfaces that are not ours appear: one with no
    # alias, one under one of our names with a foreign alias.
    networks.delete("gone")
    wait_until(gone(networks, "gone"), 30, "Network gone deleted")
    ghost = f"{namespace}/ghost"
    bridges.ipr.link("add", ifname=bridge_name(ghost), kind="bridge")
    bridges.ipr.link(
        "set", index=bridges.index(bridge_name(ghost)), ifalias=format_alias("ghost-uid", ghost)
    )
    bridges.ipr.link("add", ifname="foreign0", kind="bridge")
    squatter = bridge_name(f"{namespace}/squatted")
    bridges.ipr.link("add", ifname=squatter, kind="bridge")
    bridges.ipr.link("set", index=bridges.index(squatter), ifalias="uplink, hands off")
    before = bridges.names()

    controller = start_linux("--resync", RESYNC)
    controller.wait_for(containing(f"backend sweep: '{dropped}' is orphaned"), 0)
    controller.wait_for(containing(f"backend sweep: '{ghost}' is orphaned"), 0)
    wait_until(
        lambda: bridges.names() == before - {bridge_name(dropped), bridge_name(ghost)},
        30,
        "the orphans removed, nothing else",
    )
    assert bridges.index(bridge_name(keep)) == keep_index  # found, not recreated
    assert bridges.in_place(bridge_name(keep), "10.21.0.1/24", uid, keep)
    assert bridges.alias(squatter) == "uplink, hands off"
    assert bridges.alias("foreign0") is None
    ours = {n for n in bridges.names() if n.startswith("kl")} - {squatter}
    assert ours == {bridge_name(keep)}  # no duplicate


def test_a_name_held_by_an_interface_that_is_not_ours_is_a_name_collision(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    foreign, unaliased = bridge_name(f"{namespace}/foreign"), bridge_name(f"{namespace}/bare")
    bridges.ipr.link("add", ifname=foreign, kind="bridge")
    bridges.ipr.link("set", index=bridges.index(foreign), ifalias="not the controller's")
    bridges.ipr.link("add", ifname=unaliased, kind="bridge")
    # Our alias format, but another Network's key: as two keys whose names
    # hash alike would look. Not ours either.
    other = bridge_name(f"{namespace}/other")
    others_alias = format_alias("0e1f2a3b-uid", f"{namespace}/someone-else")
    bridges.ipr.link("add", ifname=other, kind="bridge")
    bridges.ipr.link("set", index=bridges.index(other), ifalias=others_alias)
    start_linux("--resync", RESYNC)
    networks.create(network("foreign", "10.31.0.0/24", "10.31.0.1"))
    networks.create(network("bare", "10.32.0.0/24", "10.32.0.1"))
    networks.create(network("other", "10.33.0.0/24", "10.33.0.1"))
    for n, name in (("foreign", foreign), ("bare", unaliased), ("other", other)):
        cond = ready_condition(wait_ready(networks, n, "False"))
        assert cond["reason"] == "NameCollision"
        assert name in cond["message"]
    assert bridges.alias(foreign) == "not the controller's" and bridges.addresses(foreign) == set()
    assert bridges.alias(unaliased) is None and bridges.addresses(unaliased) == set()
    assert bridges.alias(other) == others_alias and bridges.addresses(other) == set()
    assert not any(bridges.is_up(name) for name in (foreign, unaliased, other))

    # Deleting such a Network deletes nothing of the other owner's.
    networks.delete("foreign")
    wait_until(gone(networks, "foreign"), 30, "Network foreign deleted")
    assert bridges.alias(foreign) == "not the controller's"


def test_an_address_netlink_refuses_is_ready_false_with_the_error_until_the_spec_is_fixed(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    # The API server accepts ff05::1 in ff05::/64 (an IP inside the CIDR),
    # but the kernel will not assign a multicast address to an interface:
    # RTM_NEWADDR fails with EADDRNOTAVAIL (ipv6_add_addr), a real refusal.
    name = bridge_name(f"{namespace}/multicast")
    start_linux("--resync", RESYNC)
    networks.create(network("multicast", "ff05::/64", "ff05::1"))
    cond = ready_condition(wait_ready(networks, "multicast", "False"))
    assert cond["reason"] == "BackendError"
    assert "EADDRNOTAVAIL" in cond["message"] and name in cond["message"]
    assert "ff05::1" in cond["message"] and "netlink" in cond["message"]

    obj: dict[str, Any] = networks.get("multicast")
    obj["spec"] = {"cidr": "fd00:41::/64", "gateway": "fd00:41::1"}
    networks.update(obj)
    wait_ready(networks, "multicast")
    assert bridges.addresses(name) == {"fd00:41::1/64"}


def test_a_half_made_bridge_left_by_a_kill_is_replaced_by_a_whole_one(
    start_linux: StartController, networks: ResourceClient, namespace: str, bridges: Bridges
) -> None:
    # What a SIGKILL between RTM_NEWLINK and setting the alias leaves: a
    # bridge under the partial name, without an alias. The final name stays
    # free, so the Network is not reported as a NameCollision.
    key = f"{namespace}/late"
    bridges.ipr.link("add", ifname=partial_name(key), kind="bridge")
    start_linux("--resync", RESYNC)
    networks.create(network("late", "10.51.0.0/24", "10.51.0.1"))
    uid = wait_ready(networks, "late")["metadata"]["uid"]
    assert bridges.in_place(bridge_name(key), "10.51.0.1/24", uid, key)
    assert bridges.link(partial_name(key)) is None


def test_a_delete_with_a_former_networks_uid_leaves_the_bridge_of_a_recreated_one(
    netns_name: str, bridges: Bridges
) -> None:
    """The backend directly: a delete that names the deleted Network's uid
    leaves a bridge whose alias names another uid (a Network re-created
    under the same name), and removes its own."""
    from network_controller.backend import DesiredNetwork
    from network_controller.linux_backend import LinuxBackend

    backend = LinuxBackend(netns_name)
    try:
        backend.create(DesiredNetwork("default/blue", "10.7.0.0/24", "10.7.0.1", NEW_UID))
        backend.delete("default/blue", OLD_UID)
        assert bridge_name("default/blue") in bridges.names()
        backend.delete("default/blue", NEW_UID)
        assert bridge_name("default/blue") not in bridges.names()
    finally:
        backend.close()


OLD_UID = "0b7c41d2-0000-4000-8000-000000000001"
NEW_UID = "0b7c41d2-0000-4000-8000-000000000002"
