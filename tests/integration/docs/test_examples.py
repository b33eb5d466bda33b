"""The docs' examples are programs that work: every Python block marked
``<!-- docs-test: NAME -->`` on a page runs as written against testenv, as a
user would run it (its own process, stopped with SIGTERM), and does what the
page says; so does docs/examples/network_configmaps.py, which the migration
pages include beside its kopf and official-client twins (those two are
compiled: their libraries are not in the dev extra).

A marked block with no check here, or a check whose block is gone, fails
:func:`test_every_marked_block_has_a_check`: a page cannot claim a tested
example that is not.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client
from kubeloop.errors import NotFound
from kubeloop.runtime import controller_of
from tests.integration.support import REPO, network, wait_until

DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
WAIT = 60.0
MARK = re.compile(r"<!-- docs-test: ([a-z0-9-]+) -->\n```python\n(.*?)\n```", re.S)


@dataclass(frozen=True)
class Example:
    page: Path
    name: str
    code: str


def marked_examples() -> dict[str, Example]:
    """Every marked block of every page under docs/, by name (unique), and
    the programs in docs/examples/ the pages include."""
    found: dict[str, Example] = {
        "network-configmaps": Example(
            EXAMPLES / "network_configmaps.py",
            "network-configmaps",
            (EXAMPLES / "network_configmaps.py").read_text(),
        )
    }
    for page in sorted(DOCS.rglob("*.md")):
        for name, code in MARK.findall(page.read_text()):
            assert name not in found, f"{name} is marked twice ({found[name].page}, {page})"
            found[name] = Example(page, name, code + "\n")
    return found


@contextmanager
def running(
    example: Example, tmp_path: Path, args: list[str], kubeconfig: str
) -> Iterator[ControllerProcess]:
    """The example as ``tmp_path/<name>.py`` in a process of its own, with
    $KUBECONFIG set; SIGTERM must end it with 0 when the test is done."""
    program = tmp_path / f"{example.name.replace('-', '_')}.py"
    program.write_text(example.code)
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PYTHONUNBUFFERED": "1"}
    process = ControllerProcess(
        "", "", extra_args=args, env=env, command=[sys.executable, str(program)]
    )
    process.start()
    try:
        yield process
        assert process.terminate(WAIT) == 0, "\n".join(process.lines[-20:])
    finally:
        process.kill()


def configmap(name: str, data: dict[str, str], **metadata: object) -> dict[str, object]:
    return {"metadata": {"name": name, **metadata}, "data": data}


# -- one check per marked block ---------------------------------------------------


def check_getting_started(
    example: Example, client: Client, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    """docs/getting-started.md: a ConfigMap is reconciled (its ``reconciled
    <namespace>/<name>`` line), and again when it changes."""
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    line = f"reconciled {namespace}/hello"
    with running(example, tmp_path, [], kubeconfig) as process:
        cms.create(configmap("hello", {"greeting": "hi"}))
        process.wait_for(lambda text: text == line, 0, WAIT)
        mark = process.mark()
        cms.patch("hello", {"data": {"greeting": "hello"}})
        process.wait_for(lambda text: text == line, mark, WAIT)


def check_runtime_configmap_files(
    example: Example, client: Client, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    """docs/runtime.md section 1: a file per ConfigMap, with its data,
    removed when the ConfigMap is deleted."""
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    written = Path("/tmp/configmaps") / f"{namespace}.settings.json"
    args = [
        *("--kubeconfig", kubeconfig, "--namespace", namespace, "--no-leader-elect"),
        *("--metrics-bind-address", "0", "--health-probe-bind-address", "0"),
    ]
    try:
        with running(example, tmp_path, args, kubeconfig):
            cms.create(configmap("settings", {"mode": "fast"}))
            wait_until(written.exists, WAIT, f"{written} to be written")
            assert json.loads(written.read_text()) == {"mode": "fast"}
            cms.delete("settings")
            wait_until(lambda: not written.exists(), WAIT, f"{written} to be removed")
    finally:
        written.unlink(missing_ok=True)


def check_async_mark_seen(
    example: Example, client: Client, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    """docs/async.md: a ConfigMap labelled app=hello gets the annotation from
    the async reconcile; one without the label is not watched, so not marked."""
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)
    seen = "example.com/seen"

    def annotations(name: str) -> dict[str, str]:
        return cms.get(name)["metadata"].get("annotations") or {}

    with running(example, tmp_path, [], kubeconfig):
        cms.create(configmap("other", {"k": "v"}))
        cms.create(configmap("greeter", {"k": "v"}, labels={"app": "hello"}))
        wait_until(lambda: annotations("greeter").get(seen) == "true", WAIT, "the annotation")
        assert seen not in annotations("other")


def check_network_configmaps(
    example: Example, client: Client, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    """docs/migration-*.md: a Network gets a ConfigMap with its cidr and
    gateway, owned by it; a changed gateway and a hand edit are put right;
    the garbage collector deletes it with the Network."""
    nets = client.resource("samplecrd.k8s.io/v1", "networks", namespace=namespace, namespaced=True)
    cms = client.resource("v1", "configmaps", namespace=namespace, namespaced=True)

    def data() -> dict[str, str] | None:
        try:
            found: dict[str, str] = cms.get("n1-network").get("data") or {}
        except NotFound:
            return None
        return found

    args = [
        *("--kubeconfig", kubeconfig, "--namespace", namespace, "--no-leader-elect"),
        *("--metrics-bind-address", "0", "--health-probe-bind-address", "0"),
    ]
    with running(example, tmp_path, args, kubeconfig):
        net = nets.create(network("n1", "10.1.0.0/24", "10.1.0.1"))
        wanted = {"cidr": "10.1.0.0/24", "gateway": "10.1.0.1"}
        wait_until(lambda: data() == wanted, WAIT, "the Network's ConfigMap")
        owner = controller_of(cms.get("n1-network"))
        assert owner is not None and owner.uid == net["metadata"]["uid"]
        nets.patch("n1", {"spec": {"gateway": "10.1.0.9"}})
        wanted = {"cidr": "10.1.0.0/24", "gateway": "10.1.0.9"}
        wait_until(lambda: data() == wanted, WAIT, "the new gateway in the ConfigMap")
        cms.patch("n1-network", {"data": {"gateway": "by hand"}})
        wait_until(lambda: data() == wanted, WAIT, "the hand edit undone")
        nets.delete("n1")
        wait_until(lambda: data() is None, WAIT, "the ConfigMap collected with its Network")


def test_the_kopf_and_official_client_twins_compile() -> None:
    for name in ("network_configmaps_kopf.py", "network_configmaps_official.py"):
        path = EXAMPLES / name
        compile(path.read_text(), str(path), "exec")
        assert f'--8<-- "docs/examples/{name}"' in "".join(
            page.read_text() for page in DOCS.glob("migration-*.md")
        ), f"{name} is on no migration page"


Check = Callable[[Example, Client, str, str, Path], None]

CHECKS: dict[str, Check] = {
    "getting-started": check_getting_started,
    "runtime-configmap-files": check_runtime_configmap_files,
    "async-mark-seen": check_async_mark_seen,
    "network-configmaps": check_network_configmaps,
}


def test_every_marked_block_has_a_check() -> None:
    marked = marked_examples()
    assert set(marked) == set(CHECKS), (
        f"marked blocks without a check: {sorted(set(marked) - set(CHECKS))}; "
        f"checks without a block: {sorted(set(CHECKS) - set(marked))}"
    )


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_example_runs_as_the_page_says(
    name: str, client: Client, kubeconfig: str, namespace: str, tmp_path: Path, network_crd: str
) -> None:
    example = marked_examples()[name]
    CHECKS[name](example, client, kubeconfig, namespace, tmp_path)
