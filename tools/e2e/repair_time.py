"""How long an out-of-band delete of a Linux bridge lives before the
controller puts it back (``--backend linux``; needs root).

    python -m tools.e2e.repair_time --resync 2s --samples 10

A controller on its own control plane and network namespace realises one
Network; then, ``--samples`` times, the bridge is deleted with netlink at a
random moment of the resync period (so that the figures sample every phase
of the sweep, not one) and the time until the bridge is back (up, with its
address) is measured. The repair waits for the next sweep, so the figures
should lie between the reconcile's own latency and one resync period plus it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

from kubeloop.runtime import duration
from network_controller.linux_names import bridge_name
from tools.e2e.process import CRD, ControllerProcess
from tools.e2e.walkthrough import Walkthrough

NETWORK = """apiVersion: samplecrd.k8s.io/v1
kind: Network
metadata: {name: repair, namespace: default}
spec: {cidr: "10.77.0.0/24", gateway: "10.77.0.1"}
"""
POLL = 0.005  # the measurement's resolution: a netlink dump every 5 ms


def in_place(ipr: Any, name: str) -> bool:
    found = ipr.link_lookup(ifname=name)
    if not found or not ipr.get_links(found[0])[0]["flags"] & 1:
        return False
    return any(a.get_attr("IFA_ADDRESS") == "10.77.0.1" for a in ipr.get_addr(index=found[0]))


def wait_in_place(ipr: Any, name: str, timeout: float) -> float:
    """Seconds until the bridge is in place (polled: this is a stopwatch)."""
    started = time.monotonic()
    while not in_place(ipr, name):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"bridge {name} not back in {timeout}s")
        time.sleep(POLL)
    return time.monotonic() - started


def measure(kubeconfig: str, state_dir: str, resync: float, samples: int) -> list[float]:
    ns = f"klrepair-{uuid.uuid4().hex[:8]}"
    netns.create(ns)
    controller = ControllerProcess(
        kubeconfig, state_dir, ["--backend", "linux", "--netns", ns, "--resync", f"{resync}s"]
    )
    kubectl = Walkthrough(kubeconfig, state_dir, echo=False).kubectl
    try:
        kubectl("apply", "-f", str(CRD))
        kubectl("wait", "--for=condition=Established", "crd/networks.samplecrd.k8s.io")
        controller.start()
        kubectl("apply", "-f", "-", input=NETWORK)
        name = bridge_name("default/repair")
        times = []
        with IPRoute(netns=ns) as ipr:
            wait_in_place(ipr, name, 60)
            for i in range(samples):
                time.sleep(random.uniform(0, resync))  # a random phase of the sweep
                ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
                times.append(wait_in_place(ipr, name, resync * 2 + 30))
                print(f"  sample {i + 1}: repaired in {times[-1]:.2f}s", flush=True)
        return times
    finally:
        controller.kill()
        netns.remove(ns)


def main() -> None:
    from kubeloop.testenv import ControlPlane

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resync", type=duration, default=30.0)
    p.add_argument("--samples", type=int, default=5)
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kubeloop-repair-") as tmp,
        ControlPlane(Path(tmp) / "cluster") as cp,
    ):
        times = measure(str(cp.kubeconfig), str(Path(tmp) / "state"), args.resync, args.samples)
    print(
        f"resync {args.resync:g}s, {len(times)} samples: min {min(times):.2f}s "
        f"median {statistics.median(times):.2f}s max {max(times):.2f}s"
    )


if __name__ == "__main__":
    main()
