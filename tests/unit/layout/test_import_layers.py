"""The layer order, read from the import graph of ``src/``.

Bottom to top (docs/architecture in the README, "Layers")::

    errors, clock, _lazy, _locks < _prometheus < typed < gen < workqueue < client < cache
                  < events, leaderelection < metrics < runtime < kubeloop.__main__

``testenv`` stands beside the library and may use only ``client`` and
``errors``; of the library only the ``kubeloop`` command uses it.
Applications (``network_controller``), tools and tests sit above everything
and nothing in the library imports them.

Every import counts, including those under ``if TYPE_CHECKING:`` and inside
functions: a lazy import hides a dependency from the reader, not from the
design. A module of ``kubeloop`` missing from ``LAYERS`` fails the test, so a
new package has to be placed on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"
LIBRARY = SRC / "kubeloop"
APPS = SRC.parent / "apps"

#: Each layer of the library, bottom first; a module may import its own layer
#: and those below it.
LAYERS: list[tuple[str, ...]] = [
    ("kubeloop", "kubeloop.errors", "kubeloop.clock", "kubeloop._lazy", "kubeloop._locks"),
    ("kubeloop._prometheus",),
    ("kubeloop.typed",),
    ("kubeloop.gen",),
    ("kubeloop.workqueue",),
    ("kubeloop.client",),
    ("kubeloop.cache",),
    ("kubeloop.events", "kubeloop.leaderelection"),
    ("kubeloop.metrics",),
    ("kubeloop.runtime",),
    ("kubeloop.__main__",),
]
#: Beside the stack: the layers each of these may use, besides itself.
SIDE: dict[str, tuple[str, ...]] = {"kubeloop.testenv": ("kubeloop.client", "kubeloop.errors")}
#: Above everything: the library never imports these.
ABOVE = ("network_controller", "sample_controller", "tools", "tests", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in the file of module
    ``name`` (default: the module at ``path`` under src/); ``from a import b``
    names ``a.b`` when ``a/b`` is a module, else ``a``."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if _is_module(sub) else base


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_of(module: str) -> str | None:
    """The most specific entry of LAYERS or SIDE holding ``module``."""
    names = [n for layer in LAYERS for n in layer] + list(SIDE)
    owners = [n for n in names if module == n or module.startswith(n + ".")]
    owners = [n for n in owners if n != "kubeloop" or module == "kubeloop"]
    return max(owners, key=len) if owners else None


def rank(layer: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if layer in names)


def library_modules() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def graph() -> dict[str, set[str]]:
    """Library module -> library modules it imports."""
    edges: dict[str, set[str]] = {}
    for path in library_modules():
        edges[module_name(path)] = {
            target for _, target in imports_of(path) if target.split(".")[0] == "kubeloop"
        }
    return edges


def violations(path: Path, source: str | None = None) -> list[str]:
    """Why the imports of one library module break the order, if they do
    (``source``: its module name, when the file is not under src/)."""
    source = source or module_name(path)
    own = layer_of(source)
    if own is None:
        return [f"{source}: in no layer; place it in LAYERS"]
    found = []
    for line, target in imports_of(path, source):
        top = target.split(".")[0]
        where = f"{source}:{line} imports {target}"
        if top in ABOVE:
            found.append(f"{where}: the library never imports an application, tool or test")
            continue
        if top != "kubeloop":
            continue
        theirs = layer_of(target)
        if theirs is None:
            found.append(f"{where}: {target} is in no layer")
        elif own in SIDE:
            if theirs != own and theirs not in SIDE[own]:
                found.append(f"{where}: {own} may use only {', '.join(SIDE[own])}")
        elif theirs in SIDE and own != "kubeloop.__main__":
            found.append(f"{where}: only kubeloop.__main__ uses {theirs}")
        elif theirs not in SIDE and rank(theirs) > rank(own):
            found.append(f"{where}: {theirs} is above {own}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_its_layer_and_below(path: Path) -> None:
    assert violations(path) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(graph()) == []


def application_modules() -> list[Path]:
    return sorted(APPS.glob("*/src/**/*.py"))


def test_the_library_source_holds_only_the_library() -> None:
    assert sorted(p.name for p in SRC.iterdir() if not p.name.endswith(".egg-info")) == ["kubeloop"]


@pytest.mark.parametrize("path", application_modules(), ids=lambda p: str(p.relative_to(APPS)))
def test_an_application_uses_only_the_library(path: Path) -> None:
    """An application ships alone: it may import kubeloop and its own
    package, never the harness, the tests, the benchmarks or another app."""
    own = path.relative_to(APPS).parts[2]  # <app>/src/<package>/...
    others = {p.name for p in APPS.glob("*/src/*") if p.is_dir()} - {own}
    for line, target in imports_of(path, own):
        top = target.split(".")[0]
        assert top not in ("tools", "tests", "bench", *others), (
            f"{path.relative_to(APPS)}:{line} imports {target}: applications ship alone"
        )


# -- the checker itself -----------------------------------------------------
def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom kubeloop.cache import SharedInformerFactory\n")
    assert violations(probe, "kubeloop.client._probe") == [
        "kubeloop.client._probe:2 imports kubeloop.cache: kubeloop.cache is above kubeloop.client"
    ]


def test_testenv_may_use_only_client_and_errors(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from kubeloop.errors import KubeloopError\nimport kubeloop.cache.store\n")
    assert violations(probe, "kubeloop.testenv._probe") == [
        "kubeloop.testenv._probe:2 imports kubeloop.cache.store: "
        "kubeloop.testenv may use only kubeloop.client, kubeloop.errors"
    ]


def test_a_module_in_no_layer_is_reported(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("")
    assert violations(probe, "kubeloop.newthing") == [
        "kubeloop.newthing: in no layer; place it in LAYERS"
    ]


def test_a_circle_is_reported() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
