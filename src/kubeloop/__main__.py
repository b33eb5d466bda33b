"""``kubeloop`` command: ``kubeloop gen ...`` (see :mod:`kubeloop.gen`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = "usage: kubeloop gen [-h] CRD.yaml [CRD.yaml ...] [-o OUTPUT] [--version V] [--check]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["gen"]:
        from kubeloop.gen.__main__ import main as gen

        return gen(args[1:])
    print(USAGE, file=sys.stderr)
    return 0 if args[:1] in (["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main())
