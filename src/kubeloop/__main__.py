"""The ``kubeloop`` command.

Subcommands, each also runnable as its own module:

- ``kubeloop gen CRD.yaml -o models.py``: typed models of CRDs
  (:mod:`kubeloop.gen`, ``python -m kubeloop.gen``);
- ``kubeloop testenv up``: the local control plane
  (:mod:`kubeloop.testenv`, ``python -m kubeloop.testenv``).

Example::

    $ kubeloop --help
    $ kubeloop gen config/crd/networks.samplecrd.k8s.io.yaml -o models.py
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kubeloop import __version__

#: subcommand -> one-line help; each parses its own arguments.
SUBCOMMANDS = {
    "gen": "write typed models (msgspec Structs) of CRDs",
    "testenv": "build or run the local control plane (kube-apiserver + etcd)",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kubeloop",
        description="kubeloop: a toolkit for writing Kubernetes controllers in Python.",
        epilog="Run 'kubeloop COMMAND --help' for a command's own options.",
    )
    p.add_argument("--version", action="version", version=f"kubeloop {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help in SUBCOMMANDS.items():
        sub.add_parser(name, help=help, add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] and args[0] in SUBCOMMANDS:
        command, rest = args[0], args[1:]
        if command == "gen":
            from kubeloop.gen.__main__ import main as gen

            return gen(rest)
        from kubeloop.testenv.__main__ import main as testenv

        testenv(rest)
        return 0
    parser().parse_args(args)  # prints help or a usage error and exits
    return 2


if __name__ == "__main__":
    sys.exit(main())
