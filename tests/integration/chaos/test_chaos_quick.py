"""make chaos-quick, as part of make test: a seeded random workload under
every fault kind, then the invariants (see network_controller.chaos)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from network_controller.chaos import QUICK, Chaos, Settings, render

pytestmark = pytest.mark.integration


def test_chaos_quick_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("KUBELOOP_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed {seed} (rerun: KUBELOOP_CHAOS_SEED={seed})")
    report = Chaos(Settings(seed=seed, **QUICK), tmp_path).run()
    text = render(report)
    print(text)
    assert report.faults["kill"] == QUICK["kills"]
    assert report.faults["restart"] <= QUICK["apiserver_restarts"]
    assert sum(report.ops.values()) >= QUICK["operations"]
    assert report.convergence_seconds >= 0, text
    assert not report.orphans and not report.missing and not report.stale, text
    assert not report.not_ready and not report.stuck_deleting, text
    assert not report.crashes and not report.tracebacks, text
    assert not report.bad_input_failures, text
    assert len(report.bad_input) == len(Chaos.BAD_SPECS) + 1
