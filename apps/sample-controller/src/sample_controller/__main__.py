"""``sample-controller``: upstream's ``main.go``.

main -> flags (``--kubeconfig``, ``--master``, ``-v`` and the runtime's
others) -> the manager (logging, client, cache, events) -> the Foo
controller -> run until SIGTERM/SIGINT -> exit code.
"""

from __future__ import annotations

import sys

from kubeloop.runtime import Manager, argument_parser
from sample_controller.controller import add_controller


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(
        "sample-controller", description="k8s.io/sample-controller's Foo controller, on kubeloop"
    )
    manager = Manager.from_args(parser.parse_args(argv))
    add_controller(manager)
    return manager.run()


if __name__ == "__main__":
    sys.exit(main())
