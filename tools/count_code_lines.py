"""Count the code lines of Python files: lines that hold code, not blank
lines, comments or docstrings.

::

    python -m tools.count_code_lines apps/network-controller/src/network_controller/controller.py
    #   182  apps/network-controller/src/network_controller/controller.py
    #   182  total

A docstring is a string expression standing alone as the first statement of
a module, class or function (what ``help()`` shows); every line it spans is
left out. Lines are read off the tokenizer, so a ``#`` inside a string is
code and a line continued inside brackets counts once per physical line.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from pathlib import Path

__all__ = ["count_code_lines", "main"]

_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            end = first.end_lineno or first.lineno
            lines.update(range(first.lineno, end + 1))
    return lines


def count_code_lines(source: str) -> int:
    """How many lines of ``source`` hold code.

    >>> count_code_lines('\"\"\"Doc.\"\"\"\\n\\n# note\\nx = 1  # one\\n')
    1
    """
    docstrings = _docstring_lines(ast.parse(source))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _NOT_CODE:
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if line not in docstrings:
                lines.add(line)
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="count_code_lines", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="Python files")
    args = parser.parse_args(argv)
    total = 0
    for path in args.paths:
        count = count_code_lines(path.read_text(encoding="utf-8"))
        total += count
        print(f"{count:6d}  {path}")
    print(f"{total:6d}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
