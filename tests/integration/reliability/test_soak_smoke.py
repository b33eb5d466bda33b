"""make soak, shortened for make test (about 50 s): the tool samples the
controller from outside, a burst fills its workqueue and drains, and the
thread count holds. The RSS slope needs the full run (make soak, 30 minutes);
here only that it was computed from samples taken after the warm-up."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tools.e2e.soak import Soak
from tools.e2e.soak_data import SoakSettings
from tools.e2e.soak_report import judge, write_report

pytestmark = pytest.mark.integration


def test_a_short_soak_samples_the_controller_and_sees_its_burst_drain(tmp_path: Path) -> None:
    settings = SoakSettings(
        minutes=0.75,
        rate=10.0,
        pool=400,
        burst_every=40.0,
        interval=2.0,
        warmup=15.0,
        seed=random.randrange(1 << 30),
    )
    run = Soak(settings, tmp_path / "run").run()
    verdict = judge(run)
    print(verdict.text)
    assert not run.errors, run.errors
    assert len(run.samples) >= 20  # every 2 s for 45 s
    assert all(s.rss_mb > 10 and s.threads > 1 for s in run.samples)
    assert run.ops.get("create", 0) > 50 and run.ops.get("update", 0) > 0
    assert len(run.bursts) == 1
    burst = run.bursts[0]
    assert burst.writes > 20
    assert burst.peak_workqueue > 0, burst  # the burst's polls saw the queue fill
    assert burst.drained_after >= 0, burst
    assert verdict.drain_ok and verdict.threads_ok, verdict.text
    assert verdict.fitted >= 10
    write_report(run, tmp_path / "docs")
    assert (tmp_path / "docs" / "img" / "soak-workqueue.png").exists()
