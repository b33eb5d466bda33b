"""tools/count_code_lines: blank lines, comments and docstrings are not code."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tools.count_code_lines import count_code_lines, main


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_blank_lines_comments_and_docstrings_are_not_counted() -> None:
    source = code(
        '''
        """Module docstring,
        on two lines."""

        # a comment
        import os  # a trailing comment is on a code line


        class A:
            """Class docstring."""

            def f(self) -> str:
                """Function
                docstring."""
                return os.sep
        '''
    )
    assert count_code_lines(source) == 4  # import, class, def, return


def test_a_string_that_is_not_a_docstring_is_code() -> None:
    source = code(
        '''
        x = 1
        """Not a docstring: not the first statement."""
        y = """two
        lines"""
        '''
    )
    assert count_code_lines(source) == 4


def test_a_hash_inside_a_string_is_code_and_continued_lines_count_each() -> None:
    source = code(
        """
        s = "# not a comment"
        t = (
            1,
            # inside brackets
            2,
        )
        """
    )
    assert count_code_lines(source) == 5


def test_an_empty_file_has_no_code() -> None:
    assert count_code_lines("") == 0
    assert count_code_lines('"""Only a docstring."""\n') == 0


def test_main_prints_each_file_and_the_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\ny = 2\n")
    b.write_text("# nothing\nz = 3\n")
    assert main([str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["2", str(a)], ["1", str(b)], ["3", "total"]]
