"""Generated sections of a Markdown document, each replaced by the run that
measures it and kept by every other.

docs/reliability.md holds figures from several long runs (the chaos suite,
the scale run, the soak); none of them may wipe out another's section, and
no section is typed by hand. A section starts at its ``## `` heading and
runs to the next ``## `` heading that is not one of its own (its
subsections use ``###``) or to the end. Headings are matched up to a colon
(``## Scale: the chaos suite at 10,000 Networks`` is the ``## Scale``
section, whatever the count)::

    text = replace_section(old, "## Soak\\n\\nRSS slope ...\\n")
"""

from __future__ import annotations

from pathlib import Path

#: The headings of the sections that runs other than the chaos suite write.
GENERATED = ("## Scale", "## Sharded", "## Soak")


def _key(heading: str) -> str:
    return heading.rstrip().split(":", 1)[0]


def _bounds(text: str, heading: str) -> tuple[int, int] | None:
    lines = text.splitlines(keepends=True)
    key = _key(heading)
    start = next(
        (i for i, line in enumerate(lines) if line.startswith("## ") and _key(line) == key), None
    )
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    offset = sum(len(line) for line in lines[:start])
    return offset, offset + sum(len(line) for line in lines[start:end])


def heading_of(section: str) -> str:
    first = section.splitlines()[0] if section else ""
    if not first.startswith("## "):
        raise ValueError(f"a section starts with a '## ' heading, not {first[:60]!r}")
    return first.rstrip()


def extract_section(text: str, heading: str) -> str | None:
    """The section under ``heading`` in ``text``, or None."""
    bounds = _bounds(text, heading)
    return None if bounds is None else text[bounds[0] : bounds[1]]


def replace_section(text: str, section: str) -> str:
    """``text`` with the section of ``section``'s heading replaced by it (or
    appended, after a blank line, when there is none yet)."""
    body = section.rstrip() + "\n\n"
    bounds = _bounds(text, heading_of(section))
    if bounds is None:
        return text.rstrip() + "\n\n" + body
    return text[: bounds[0]] + body + text[bounds[1] :]


def write_section(path: Path, section: str) -> None:
    """Replace (or add) ``section`` in the file at ``path``, creating it if need be."""
    old = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(old, section).lstrip("\n"))


def carry_over(old: str, new: str) -> str:
    """``new`` with every :data:`GENERATED` section ``old`` has (the chaos
    suite regenerates its document whole and must keep the others' figures)."""
    for heading in GENERATED:
        section = extract_section(old, heading)
        if section is not None:
            new = replace_section(new, section)
    return new
