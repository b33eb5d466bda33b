"""KeyValueLogger's direct path to the klog handler writes the line that
logging's own path writes, and steps aside whenever anything else would
see the record."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.runtime import KeyValueLogger, setup_logging
from kubeloop.runtime.klog import LineHandler

STAMP = re.compile(r"^(.)\d{4} \d\d:\d\d:\d\d\.\d{6} ")


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every LogRecord made while the test runs (the direct path makes none)."""
    root = logging.getLogger()
    handlers, level, factory = list(root.handlers), root.level, logging.getLogRecordFactory()
    made: list[logging.LogRecord] = []

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append(factory(*args, **kwargs))
        return made[-1]

    logging.setLogRecordFactory(counting)
    yield made
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


def klog_to_string() -> io.StringIO:
    """setup_logging into a string, in the test's body: pytest adds its own
    handlers to root after the fixtures ran, and this takes them out."""
    stream = io.StringIO()
    setup_logging(0, "text", stream=stream)
    return stream


def unstamped(text: str) -> list[str]:
    return [STAMP.sub(r"\1 ", line) for line in text.splitlines()]


@pytest.mark.parametrize(
    ("call", "args", "pairs"),
    [
        ("info", ("Successfully synced '%s'", "ns/web"), {}),
        ("info", ("Reconciling",), {"attempt": 2, "ok": True, "note": 'say "hi"'}),
        ("debug", ("Reconcile started",), {}),
        ("warning", ("%d of %d", 1, 2), {"queue": "nets"}),
        ("error", ("failed: %s", ValueError("boom")), {"error": "x\ny"}),
    ],
)
def test_both_paths_write_the_same_line(
    records: list[logging.LogRecord],
    call: str,
    args: tuple[object, ...],
    pairs: dict[str, object],
    request: pytest.FixtureRequest,
) -> None:
    out = klog_to_string()
    logging.getLogger().setLevel(logging.DEBUG)
    logger = logging.getLogger(f"t.direct.{request.node.name}")  # gets a filter below
    log = KeyValueLogger(logger, controller="nets")
    for through_logging in (False, True):  # one source line: the same file:line
        if through_logging:
            logger.addFilter(lambda record: True)  # a filter must see a record
        getattr(log, call)(*args, **pairs)
        assert len(records) == through_logging  # the first took the direct path
    direct, classic = unstamped(out.getvalue())
    assert direct == classic
    assert "test_klog_direct_path.py:" in direct


def test_a_second_handler_gets_the_record_and_the_klog_line_is_still_written(
    records: list[logging.LogRecord], caplog: pytest.LogCaptureFixture
) -> None:
    out = klog_to_string()
    logging.getLogger().addHandler(caplog.handler)
    with caplog.at_level(logging.INFO):
        KeyValueLogger(logging.getLogger("t.caplog"), controller="nets").info("hello", n=1)
    (record,) = [r for r in caplog.records if r.name == "t.caplog"]
    assert record.getMessage() == "hello" and record.kvs == {"controller": "nets", "n": 1}  # type: ignore[attr-defined]
    assert unstamped(out.getvalue())[-1].endswith('] "hello" controller="nets" n=1')


def test_levels_are_honoured_on_the_direct_path(records: list[logging.LogRecord]) -> None:
    out = klog_to_string()
    log = KeyValueLogger(logging.getLogger("t.levels"))
    log.debug("not at INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, LineHandler)
    handler.setLevel(logging.WARNING)
    log.info("below the handler's level")
    log.warning("written")
    logging.getLogger("t.levels").disabled = True
    log.error("disabled logger")
    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == ["written"]
    assert [r.getMessage() for r in records] == ["below the handler's level"]


def test_a_bad_format_is_reported_as_logging_reports_it(
    records: list[logging.LogRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    out = klog_to_string()
    KeyValueLogger(logging.getLogger("t.bad")).info("%d keys", "many")
    assert out.getvalue() == ""
    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_mapping_argument_is_formatted_by_name(records: list[logging.LogRecord]) -> None:
    out = klog_to_string()
    KeyValueLogger(logging.getLogger("t.map")).info("%(key)s done", {"key": "ns/a"})
    assert out.getvalue().rstrip().endswith("] ns/a done")


def test_logging_keywords_take_logging_path(records: list[logging.LogRecord]) -> None:
    out = klog_to_string()
    log = KeyValueLogger(logging.getLogger("t.exc"))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.error("failed", exc_info=True)
    first, *rest = out.getvalue().splitlines()
    assert first.endswith('] "failed"') or first.endswith("] failed")
    assert "test_klog_direct_path.py:" in first
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "RuntimeError: boom"
