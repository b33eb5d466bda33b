"""docs/reliability.md's generated sections: a run replaces its own, keeps
the others', and the chaos suite's whole-document rewrite keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.e2e.doc_sections import carry_over, extract_section, replace_section, write_section

DOC = "# Reliability\n\nintro\n\n## Security\n\nnotes\n\n## Soak\n\nold soak\n\n### Charts\n\nc\n"


def test_a_section_is_replaced_with_its_subsections_and_the_rest_kept() -> None:
    new = replace_section(DOC, "## Soak\n\nnew soak\n")
    assert new == "# Reliability\n\nintro\n\n## Security\n\nnotes\n\n## Soak\n\nnew soak\n\n"


def test_a_section_in_the_middle_keeps_what_follows() -> None:
    new = replace_section(DOC, "## Security\n\nfresh\n")
    assert "## Security\n\nfresh\n\n## Soak\n\nold soak" in new
    assert "notes" not in new


def test_a_missing_section_is_appended() -> None:
    new = replace_section(DOC, "## Scale\n\nfigures")
    assert new.startswith(DOC.rstrip())
    assert new.endswith("\n\n## Scale\n\nfigures\n\n")


def test_a_section_without_a_level_two_heading_is_refused() -> None:
    with pytest.raises(ValueError, match="heading"):
        replace_section(DOC, "# Soak\n")


def test_the_chaos_rewrite_keeps_the_scale_and_soak_sections() -> None:
    old = replace_section(DOC, "## Scale\n\nscale figures\n")
    fresh = "# Reliability\n\nnew chaos figures\n\n## Security\n\nnotes\n"
    kept = carry_over(old, fresh)
    assert "new chaos figures" in kept and "intro" not in kept
    assert extract_section(kept, "## Soak") == "## Soak\n\nold soak\n\n### Charts\n\nc\n\n"
    assert "scale figures" in (extract_section(kept, "## Scale") or "")


def test_write_section_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "reliability.md"
    write_section(path, "## Soak\n\nfirst\n")
    write_section(path, "## Soak\n\nsecond\n")
    assert path.read_text() == "## Soak\n\nsecond\n\n"


def test_headings_match_up_to_a_colon() -> None:
    old = replace_section(DOC, "## Scale: the chaos suite at 10,000 Networks\n\nfirst\n")
    new = replace_section(old, "## Scale: the chaos suite at 2,000 Networks\n\nsecond\n")
    assert new.count("## Scale") == 1 and "second" in new and "first" not in new
    kept = carry_over(new, "# Reliability\n\nfresh\n")
    assert "## Scale: the chaos suite at 2,000 Networks\n\nsecond" in kept
    # Another heading that merely starts the same is another section.
    assert replace_section("## Scaled\n\nx\n", "## Scale\n\ny\n") == (
        "## Scaled\n\nx\n\n## Scale\n\ny\n\n"
    )
