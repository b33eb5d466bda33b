"""The ``linux`` backend: each Network is a Linux bridge, made through netlink.

Run as ``network-controller --backend linux --netns NAME``. Every Network
``namespace/name`` becomes a bridge in the network namespace NAME (created
if missing; ``--netns host`` means the host's own namespace, never chosen by
default) named by :func:`~network_controller.linux_names.bridge_name`, with
the gateway address and the CIDR's prefix length assigned, and up.

Why no state file: the kernel is the state. Each call reads the links and
addresses afresh, so drift made by hand (``ip link del``, ``ip addr del``,
``ip link set down``, another address) is seen at the next sweep; the
bridge's alias says which Network owns it (:mod:`~network_controller.
linux_names`), so a restarted controller finds its bridges, and the orphans
among them, from the aliases alone. An interface without such an alias is
never touched: a name held by one is a ``NameCollision``. The one exception
is a bridge under the partial name ``kt`` + the same 13 hex characters,
which only this backend makes, for an instant, while it sets a new bridge's
alias (see ``_add``); one left by a kill in that instant is removed.

Why pyroute2 and not ``ip``: netlink errors come back as errno values on the
call that caused them (no parsing of another program's output), and the
controller needs no iproute2 binary in its image.

The backend is per node: the bridges live in one kernel, so it suits one
controller per node, not replicas sharded over many machines.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from network_controller.backend import ActualNetwork, BackendError, DesiredNetwork, NameCollision
from network_controller.linux_names import (
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

log = logging.getLogger("network_controller.backend")

HOST_NETNS = "host"
IFF_UP = 0x1
RT_SCOPE_LINK = 253
T = TypeVar("T")


class LinuxBackend:
    """Networks as bridges in one network namespace (see the module docs).

    Example::

        backend = LinuxBackend("kubeloop")   # creates netns "kubeloop" if missing
        backend.create(DesiredNetwork("default/blue", "10.1.0.0/24", "10.1.0.1", uid))
        backend.get("default/blue").id       # 'kl...' the bridge's name
    """

    def __init__(self, netns: str) -> None:
        if not is_netns_name(netns):
            raise BackendError(f"{netns!r} is not a network namespace name (letters, digits, ._-)")
        self.netns = netns
        where = f"netns {netns}" if netns != HOST_NETNS else "the host's netns"
        self._where = where
        try:
            self._ipr: Any = IPRoute() if netns == HOST_NETNS else IPRoute(netns=netns)
        except (NetlinkError, OSError) as err:
            raise BackendError(f"cannot open netlink in {where}: {err}") from err
        # Guards _ipr: one netlink socket, whose requests and replies must not
        # interleave between the worker threads.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._ipr.close()

    # -- netlink, errors mapped ---------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one netlink request; its failure becomes a BackendError naming
        the interface, the namespace and the kernel's error."""
        with self._lock:
            try:
                return fn()
            except NetlinkError as err:
                code = errno.errorcode.get(err.code, str(err.code))
                raise BackendError(f"netlink: {what} in {self._where}: {code} {err}") from err
            except OSError as err:
                raise BackendError(f"netlink: {what} in {self._where}: {err}") from err

    def _link(self, name: str) -> Any | None:
        def lookup() -> Any | None:
            try:
                links = self._ipr.get_links(ifname=name)
            except NetlinkError as err:
                if err.code == errno.ENODEV:
                    return None
                raise
            return links[0] if links else None

        return self._call(f"get link {name}", lookup)

    def _addresses(
        self, name: str, index: int
    ) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        """The link's addresses except the kernel's own IPv6 link-local one."""
        msgs = self._call(f"get addresses of {name}", lambda: self._ipr.get_addr(index=index))
        found = []
        for msg in msgs:
            iface = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
            if iface.version == 6 and msg["scope"] == RT_SCOPE_LINK and iface.ip.is_link_local:
                continue
            found.append(iface)
        return found

    # -- reading ------------------------------------------------------------
    def _owned(self, key: str, link: Any) -> Owner:
        """The owner of the link holding ``key``'s name, or NameCollision."""
        name = link.get_attr("IFLA_IFNAME")
        alias = link.get_attr("IFLA_IFALIAS")
        owner = parse_alias(alias)
        if owner is None or not owns(owner, key) or _kind(link) != "bridge":
            held = f"alias {alias!r}" if alias else "no alias"
            raise NameCollision(
                f"interface {name} in {self._where} is not this Network's bridge "
                f"({_kind(link) or 'unknown kind'}, {held}); left untouched"
            )
        return owner

    def _actual(self, key: str, link: Any, owner: Owner) -> ActualNetwork:
        name = link.get_attr("IFLA_IFNAME")
        addrs = self._addresses(name, link["index"])
        if len(addrs) == 1:
            cidr, gateway = str(addrs[0].network), str(addrs[0].ip)
        else:  # none, or extra ones added by hand: neither is a desired state
            cidr, gateway = "", ",".join(sorted(str(a) for a in addrs))
        drift = "" if link["flags"] & IFF_UP else "link is down"
        return ActualNetwork(key, name, cidr, gateway, owner.uid, drift)

    # -- Backend ------------------------------------------------------------
    def get(self, key: str) -> ActualNetwork | None:
        link = self._link(bridge_name(key))
        if link is None:
            return None
        return self._actual(key, link, self._owned(key, link))

    def list(self) -> list[ActualNetwork]:
        links = self._call("list links", lambda: self._ipr.get_links())
        found = []
        for link in links:
            name = link.get_attr("IFLA_IFNAME") or ""
            owner = parse_alias(link.get_attr("IFLA_IFALIAS"))
            if (
                owner
                and is_bridge_name(name)
                and named_for(owner, name)
                and _kind(link) == "bridge"
            ):
                found.append(self._actual(owner.key, link, owner))
        return found

    def create(self, desired: DesiredNetwork) -> ActualNetwork:
        return self._put("Creating", desired)

    def update(self, desired: DesiredNetwork) -> ActualNetwork:
        return self._put("Updating", desired)

    def delete(self, key: str, uid: str = "") -> None:
        name = bridge_name(key)
        log.info("[linux] Deleting bridge %s for %s in %s", name, key, self._where)
        link = self._link(name)
        if link is None:
            return
        owner = self._owned(key, link)
        if uid and owner.uid and owner.uid != uid:
            log.info("[linux] Bridge %s is now of uid %s: left in place", name, owner.uid)
            return
        self._call(
            f"delete link {name}", lambda: self._tolerate(errno.ENODEV, "del", link["index"])
        )

    # -- writing ------------------------------------------------------------
    def _put(self, verb: str, desired: DesiredNetwork) -> ActualNetwork:
        """Create or update in place: the same bridge (same ifindex) gets the
        alias, the one address and the up flag it lacks; what is right is
        left alone, so a repair of one kind of drift touches nothing else."""
        name = bridge_name(desired.key)
        log.info(
            "[linux] %s bridge %s for %s cidr=%s gateway=%s in %s",
            verb,
            name,
            desired.key,
            desired.cidr,
            desired.gateway,
            self._where,
        )
        try:
            alias = format_alias(desired.uid, desired.key)
        except ValueError as err:
            raise BackendError(str(err)) from err
        link = self._link(name)
        if link is None:
            link = self._add(name, desired.key, alias)
        else:
            self._owned(desired.key, link)
        index = link["index"]
        if link.get_attr("IFLA_IFALIAS") != alias:  # a new UID for the same key
            self._call(
                f"set alias of {name}", lambda: self._ipr.link("set", index=index, ifalias=alias)
            )
        want = ipaddress.ip_interface(
            f"{desired.gateway}/{ipaddress.ip_network(desired.cidr).prefixlen}"
        )
        have = self._addresses(name, index)
        for addr in have:
            if addr != want:
                self._address("del", name, index, addr)
        if want not in have:
            self._address("add", name, index, want)
        if not link["flags"] & IFF_UP:
            self._call(f"set {name} up", lambda: self._ipr.link("set", index=index, state="up"))
        actual = self.get(desired.key)
        if actual is None:
            raise BackendError(f"bridge {name} in {self._where} vanished while it was being made")
        return actual

    def _address(
        self,
        op: str,
        name: str,
        index: int,
        addr: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    ) -> None:
        verb = "add address" if op == "add" else "delete address"
        self._call(
            f"{verb} {addr} {'to' if op == 'add' else 'from'} {name}",
            lambda: self._ipr.addr(
                op, index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen
            ),
        )

    def _add(self, name: str, key: str, alias: str) -> Any:
        """A new bridge, named ``name`` only once its alias is set: the kernel
        ignores an alias given with RTM_NEWLINK, and a bridge left under the
        final name without one (the controller killed in between) would read
        as someone else's. A half-made one under the partial name is ours by
        that name alone and is removed first."""
        partial = partial_name(key)
        stale = self._link(partial)
        if stale is not None and _kind(stale) == "bridge":
            self._call(
                f"delete half-made link {partial}",
                lambda: self._tolerate(errno.ENODEV, "del", stale["index"]),
            )

        def make() -> None:
            self._ipr.link("add", ifname=partial, kind="bridge")
            index = self._ipr.link_lookup(ifname=partial)[0]
            self._ipr.link("set", index=index, ifalias=alias)
            self._ipr.link("set", index=index, ifname=name)

        self._call(f"add bridge {name}", make)
        link = self._link(name)
        if link is None:
            raise BackendError(f"bridge {name} in {self._where} vanished while it was being made")
        return link

    def _tolerate(self, code: int, op: str, index: int) -> None:
        try:
            self._ipr.link(op, index=index)
        except NetlinkError as err:
            if err.code != code:
                raise


def _kind(link: Any) -> str:
    info = link.get_attr("IFLA_LINKINFO")
    return str(info.get_attr("IFLA_INFO_KIND") or "") if info is not None else ""
