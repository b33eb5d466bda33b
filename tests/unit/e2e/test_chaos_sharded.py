"""The sharded chaos mode's pure parts: reconciles read from klog lines, the
per-key overlap check across processes, the backend's duplicate creates,
the plan and rerun command, and its own report section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tools.e2e.chaos import QUICK, Report, Settings, duplicate_creates, main, render, rerun_command
from tools.e2e.doc_sections import carry_over
from tools.e2e.reconciles import Reconcile, clock_of, overlaps, parse_reconciles


def line(hms: str, message: str, key: str = "chaos-a/net-1", rid: str = "r1") -> str:
    ns, name = key.split("/")
    return (
        f'I1201 {hms}   4242 runner.py:300] "{message}" controller="networks" '
        f'namespace="{ns}" name="{name}" reconcileID="{rid}"'
    )


def test_a_reconcile_spans_its_first_to_its_last_line() -> None:
    lines = [
        line("18:00:01.000100", "Reconcile started"),
        "I1201 18:00:01.000200   4242 mock_backend.py:1] [Neutron] Creating network x",
        line("18:00:01.250000", "Reconcile successful"),
    ]
    (run,) = parse_reconciles(lines, 4242)
    assert run == Reconcile(4242, "networks", "chaos-a/net-1", 64801.0001, 64801.25, "r1", None)


def test_an_unfinished_reconcile_lasts_until_the_kill_or_forever() -> None:
    lines = [line("18:00:01.000000", "Reconcile started")]
    assert parse_reconciles(lines, 1)[0].end == float("inf")
    assert parse_reconciles(lines, 1, died=64802.5)[0].end == 64802.5


def test_clock_of_matches_the_klog_stamp() -> None:
    import time

    wall = time.time()
    t = time.localtime(wall)
    stamp = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{int(wall % 1 * 1e6):06d}"
    (run,) = parse_reconciles([line(stamp, "Reconcile started")], 1)
    assert abs(run.start - clock_of(wall)) < 1e-5


def run(
    pid: int, start: float, end: float, key: str = "chaos-a/net-1", shard: int | None = 2
) -> Reconcile:
    return Reconcile(pid, "networks", key, start, end, shard=shard)


def test_two_processes_on_one_key_at_once_overlap() -> None:
    a, b = run(1, 0.0, 2.0), run(2, 1.5, 3.0)
    assert overlaps([b, a]) == ([(a, b)], [])


def test_one_key_through_two_shards_is_told_apart() -> None:
    a, b = run(1, 0.0, 2.0, shard=1), run(2, 1.5, 3.0, shard=4)
    assert overlaps([a, b]) == ([], [(a, b)])


def test_an_unfinished_reconcile_overlaps_everything_after_it() -> None:
    a, b, c = run(1, 0.0, float("inf")), run(2, 5.0, 6.0), run(3, 9.0, 9.5)
    assert overlaps([a, b, c]) == ([(a, b), (a, c)], [])


def test_handoffs_other_keys_and_one_process_do_not_overlap() -> None:
    runs = [
        run(1, 0.0, 1.0),
        run(2, 1.0, 2.0),  # begins as the other ended: a handoff
        run(1, 3.0, 4.0),
        run(2, 0.5, 3.5, key="chaos-b/net-1"),
        run(3, 0.6, 0.7, key="chaos-c/net-1"),
        run(3, 0.65, 0.9, key="chaos-c/net-1"),  # same pid: the queue's business
    ]
    assert overlaps(runs) == ([], [])


def test_an_overlap_hidden_behind_a_long_reconcile_is_found() -> None:
    long, short, late = run(1, 0.0, 10.0), run(1, 11.0, 12.0), run(2, 9.0, 9.5)
    assert overlaps([long, short, late]) == ([(long, late)], [])


def test_creates_without_a_delete_between_are_duplicates(tmp_path: Path) -> None:
    log = tmp_path / "operations.log"
    ops = [
        {"op": "create", "key": "a/x", "pid": 1, "t": 1.0},
        {"op": "delete", "key": "a/x", "pid": 2, "t": 2.0},
        {"op": "create", "key": "a/x", "pid": 2, "t": 3.0},
        {"op": "update", "key": "a/y", "pid": 1, "t": 4.0},
        {"op": "create", "key": "a/y", "pid": 2, "t": 5.0},
        {"op": "create", "key": "a/x", "pid": 1, "t": 6.0},
    ]
    log.write_text("\n".join(map(json.dumps, ops)) + '\n{"op": "cre')  # torn last line
    assert duplicate_creates(log) == [
        "a/y created again by pid 2 at 5.0",
        "a/x created again by pid 1 at 6.0",
    ]
    assert duplicate_creates(tmp_path / "absent.log") == []


def test_the_sharded_run_replays_and_reports_in_its_own_section() -> None:
    settings = Settings(seed=7, **QUICK, shards=6)
    assert settings.replicas == 3 and Settings(seed=7, **QUICK).replicas == 2
    assert rerun_command(settings) == "python -m tools.e2e.chaos --quick --seed 7 --sharded 6"
    report = Report(settings, overlapping=["x"], duplicated=[])
    text = render(report)
    assert text.startswith("## Sharded: the chaos suite over 6 shards\n")
    assert "| keys reconciled by two replicas at overlapping times (one shard) | 1 |" in text
    assert not report.ok
    whole = carry_over("# R\n\n" + text, "# Reliability\n\nnew\n")
    assert "## Sharded: the chaos suite over 6 shards" in whole


@pytest.mark.parametrize("argv", [["--sharded", "-1"], ["--sharded", "6", "--scale"]])
def test_bad_sharded_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_a_key_the_shard_gate_skipped_is_not_a_reconcile() -> None:
    lines = [
        line("18:00:01.000000", "Reconcile started", rid="a"),
        line("18:00:01.000100", "Key not in a shard held here: skipped", rid="a"),
        line("18:00:01.000200", "Reconcile successful", rid="a"),
        line("18:00:02.000000", "Reconcile started", rid="b"),
        line("18:00:02.000100", "Shard entered", rid="b") + " shard=5",
        line("18:00:02.000300", "Reconcile successful", rid="b"),
    ]
    assert [(r.start, r.shard) for r in parse_reconciles(lines, 1)] == [(64802.0, 5)]
