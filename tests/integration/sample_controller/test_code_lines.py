"""The issue's aim: the controller in under 150 code lines (upstream's
controller.go and main.go hold about 300, plus a generated clientset,
informers and listers)."""

from __future__ import annotations

from tools.count_code_lines import count_code_lines

from tests.integration.support import REPO

PACKAGE = REPO / "apps" / "sample-controller" / "src" / "sample_controller"


def test_the_sample_controller_is_under_150_code_lines() -> None:
    total = sum(count_code_lines(p.read_text(encoding="utf-8")) for p in PACKAGE.glob("*.py"))
    assert 0 < total < 150, total
