"""The walkthrough users see in ``make demo``, asserted step by step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tools.e2e.walkthrough import Walkthrough

from kubeloop.testenv import ControlPlane

pytestmark = pytest.mark.integration


def test_walkthrough_creates_updates_and_deletes_the_actual_network(tmp_path: Path) -> None:
    # Its own control plane: the walkthrough deletes and re-applies the CRD.
    with ControlPlane(tmp_path / "cluster") as cp:
        steps = Walkthrough(str(cp.kubeconfig), str(tmp_path / "state"), echo=False).run()
    started, recovered, created, updated, deleted, stopped, *linux = steps

    assert any("failed to list" in line and "networks" in line for line in started.log_lines)
    assert started.backend == {}
    assert any('"Starting workers" controller="networks"' in line for line in recovered.log_lines)

    assert any(
        "[Neutron] Creating network default/example-network cidr=192.168.0.0/16 "
        "gateway=192.168.0.1" in line
        for line in created.log_lines
    )
    assert any(
        "Successfully synced 'default/example-network'" in line for line in created.log_lines
    )
    net = created.backend["default/example-network"]
    assert (net["cidr"], net["gateway"]) == ("192.168.0.0/16", "192.168.0.1")
    assert "True" in created.kubectl_output  # the Ready column

    assert any(
        "[Neutron] Updating network default/example-network cidr=192.168.0.0/16 "
        "gateway=192.168.1.1" in line
        for line in updated.log_lines
    )
    after = updated.backend["default/example-network"]
    assert (after["cidr"], after["gateway"]) == ("192.168.0.0/16", "192.168.1.1")
    assert after["id"] == net["id"]  # updated in place, not recreated

    assert any(
        "[Neutron] Deleting network default/example-network" in line for line in deleted.log_lines
    )
    assert deleted.backend == {}
    assert any("Shut down cleanly" in line for line in stopped.log_lines)

    # As root (CI), the linux backend's step: the bridge deleted by hand is
    # made again (a new ifindex) with the same address and alias.
    assert len(linux) == (1 if os.geteuid() == 0 else 0)
    for step in linux:
        before, after = step.backend["before"], step.backend["after"]
        assert before["addresses"] == after["addresses"] == ["192.168.0.1/16"]
        assert before["index"] != after["index"] and after["up"]
        assert after["alias"] == before["alias"] and "default/example-network" in after["alias"]
        assert any("is out of sync" in line for line in step.log_lines)
