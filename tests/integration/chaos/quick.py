"""The quick chaos run as a test: run it for one seed, print the report and
check what every mode must hold; each test adds its mode's own checks.

The fault checks compare what was delivered with the plan fixed by the seed
before the run, kind by kind, so a fault that silently did not happen (or
raised) fails the test instead of leaving it green for the wrong reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.e2e.chaos import FAULT_KINDS, QUICK, Chaos, Report, Settings, render


def run_quick(tmp_path: Path, seed: int, test_file: str, **mode: Any) -> tuple[Report, str]:
    """The quick preset for ``seed`` (``mode``: e.g. ``shards=6``); the
    report and its text once the invariants every mode shares hold."""
    settings = Settings(seed=seed, **QUICK, **mode)
    print(f"chaos seed {seed}; rerun: KUBELOOP_CHAOS_SEED={seed} .venv/bin/pytest -s {test_file}")
    report = Chaos(settings, tmp_path).run()
    text = render(report)
    print(text)
    planned = report.planned_counts
    assert planned["kill"] == QUICK["kills"]
    assert not report.fault_errors and not report.off_schedule, text
    for kind in FAULT_KINDS:
        assert report.delivered_counts[kind] == planned[kind], f"{kind}: {text}"
    assert report.convergence_seconds >= 0, text
    assert not report.orphans and not report.missing and not report.stale, text
    assert not report.not_ready and not report.stuck_deleting, text
    assert not report.crashes and not report.tracebacks, text
    assert report.ok, text
    return report, text
