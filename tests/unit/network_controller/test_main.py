"""The CLI's Go-style durations (``--resync 5s``, ``--backend-delay 500ms``)."""

from __future__ import annotations

import argparse

import pytest

from network_controller.__main__ import duration, parse_args


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1h2m3s", 3723.0),
        ("1.5s", 1.5),
        ("0s", 0.0),
        ("5", 5.0),  # plain seconds
        ("2.5", 2.5),
    ],
)
def test_duration_parses_go_style_durations(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "1m30", "-1s", "1 m", "ms5", "1d", "5sx"])
def test_duration_refuses_anything_else_with_an_argparse_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        duration(text)


def test_flags_take_durations_and_default_as_documented() -> None:
    args = parse_args(["--resync", "2s", "--backend-delay", "250ms"])
    assert (args.resync, args.backend_delay) == (2.0, 0.25)
    defaults = parse_args([])
    assert (defaults.resync, defaults.workers, defaults.namespace) == (30.0, 2, None)
    assert (defaults.backend_fail_rate, defaults.backend_delay) == (0.0, 0.0)


def test_a_bad_duration_flag_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--resync", "soon"])
    assert exc.value.code == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


def test_sharding_flags_default_to_off_and_refuse_the_per_node_linux_backend(
    capsys: pytest.CaptureFixture[str],
) -> None:
    defaults = parse_args([])
    assert (defaults.shard_count, defaults.shard_by, defaults.shard_selector) == (0, "uid", "auto")
    args = parse_args(
        ["--shard-count", "12", "--shard-by", "namespace", "--shard-selector", "client"]
    )
    assert (args.shard_count, args.shard_by, args.shard_selector) == (12, "namespace", "client")
    with pytest.raises(SystemExit):
        parse_args(["--backend", "linux", "--netns", "kl", "--shard-count", "3"])
    assert "cannot be sharded" in capsys.readouterr().err
