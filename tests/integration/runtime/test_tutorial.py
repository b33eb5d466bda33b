"""docs/tutorial.md section 1 is a program that works: its code block runs
as written against testenv, writes a file per ConfigMap, removes it on
delete, and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from kubeloop.client import Client
from tests.integration.support import REPO, wait_until

from .conftest import WAIT, configmap

TUTORIAL = REPO / "docs" / "tutorial.md"


def section_1_program() -> str:
    text = TUTORIAL.read_text()
    section = text[text.index("## 1.") : text.index("## 2.")]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "section 1 has no python block"
    return block.group(1) + "\nif __name__ == '__main__':\n    raise SystemExit(main())\n"


def test_the_tutorials_controller_runs(
    client: Client, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    program = tmp_path / "configmap_files.py"
    program.write_text(section_1_program())
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    written = Path("/tmp/configmaps") / f"{namespace}.settings.json"
    proc = subprocess.Popen(
        [
            *(sys.executable, str(program), "--kubeconfig", kubeconfig, "--namespace", namespace),
            *("--no-leader-elect", "--metrics-bind-address", "0"),
            *("--health-probe-bind-address", "0"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cms.create(configmap("settings", {"mode": "fast"}))
        wait_until(written.exists, WAIT, f"{written} to be written")
        assert json.loads(written.read_text()) == {"mode": "fast"}
        cms.delete("settings")
        wait_until(lambda: not written.exists(), WAIT, f"{written} to be removed")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=WAIT)
        written.unlink(missing_ok=True)
