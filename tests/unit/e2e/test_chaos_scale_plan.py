"""The scale run's plan (issue 21): its population is a pure function of
the seed, spread over the namespaces, and the workload's names are theirs;
the options that size a run are replayed by the printed command."""

from __future__ import annotations

import pytest
from tools.e2e.chaos import (
    FULL,
    NAMESPACES,
    SCALE,
    Settings,
    main,
    plan_faults,
    plan_objects,
    plan_operations,
    rerun_command,
)


def test_the_scale_preset_has_ten_thousand_networks_and_every_fault_kind() -> None:
    settings = Settings(seed=3, **SCALE)
    objects = plan_objects(settings)
    assert len(objects) == 10_000
    assert len({(op.namespace, op.name) for op in objects}) == 10_000
    assert {op.namespace for op in objects} == set(NAMESPACES)
    kinds = {f.kind for f in plan_faults(settings)}
    assert kinds == {"cut", "latency", "stall", "compact", "kill", "restart"}


def test_the_population_is_a_pure_function_of_the_seed() -> None:
    a, b = Settings(seed=9, **SCALE), Settings(seed=9, **SCALE)
    assert plan_objects(a) == plan_objects(b)
    assert plan_objects(a) != plan_objects(Settings(seed=10, **SCALE))


def test_the_workload_picks_among_the_population_names() -> None:
    settings = Settings(seed=1, **{**SCALE, "objects": 300, "operations": 2000})
    names = {(op.namespace, op.name) for op in plan_objects(settings)}
    ops = [op for op in plan_operations(settings) if op.kind in ("create", "update", "delete")]
    assert {(op.namespace, op.name) for op in ops} <= names
    # Not a handful of them: the workload spreads over the population.
    assert len({(op.namespace, op.name) for op in ops}) > 250


def test_runs_without_a_population_plan_as_before() -> None:
    settings = Settings(seed=4, **FULL)
    assert plan_objects(settings) == []
    assert settings.names_per_namespace == 12


def test_rerun_command_replays_the_scale_options() -> None:
    settings = Settings(seed=5, **{**SCALE, "objects": 2000, "duration": 60.0})
    assert rerun_command(settings) == (
        "python -m tools.e2e.chaos --scale --seed 5 --duration 60 --objects 2000"
    )
    assert rerun_command(Settings(seed=5, **SCALE)) == "python -m tools.e2e.chaos --scale --seed 5"


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate", "10", "--operations", "100"],
        ["--duration", "0"],
        ["--objects", "-1"],
        ["--quick", "--scale"],
    ],
)
def test_bad_sizes_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
