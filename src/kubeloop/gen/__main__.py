"""``kubeloop gen`` / ``python -m kubeloop.gen``: write typed models of CRDs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from kubeloop.gen import SchemaError, Source, generate


def _display(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, so
    the header does not depend on where the checkout is."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _sources(paths: Sequence[str]) -> list[Source]:
    sources = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
        crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
        if not crds:
            raise SchemaError(f"{path}: no CustomResourceDefinition in it")
        sources += [Source(_display(path), crd) for crd in crds]
    return sources


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kubeloop gen", description="Write typed models (msgspec Structs) of CRDs."
    )
    p.add_argument("crds", nargs="+", metavar="CRD.yaml", help="CRD manifests")
    p.add_argument("-o", "--output", help="the module to write (default: standard output)")
    p.add_argument("--version", help="the CRD version to model (default: the storage version)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if OUTPUT would change"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = ["kubeloop", "gen", *(_display(p) for p in args.crds)]
    if args.output:
        command += ["-o", _display(args.output)]
    if args.version:
        command += ["--version", args.version]
    try:
        source = generate(_sources(args.crds), command=" ".join(command), version=args.version)
    except (OSError, SchemaError, yaml.YAMLError) as err:
        print(f"kubeloop gen: {err}", file=sys.stderr)
        return 2
    if args.check:
        if not args.output:
            print("kubeloop gen: --check needs --output", file=sys.stderr)
            return 2
        current = Path(args.output).read_text() if os.path.exists(args.output) else None
        if current != source:
            print(f"kubeloop gen: {args.output} is out of date; regenerate it", file=sys.stderr)
            return 1
        return 0
    if args.output:
        Path(args.output).write_text(source)
    else:
        sys.stdout.write(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
