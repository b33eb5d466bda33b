"""klog-style log lines, so kubeloop controllers read like Kubernetes
components (``I1126 12:53:18.064409   27159 controller.py:229] message``), or
one JSON object per line for log pipelines (``--log-format json``)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime

_LEVEL_CHARS = {"DEBUG": "I", "INFO": "I", "WARNING": "W", "ERROR": "E", "CRITICAL": "F"}


class KlogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%m%d %H:%M:%S.%f")
        level = _LEVEL_CHARS.get(record.levelname, "I")
        line = (
            f"{level}{ts} {os.getpid():>7} {record.filename}:{record.lineno}] {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "caller": f"{record.filename}:{record.lineno}",
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup(verbosity: int = 0, fmt: str = "text") -> None:
    """Route every logger to stderr. ``-v`` 0-3 logs INFO and above, 4 and
    more add DEBUG (klog's V-levels, roughly)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KlogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 4 else logging.INFO)
    if verbosity < 6:  # the HTTP stack is noisy below that
        for noisy in ("httpx", "httpcore", "hpack", "h2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
