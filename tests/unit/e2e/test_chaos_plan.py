"""The chaos suite's plan and schedule, without a server: a printed seed
must replay the same writes with the same faults between the same pairs of
them (issue 13), and the quick run must carry every fault kind."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tools.e2e.chaos import (
    FAULT_KINDS,
    FULL,
    LASTING,
    LINUX_FAULT_KINDS,
    QUICK,
    Fault,
    OpClock,
    Settings,
    Step,
    Then,
    drive_faults,
    drive_workload,
    fault_steps,
    plan_faults,
    plan_operations,
    rerun_command,
)

REPO = Path(__file__).resolve().parents[3]
QUICK_SEEDS = range(200)


def quick(seed: int, **overrides: Any) -> Settings:
    return dataclasses.replace(Settings(seed=seed, **QUICK), **overrides)


def test_the_same_seed_gives_the_same_fault_schedule_and_operations() -> None:
    for seed in (0, 7, 123_456_789):
        assert plan_faults(quick(seed)) == plan_faults(quick(seed))
        assert plan_operations(quick(seed)) == plan_operations(quick(seed))


def test_different_seeds_give_different_schedules_and_operations() -> None:
    schedules = {tuple(plan_faults(quick(seed))) for seed in range(50)}
    operations = {tuple(plan_operations(quick(seed))) for seed in range(50)}
    assert len(schedules) == 50
    assert len(operations) == 50


def test_a_seed_replays_in_another_process_whatever_its_hash_seed() -> None:
    """The seed is printed in one process and replayed in another: the
    generators must not depend on hash() randomisation."""
    code = (
        "import json, sys; from tools.e2e.chaos import *; "
        "s = Settings(seed=int(sys.argv[1]), **QUICK); "
        "print(json.dumps([[str(f) for f in plan_faults(s)], "
        "[repr(o) for o in plan_operations(s)]]))"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run(
            [sys.executable, "-c", code, "4242"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        )
        outputs.append(json.loads(proc.stdout))
    here = [
        [str(f) for f in plan_faults(quick(4242))],
        [repr(o) for o in plan_operations(quick(4242))],
    ]
    assert outputs[0] == outputs[1] == here


def test_the_workload_does_not_depend_on_the_fault_settings() -> None:
    """One generator per purpose: more kills or faults must not reshuffle
    the writes (with one shared generator they would)."""
    base = plan_operations(quick(99))
    assert plan_operations(quick(99, kills=5, faults=30)) == base
    assert plan_operations(quick(99, apiserver_restarts=3, fault_ops=3)) == base


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_the_quick_schedule_has_every_kind_and_exact_kills_and_restarts(seed: int) -> None:
    plan = plan_faults(quick(seed))
    counts = Counter(f.kind for f in plan)
    assert set(counts) == set(FAULT_KINDS), counts
    assert min(counts.values()) >= 1
    assert counts["kill"] == QUICK["kills"]
    assert counts["restart"] == QUICK["apiserver_restarts"]
    assert len(plan) == QUICK["faults"]


@pytest.mark.parametrize("seed", range(20))
def test_the_full_schedule_has_every_kind_and_exact_kills_and_restarts(seed: int) -> None:
    plan = plan_faults(Settings(seed=seed, **FULL))
    counts = Counter(f.kind for f in plan)
    assert set(counts) == set(FAULT_KINDS)
    assert (counts["kill"], counts["restart"]) == (FULL["kills"], FULL["apiserver_restarts"])
    assert len(plan) == FULL["faults"]


@pytest.mark.parametrize("seed", range(50))
def test_faults_are_disjoint_and_inside_the_workload(seed: int) -> None:
    settings = quick(seed)
    plan = plan_faults(settings)
    lead = settings.operations // 20
    assert plan[0].at >= lead
    assert plan[-1].end <= settings.operations - lead
    for a, b in itertools.pairwise(plan):
        assert b.at >= a.end, (a, b)
    for f in plan:
        assert f.ops == (settings.fault_ops if f.kind in LASTING else 1)


def test_a_plan_that_cannot_fit_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="too few"):
        plan_faults(quick(1, operations=50))
    with pytest.raises(ValueError, match="cannot hold"):
        plan_faults(quick(1, faults=5))  # 2 kills + 1 restart leave 2 for 4 kinds


def test_overlapping_faults_are_refused_by_the_step_list() -> None:
    with pytest.raises(ValueError, match="overlap"):
        fault_steps([Fault(10, "stall", 12), Fault(15, "cut")])


def test_lasting_faults_are_lifted_at_their_end() -> None:
    steps = fault_steps([Fault(5, "cut"), Fault(6, "stall", 4), Fault(10, "kill")])
    assert [(s.index, s.fault.kind, s.phase) for s in steps] == [
        (5, "cut", "begin"),
        (6, "stall", "begin"),
        (10, "stall", "end"),
        (10, "kill", "begin"),
    ]


def test_rerun_command_names_the_preset_seed_and_override() -> None:
    assert rerun_command(quick(5)) == "python -m tools.e2e.chaos --quick --seed 5"
    assert rerun_command(Settings(seed=5, **FULL)) == "python -m tools.e2e.chaos --seed 5"
    assert rerun_command(quick(5, operations=300)).endswith("--seed 5 --operations 300")


def _interleave(seed: int, jitter: random.Random) -> list[str]:
    """Drive a real quick schedule with stand-ins for operations and faults
    on two threads, as Chaos does; return the order things happened in.
    ``jitter`` makes some steps and operations yield the GIL or finish late
    (a restart's start after the step is taken), to shake the timing."""
    settings = quick(seed)
    steps = fault_steps(plan_faults(settings))
    clock = OpClock()
    log: list[str] = []
    lock = threading.Lock()

    def record(entry: str) -> None:
        with lock:
            log.append(entry)

    def shake() -> None:
        # Timing noise, not synchronisation: the order must not depend on it.
        if jitter.random() < 0.1:
            time.sleep(jitter.random() / 1000)

    def run_op(i: int) -> None:
        shake()
        record(f"op {i}")

    def take_step(step: Step) -> Then:
        shake()
        record(f"{step.phase} {step.fault} at {clock.completed}")
        if step.fault.kind == "restart":

            def after() -> None:
                shake()
                record(f"after {step.fault}")

            return after
        return None

    faults = threading.Thread(target=drive_faults, args=(clock, steps, take_step))
    faults.start()
    drive_workload(clock, steps, settings.operations, run_op)
    faults.join(30)
    assert not faults.is_alive()
    return log


@pytest.mark.parametrize("seed", [3, 11, 2024])
def test_each_fault_step_happens_exactly_before_its_operation(seed: int) -> None:
    """The clock is what makes a schedule by operation index hold: every
    step is taken after operation index-1 and before operation index, and
    the log is the same on every run whatever the threads' timing."""
    settings = quick(seed)
    steps = fault_steps(plan_faults(settings))
    logs = [_interleave(seed, random.Random(run)) for run in range(3)]
    # Restart continuations overlap the workload (it runs on against the
    # stopped server), so compare the order of steps and operations only.
    ordered = [[e for e in log if not e.startswith("after ")] for log in logs]
    assert ordered[0] == ordered[1] == ordered[2]
    expected: list[str] = []
    pending = list(steps)
    for i in range(settings.operations):
        while pending and pending[0].index <= i:
            step = pending.pop(0)
            expected.append(f"{step.phase} {step.fault} at {i}")
        expected.append(f"op {i}")
    expected += [f"{s.phase} {s.fault} at {settings.operations}" for s in pending]
    assert ordered[0] == expected
    for log in logs:  # a continuation finishes before the next step begins
        for k, entry in enumerate(log):
            if entry.startswith("after "):
                begin = f"begin {entry.removeprefix('after ')} at "
                begun = max(j for j in range(k) if log[j].startswith(begin))
                assert not any(e.startswith(("begin", "end")) for e in log[begun + 1 : k])


def test_a_fault_thread_that_dies_does_not_hold_the_workload() -> None:
    """A step that raises still counts as taken, and the fault thread's end
    releases the workload, so a broken fault shows up in the report rather
    than as a hung run."""
    steps = fault_steps([Fault(2, "cut"), Fault(4, "kill")])
    clock = OpClock()
    ran: list[int] = []

    def take_step(step: Step) -> None:
        raise RuntimeError("fault failed")

    def guarded() -> None:
        with pytest.raises(RuntimeError):
            drive_faults(clock, steps, take_step)

    faults = threading.Thread(target=guarded)
    faults.start()
    drive_workload(clock, steps, 6, ran.append, step_timeout=30)
    faults.join(30)
    assert ran == list(range(6))
    assert clock.taken == 1 and clock.closed


@pytest.mark.parametrize("seed", range(50))
def test_a_linux_backend_run_adds_tampers_and_keeps_exact_kills_and_restarts(seed: int) -> None:
    plan = plan_faults(quick(seed, backend="linux"))
    counts = Counter(f.kind for f in plan)
    assert set(counts) == set(LINUX_FAULT_KINDS), counts
    assert (counts["kill"], counts["restart"]) == (QUICK["kills"], QUICK["apiserver_restarts"])
    assert len(plan) == QUICK["faults"]
    assert "--backend linux" in rerun_command(quick(seed, backend="linux"))
    # The mock's plans do not know the kind at all.
    assert "tamper" not in {f.kind for f in plan_faults(quick(seed))}
