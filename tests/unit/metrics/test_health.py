"""HealthChecks: named checks, each a single word, reported as the kubelet
expects (``[+]name ok`` / ``[-]name failed``)."""

from __future__ import annotations

import pytest

from kubeloop.metrics import HealthChecks


@pytest.mark.parametrize("name", ["", "two words"])
def test_health_check_names_must_be_single_words(name: str) -> None:
    with pytest.raises(ValueError, match="check name"):
        HealthChecks("readyz").add(name, lambda: True)
