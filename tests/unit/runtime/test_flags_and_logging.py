"""The standard flags, klog and JSON lines, and the HTTP loggers' level."""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from kubeloop.runtime import (
    KeyValueLogger,
    ReconcileMetrics,
    argument_parser,
    duration,
    setup_logging,
)
from kubeloop.runtime.klog import LineHandler


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "h2", "hpack")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def test_defaults_are_controller_runtimes_before_v0_21() -> None:
    args = argument_parser("foo-controller").parse_args([])
    assert (args.kube_api_qps, args.kube_api_burst) == (20.0, 30)
    assert args.leader_elect is None and args.leader_elect_id == "foo-controller"
    assert (args.leader_elect_lease_duration, args.leader_elect_renew_deadline) == (15.0, 10.0)
    assert args.leader_elect_retry_period == 2.0
    assert args.graceful_shutdown_timeout == 30.0
    assert args.metrics_bind_address == ":8443" and args.manager_name == "foo-controller"
    assert args.metrics_secure is True and args.metrics_cert_dir is None
    assert args.health_probe_bind_address == ":8081"


def test_users_extend_the_parser() -> None:
    parser = argument_parser("foo-controller")
    parser.add_argument("--foo-image", default="nginx")
    args = parser.parse_args(
        ["--foo-image", "busybox", "--kubeconfig", "/k", "-v", "4", "--no-leader-elect"]
    )
    assert (args.foo_image, args.kubeconfig, args.verbosity, args.leader_elect) == (
        "busybox",
        "/k",
        4,
        False,
    )


def test_durations() -> None:
    assert duration("1m30s") == 90.0 and duration("500ms") == 0.5 and duration("2") == 2.0
    with pytest.raises(argparse.ArgumentTypeError):
        duration("1 minute")


@pytest.mark.parametrize(
    ("argv", "secure"),
    [
        ([], True),
        (["--metrics-secure"], True),
        (["--metrics-secure=false"], False),
        (["--metrics-secure", "False"], False),
        (["--metrics-secure=true"], True),
    ],
)
def test_metrics_secure_reads_as_go_flags_do(argv: list[str], secure: bool) -> None:
    assert argument_parser("c").parse_args(argv).metrics_secure is secure


def test_metrics_secure_refuses_a_word_that_is_not_a_boolean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        argument_parser("c").parse_args(["--metrics-secure=nope"])
    assert "invalid boolean 'nope'" in capsys.readouterr().err


