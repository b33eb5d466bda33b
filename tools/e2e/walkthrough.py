"""The walkthrough: the Network controller end to end on a real control plane.

``make demo`` runs it and prints every step; the e2e test runs the same steps
and asserts what each one printed. Steps, with real kubectl:

1. the controller starts before the Network CRD exists (it logs the failed list),
2. the CRD is applied (it recovers by itself),
3. ``example/example-network.yaml`` is applied (the network is created),
4. the update ``cidr: 192.168.1.0/16, gateway: 192.168.1.1`` is applied
   (updated; the CIDR is normalised to 192.168.0.0/16 and status says so),
5. the Network is deleted (the actual network is deleted),
then the controller gets SIGTERM and must exit 0. When run as root, a last
step runs the controller on ``--backend linux`` in a network namespace of
its own, deletes the Network's bridge by hand and shows the next sweep put
it back (otherwise one line says that the step needs root).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.e2e.process import CRD, REPO, ControllerProcess, kubectl_path

EXAMPLE = REPO / "example" / "example-network.yaml"
UPDATE = """apiVersion: samplecrd.k8s.io/v1
kind: Network
metadata:
  name: example-network
  namespace: default
spec:
  cidr: "192.168.1.0/16"
  gateway: "192.168.1.1"
"""


@dataclass
class Step:
    title: str
    log_lines: list[str]
    kubectl_output: str
    backend: dict[str, Any]


class Walkthrough:
    def __init__(self, kubeconfig: str, state_dir: str, echo: bool = True) -> None:
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.echo = echo
        self.controller = ControllerProcess(kubeconfig, state_dir)
        self.steps: list[Step] = []

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        proc = subprocess.run(
            [kubectl_path(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout + proc.stderr

    def backend(self) -> dict[str, Any]:
        path = Path(self.state_dir) / "networks.json"
        try:
            state: dict[str, Any] = json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return {}
        return state

    def _say(self, text: str) -> None:
        if self.echo:
            print(text, flush=True)

    def _step(self, title: str, mark: int, controller: ControllerProcess | None = None) -> Step:
        out = self.kubectl("get", "networks", "-A", check=False)
        step = Step(title, (controller or self.controller).since(mark), out, self.backend())
        self.steps.append(step)
        self._say(f"\n=== {title}")
        for line in step.log_lines:
            self._say(f"  controller| {line}")
        self._say("  $ kubectl get networks -A")
        for line in out.rstrip().splitlines():
            self._say(f"  {line}")
        return step

    def run(self) -> list[Step]:
        self.kubectl("delete", "crd", "networks.samplecrd.k8s.io", "--ignore-not-found")
        c = self.controller
        c.start()
        try:
            mark = c.mark()
            c.wait_for(lambda line: "failed to list" in line, mark)
            self._step("1. controller started before the Network CRD exists", mark)

            mark = c.mark()
            self.kubectl("apply", "-f", str(CRD))
            self.kubectl("wait", "--for=condition=Established", "crd/networks.samplecrd.k8s.io")
            c.wait_for(lambda line: '"Starting workers" controller="networks"' in line, mark)
            self._step("2. CRD applied: the controller recovers", mark)

            mark = c.mark()
            self.kubectl("apply", "-f", str(EXAMPLE))
            c.wait_for(lambda line: "Successfully synced 'default/example-network'" in line, mark)
            self._wait_ready(generation=1)
            self._step("3. example network applied: created", mark)

            mark = c.mark()
            self.kubectl("apply", "-f", "-", input=UPDATE)
            c.wait_for(lambda line: "[Neutron] Updating network" in line, mark)
            self._wait_ready(generation=2)
            self._step("4. update applied: updated (CIDR normalised)", mark)
            self._say("  $ kubectl get network example-network -o jsonpath={.status}")
            self._say(
                "  " + self.kubectl("get", "network", "example-network", "-o", "jsonpath={.status}")
            )

            mark = c.mark()
            self.kubectl("delete", "-f", str(EXAMPLE))
            c.wait_for(lambda line: "[Neutron] Deleting network" in line, mark)
            c.wait_for(lambda line: "Successfully synced 'default/example-network'" in line, mark)
            self._step("5. network deleted: deleted", mark)

            mark = c.mark()
            code = c.terminate()
            self._step(f"6. SIGTERM: the controller exited with {code}", mark)
            if code != 0:
                raise RuntimeError(f"controller exited with {code}")
        finally:
            c.kill()
        self._linux_step()
        return self.steps

    LINUX_STEP = "7. linux backend: a bridge deleted by hand comes back"

    def _linux_step(self) -> None:
        """The Network as a real bridge: made, deleted out of band, repaired
        by the next sweep (a 2 s resync), then deleted with the Network."""
        if os.geteuid() != 0:
            self._say(f"\n=== {self.LINUX_STEP}: skipped, the step needs root (CAP_NET_ADMIN)")
            return
        from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

        from network_controller.linux_names import bridge_name

        ns, name = f"kldemo-{uuid.uuid4().hex[:8]}", bridge_name("default/example-network")
        netns.create(ns)
        flags = ["--backend", "linux", "--netns", ns, "--resync", "2s"]
        c = ControllerProcess(self.kubeconfig, self.state_dir, flags)
        try:
            with IPRoute(netns=ns) as ipr:
                c.start()
                mark = c.mark()
                self.kubectl("apply", "-f", str(EXAMPLE))
                c.wait_for(lambda line: f"[linux] Creating bridge {name}" in line, mark)
                self._wait_ready(generation=1)
                before = _bridge(ipr, name)
                self._say(f"\n  bridge {name} in netns {ns}: {before}")
                mark = c.mark()
                ipr.link("del", index=before["index"])
                self._say(f"  deleted {name} by hand (RTM_DELLINK); waiting for the next sweep")
                c.wait_for(lambda line: "is out of sync" in line, mark)
                c.wait_for(
                    lambda line: "Successfully synced 'default/example-network'" in line, mark
                )
                after = _bridge(ipr, name)
                step = self._step(self.LINUX_STEP, mark, c)
                step.backend = {"before": before, "after": after}
                self._say(f"  bridge {name} again: {after}")
                self.kubectl("delete", "-f", str(EXAMPLE))
                c.wait_for(lambda line: f"[linux] Deleting bridge {name}" in line, mark)
                if c.terminate() != 0:
                    raise RuntimeError("the linux backend's controller did not exit 0")
        finally:
            c.kill()
            netns.remove(ns)

    def _wait_ready(self, generation: int, timeout: float = 30.0) -> None:
        """Wait (server-side) until status reports this generation Ready."""
        self.kubectl(
            "wait",
            f"--timeout={int(timeout)}s",
            f"--for=jsonpath={{.status.observedGeneration}}={generation}",
            "network/example-network",
            "-n",
            "default",
        )


def _bridge(ipr: Any, name: str) -> dict[str, Any]:
    """What ``ip -n NS addr show NAME`` would say, as a dict."""
    link = ipr.get_links(ifname=name)[0]
    addrs = [
        f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=link["index"])
    ]
    return {
        "index": link["index"],
        "up": bool(link["flags"] & 1),
        "alias": link.get_attr("IFLA_IFALIAS"),
        "addresses": [a for a in addrs if not a.startswith("fe80:")],
    }


def main() -> None:
    from kubeloop.testenv import ControlPlane

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kubeloop-demo-") as tmp:
        print("Starting the local control plane (kube-apiserver + etcd) ...", flush=True)
        with ControlPlane(Path(tmp) / "cluster") as cp:
            print(f"  up in {cp.startup_seconds:.1f}s, kubeconfig {cp.kubeconfig}", flush=True)
            Walkthrough(str(cp.kubeconfig), str(Path(tmp) / "state")).run()
    print(f"\nWalkthrough finished in {time.monotonic() - started:.0f}s; everything shut down.")


if __name__ == "__main__":
    main()
