"""The chaos suite on ``--backend linux``: the bridges as the invariants see
them, and the out-of-band changes to them that are one of its faults.

A "tamper" fault does to one of the controller's bridges what an admin's
``ip`` command would: deletes the link, deletes its address, sets it down,
or replaces its address with another. Which bridge and which change come
from the seed (``random.Random(f"{seed}:tamper")``) and the bridges present
at that moment (sorted by name), so a rerun makes the same choices given
the same state. The invariants are the mock's: every Network's bridge has
its CIDR and gateway (and is up), and no bridge is left without a Network.
"""

from __future__ import annotations

import random
from typing import Any

from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from network_controller.linux_backend import LinuxBackend
from network_controller.linux_names import is_bridge_name

TAMPERS = ("link deleted", "address deleted", "link down", "address changed")
#: A bridge can vanish between the listing and the change (the controller
#: deleted it); the tamper then picks again, this many times in all.
ATTEMPTS = 5


class LinuxChaos:
    """The harness's own view of the controllers' netns ``name``, which it
    creates and, on :meth:`close`, removes (see the module docs)."""

    def __init__(self, name: str, seed: int) -> None:
        self.netns = name
        self.rng = random.Random(f"{seed}:tamper")
        netns.create(name)
        self.backend = LinuxBackend(name)
        self.ipr: Any = IPRoute(netns=name)

    def close(self) -> None:
        self.backend.close()
        self.ipr.close()
        netns.remove(self.netns)

    def actual(self) -> dict[str, dict[str, str]]:
        """The bridges by Network key, in the mock's state-file shape, plus
        the drift a sweep would repair (a link down)."""
        return {
            a.key: {"cidr": a.cidr, "gateway": a.gateway, "drift": a.drift}
            for a in self.backend.list()
        }

    def tamper(self) -> str:
        """One out-of-band change to one bridge; says which. Raises when no
        bridge could be changed (the fault is then reported as failed)."""
        last: Exception | None = None
        for _ in range(ATTEMPTS):
            names = sorted(
                n
                for link in self.ipr.get_links()
                if is_bridge_name(n := link.get_attr("IFLA_IFNAME"))
            )
            if not names:
                raise RuntimeError(f"no bridge in netns {self.netns} to tamper with")
            name, how = self.rng.choice(names), self.rng.choice(TAMPERS)
            try:
                self._apply(name, how)
            except (NetlinkError, IndexError) as err:  # it went away meanwhile
                last = err
                continue
            return f"{how}: {name}"
        raise RuntimeError(f"no tamper took effect in {ATTEMPTS} attempts: {last}")

    def _apply(self, name: str, how: str) -> None:
        index = self.ipr.link_lookup(ifname=name)[0]
        if how == "link deleted":
            self.ipr.link("del", index=index)
        elif how == "link down":
            self.ipr.link("set", index=index, state="down")
        else:
            addrs = [
                (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                for a in self.ipr.get_addr(index=index)
                if a["scope"] == 0  # global: not the kernel's link-local one
            ]
            if not addrs:
                raise IndexError(f"{name} has no address")
            for address, prefixlen in addrs:
                self.ipr.addr("del", index=index, address=address, prefixlen=prefixlen)
            if how == "address changed":
                self.ipr.addr("add", index=index, address="192.0.2.77", prefixlen=28)
