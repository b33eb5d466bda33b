"""make chaos-sharded's quick run, as part of make test: three replicas with
``--shard-count 6`` on a server with the ShardedListAndWatch gate, the quick
preset's faults (SIGKILLs of replicas the seed chose among them), then the
invariants of tools.e2e.chaos: nothing lost, every Network in the backend
once, no orphan, and no key reconciled by two replicas at once through one
shard. About 50 seconds on a loaded 2-core machine.

A fresh seed each run, and the seeds that once failed (``REGRESSION_SEEDS``)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.integration.chaos.quick import run_quick

pytestmark = pytest.mark.integration


#: Seeds that failed once, with what they found; each runs on every make test.
REGRESSION_SEEDS = {
    # Two replicas reconciled keys of shard 1 at once: a lease renewal's
    # requests (its throttle wait, its retries) outlived the renew deadline
    # while another replica took the expired Lease.
    732848305: "a renewal that outlived its deadline",
}


def _seeds() -> list[Any]:
    fresh = int(os.environ.get("KUBELOOP_CHAOS_SEED") or random.randrange(1 << 30))
    cases = [pytest.param(fresh, id="seed")]
    cases += [pytest.param(s, id=f"regression-{s}") for s in REGRESSION_SEEDS if s != fresh]
    return cases


@pytest.mark.parametrize("seed", _seeds())
def test_chaos_quick_sharded_loses_nothing_and_never_overlaps(tmp_path: Path, seed: int) -> None:
    report, text = run_quick(
        tmp_path, seed, "tests/integration/chaos/test_chaos_sharded_quick.py", shards=6
    )
    # The overlap check read the replicas' reconciles (it cannot pass on none).
    assert report.reconciles > 0, text
    assert not report.overlapping, text
    assert not report.duplicated, text
