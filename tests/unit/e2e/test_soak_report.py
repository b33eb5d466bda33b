"""The soak's verdict from its samples (issue 21's limits), without a
server: the slope is a least-squares fit after the warm-up, the thread
drift is measured from the first sample, and a burst that never drained
fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tools.e2e.soak import queue_lengths
from tools.e2e.soak_data import Burst, Sample, SoakRun, SoakSettings
from tools.e2e.soak_report import judge, slope_per_hour, window_slopes, write_report


def run_with(rss: list[float], threads: list[int], drains: list[float]) -> SoakRun:
    run = SoakRun(SoakSettings(minutes=len(rss) / 12, warmup=60.0), pid=1)
    run.samples = [
        Sample(t=5.0 * i, rss_mb=r, threads=n, workqueue_depth=0, informer_queued=0)
        for i, (r, n) in enumerate(zip(rss, threads, strict=True))
    ]
    run.bursts = [
        Burst(started=30.0 * i, writes=100, written=30.0 * i + 1, drained_after=d)
        for i, d in enumerate(drains)
    ]
    run.seconds = 5.0 * len(rss)
    return run


def test_slope_is_least_squares_per_hour() -> None:
    assert slope_per_hour([(0, 10.0), (3600, 12.0)]) == pytest.approx(2.0)
    # One spike moves a fit by its share, not to the spike.
    flat = [(60.0 * i, 50.0) for i in range(60)]
    flat[30] = (1800.0, 80.0)
    assert abs(slope_per_hour(flat)) < 1.0
    with pytest.raises(ValueError):
        slope_per_hour([(0, 1.0)])


def test_growth_during_the_warm_up_is_not_counted() -> None:
    warm = [30.0 + i for i in range(12)]  # a minute of growth
    steady = [42.0] * 48
    verdict = judge(run_with(warm + steady, [19] * 60, [1.0]))
    assert verdict.rss_slope == pytest.approx(0.0, abs=1e-9)
    assert verdict.rss_ok and verdict.threads_ok and verdict.drain_ok and verdict.ok


def test_a_leak_after_the_warm_up_misses() -> None:
    leaking = [40.0 + 0.01 * i for i in range(60)]  # 0.01 MB per 5 s: 7.2 MB/h
    verdict = judge(run_with(leaking, [19] * 60, [1.0]))
    assert verdict.rss_slope == pytest.approx(7.2)
    assert not verdict.rss_ok and not verdict.ok
    assert "MISSED" in verdict.text


def test_threads_may_move_two_from_the_first_sample() -> None:
    assert judge(run_with([40.0] * 60, [19] * 30 + [21] * 30, [1.0])).threads_ok
    assert not judge(run_with([40.0] * 60, [19] * 30 + [22] * 30, [1.0])).threads_ok
    assert not judge(run_with([40.0] * 60, [19] * 30 + [16] * 30, [1.0])).threads_ok


def test_a_burst_that_never_drained_misses() -> None:
    verdict = judge(run_with([40.0] * 60, [19] * 60, [1.0, -1.0]))
    assert verdict.bursts_drained == 1 and verdict.bursts == 2
    assert not verdict.drain_ok
    assert not judge(run_with([40.0] * 60, [19] * 60, [])).drain_ok  # no burst: nothing shown


def test_queue_lengths_sums_the_series_and_refuses_a_page_without_them() -> None:
    page = (
        'workqueue_depth{name="networks"} 3.0\n'
        'workqueue_depth{name="deployments"} 1.0\n'
        'informer_queued_items{group="apps",name="m",resource="deployments",version="v1"} 2.0\n'
    )
    assert queue_lengths(page) == (4.0, 2.0)
    with pytest.raises(ValueError, match="informer_queued_items"):
        queue_lengths('workqueue_depth{name="networks"} 0.0\n')


def test_the_report_writes_samples_charts_and_the_section(tmp_path: Path) -> None:
    run = run_with([40.0] * 60, [19] * 60, [0.5])
    verdict = write_report(run, tmp_path)
    assert verdict.ok
    saved = json.loads((tmp_path / "soak.json").read_text())
    assert len(saved["samples"]) == 60 and saved["bursts"][0]["drained_after"] == 0.5
    for slug in ("rss", "threads", "workqueue", "informer"):
        assert (tmp_path / "img" / f"soak-{slug}.png").read_bytes()[:4] == b"\x89PNG"
    doc = (tmp_path / "reliability.md").read_text()
    assert doc.startswith("## Soak\n")
    assert "| RSS slope after a 60 s warm-up" in doc and "![soak-rss](img/soak-rss.png)" in doc


def test_window_slopes_show_where_growth_stops() -> None:
    # 10 minutes of growth at 0.05 MB per 5 s (36 MB/h), then 10 flat.
    rss = [30.0 + 0.05 * i for i in range(120)] + [36.0] * 120
    run = run_with(rss, [19] * 240, [1.0])
    slopes = window_slopes(run.samples)
    assert len(slopes) == 4
    assert slopes[0] == pytest.approx(36.0) and slopes[1] == pytest.approx(36.0)
    assert slopes[2] == pytest.approx(0.0, abs=1e-9) and slopes[3] == pytest.approx(0.0, abs=1e-9)
