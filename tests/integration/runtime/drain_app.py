"""A whole controller program as a user writes one, for the SIGTERM test:
``python -m tests.integration.runtime.drain_app --kubeconfig ... --namespace ...``.

Its reconcile prints ``start <name>`` and ``end <name>``; the ConfigMap
named ``slow`` takes three seconds, so a signal can arrive while it runs.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kubeloop.runtime import Context, Manager, argument_parser


def reconcile(ctx: Context[dict[str, Any]], cm: dict[str, Any] | None) -> None:
    print(f"start {ctx.name}", flush=True)
    if ctx.name == "slow":
        time.sleep(3.0)  # the work in flight when SIGTERM comes
    print(f"end {ctx.name}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = argument_parser("drain-app").parse_args(argv)
    manager = Manager.from_args(args)
    manager.controller(("v1", "ConfigMap"), reconcile)
    return manager.run()


if __name__ == "__main__":
    sys.exit(main())