def test_klog_text_lines_carry_the_bound_pairs(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging(0, "text", stream=out)
    log = KeyValueLogger(logging.getLogger("t"), controller="foos")
    log.with_values(name="web").info("Reconciling", attempt=2)
    logging.getLogger("t").warning("plain %s", "line")
    first, second = out.getvalue().splitlines()
    assert re.fullmatch(
        r"I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ test_flags_and_logging\.py:\d+\] "
        r'"Reconciling" controller="foos" name="web" attempt=2',
        first,
    ), first
    assert second.startswith("W") and second.endswith("] plain line")


def test_json_lines(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging(0, "json", stream=out)
    KeyValueLogger(logging.getLogger("t"), controller="foos").error("failed", error="boom")
    doc = json.loads(out.getvalue())
    assert doc["msg"] == "failed" and doc["level"] == "error"
    assert (doc["controller"], doc["error"], doc["logger"]) == ("foos", "boom", "t")


@pytest.mark.parametrize("verbosity", [0, 4, 10])
def test_http_loggers_stay_at_warning_at_every_verbosity(
    restore_logging: None, verbosity: int
) -> None:
    setup_logging(verbosity, "text", stream=io.StringIO())
    for name in ("httpx", "httpcore", "h2", "hpack"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    root = logging.getLogger().level
    assert root == (logging.DEBUG if verbosity >= 4 else logging.INFO)


def test_reconcile_metrics_use_controller_runtimes_names() -> None:
    registry = CollectorRegistry()
    metrics = ReconcileMetrics("foos", registry)
    metrics.set_max_concurrent_reconciles(2)
    metrics.observe("error", 0.2, terminal=True)
    metrics.observe("requeue_after", 0.1)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"controller": "foos", **labels})

    assert value("controller_runtime_reconcile_total", result="success") == 0  # initialised
    assert value("controller_runtime_reconcile_total", result="error") == 1
    assert value("controller_runtime_reconcile_total", result="requeue_after") == 1
    assert value("controller_runtime_reconcile_errors_total") == 1
    assert value("controller_runtime_terminal_reconcile_errors_total") == 1
    assert value("controller_runtime_reconcile_time_seconds_count") == 2
    assert value("controller_runtime_max_concurrent_reconciles") == 2
    assert value("controller_runtime_active_workers") == 0


def test_lines_stay_whole_through_a_pipe_when_threads_log_at_once() -> None:
    """Four threads logging into a pipe, some lines longer than PIPE_BUF:
    every line arrives whole. (A lock-free os.write of the short lines
    failed this on a loaded machine: a pipe may split a write longer than
    PIPE_BUF, and short lines landed inside a long one.)"""
    import os
    import threading

    from kubeloop.runtime.klog import KlogFormatter, LineHandler

    read_end, write_end = os.pipe()
    stream = open(write_end, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed below
    handler = LineHandler(stream)
    handler.setFormatter(KlogFormatter())
    log = logging.getLogger("kubeloop.test.pipe")
    log.propagate, log.handlers = False, [handler]
    log.setLevel(logging.INFO)
    chunks: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    long_text = "x" * 10_000  # longer than PIPE_BUF

    def work(n: int) -> None:
        for i in range(2000):
            log.info("line %d-%d %s", n, i, long_text if i % 500 == 0 else "end")

    writers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stream.close()
    reader.join(30)
    os.close(read_end)
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 8000
    pattern = re.compile(r"^I\d{4} [\d:.]+ +\d+ \S+:\d+\] line (\d)-(\d+) (end|x{10000})$")
    seen = set()
    for line in lines:
        m = pattern.match(line)
        assert m, line[:200]
        seen.add((m.group(1), m.group(2)))
    assert len(seen) == 8000


class _GatedStream(io.StringIO):
    """A stream whose first write blocks until ``gate`` is set (a slow reader)."""

    line_buffering = True

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_write = threading.Event()
        self.writes: list[str] = []

    def write(self, s: str) -> int:
        self.in_write.set()
        if not self.writes:
            assert self.gate.wait(10)
        self.writes.append(s)
        return super().write(s)


def _gated_logger(name: str) -> tuple[logging.Logger, _GatedStream, LineHandler]:
    stream = _GatedStream()
    handler = LineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(name)
    log.propagate, log.handlers, log.level = False, [handler], logging.INFO
    return log, stream, handler


def test_a_line_logged_during_a_write_is_written_by_the_writer() -> None:
    """The writer's thread writes what others queued while it wrote, in
    order and in one write; the others do not wait for it."""
    log, stream, _ = _gated_logger("kubeloop.test.coalesce")
    first = threading.Thread(target=log.info, args=("first",))
    first.start()
    assert stream.in_write.wait(10)
    others = [threading.Thread(target=log.info, args=(f"queued {i}",)) for i in range(3)]
    for t in others:
        t.start()
        t.join(10)
        assert not t.is_alive()  # returned while "first" is still being written
    assert stream.getvalue() == ""
    stream.gate.set()
    first.join(10)
    assert stream.writes == ["first\n", "queued 0\nqueued 1\nqueued 2\n"]


def test_loggers_wait_for_the_writer_once_too_many_lines_are_queued() -> None:
    log, stream, handler = _gated_logger("kubeloop.test.backpressure")
    handler.MAX_QUEUED = 2
    first = threading.Thread(target=log.info, args=("first",))
    first.start()
    assert stream.in_write.wait(10)
    for i in range(2):
        log.info("queued %d", i)  # returns at once
    blocked = threading.Thread(target=log.info, args=("third",))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # over MAX_QUEUED: it waits for the write in progress
    stream.gate.set()
    first.join(10)
    blocked.join(10)
    assert "".join(stream.writes) == "first\nqueued 0\nqueued 1\nthird\n"


def test_flush_writes_queued_lines() -> None:
    _, stream, handler = _gated_logger("kubeloop.test.flush")
    stream.gate.set()
    handler._queued.append("left behind\n")  # as if its writer had died mid-write
    handler.flush()
    assert stream.getvalue() == "left behind\n"
