"""make chaos-sharded's quick run, as part of make test: three replicas with
``--shard-count 6`` on a server with the ShardedListAndWatch gate, the quick
preset's faults (SIGKILLs of replicas the seed chose among them), then the
invariants of tools.e2e.chaos: nothing lost, every Network in the backend
once, no orphan, and no key reconciled by two replicas at once through one
shard. About 50 seconds on a loaded 2-core machine."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tools.e2e.chaos import FAULT_KINDS, QUICK, Chaos, Settings, render

pytestmark = pytest.mark.integration


def test_chaos_quick_sharded_loses_nothing_and_never_overlaps(tmp_path: Path) -> None:
    seed = int(os.environ.get("KUBELOOP_CHAOS_SEED", random.randrange(1 << 30)))
    settings = Settings(seed=seed, **QUICK, shards=6)
    print(
        f"chaos seed {seed}; rerun: KUBELOOP_CHAOS_SEED={seed} "
        ".venv/bin/pytest -s tests/integration/chaos/test_chaos_sharded_quick.py"
    )
    report = Chaos(settings, tmp_path).run()
    text = render(report)
    print(text)
    planned = report.planned_counts
    assert planned["kill"] == QUICK["kills"]
    for kind in FAULT_KINDS:
        assert report.delivered_counts[kind] == planned[kind], f"{kind}: {text}"
    assert not report.fault_errors and not report.off_schedule, text
    assert report.convergence_seconds >= 0, text
    assert not report.orphans and not report.missing and not report.stale, text
    assert not report.not_ready and not report.stuck_deleting, text
    assert not report.crashes and not report.tracebacks, text
    # The overlap check read the replicas' reconciles (it cannot pass on none).
    assert report.reconciles > 0, text
    assert not report.overlapping, text
    assert not report.duplicated, text
    assert report.ok, text
