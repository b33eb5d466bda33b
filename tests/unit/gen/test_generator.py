"""kubeloop gen: schema types become the right Python types, and the
generated module is valid, importable, formatted and stable."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Literal, get_type_hints

import msgspec
import pytest
import yaml

from kubeloop.gen import SchemaError, Source, generate
from kubeloop.gen.__main__ import main as gen_main
from kubeloop.gen._schema import pascal_case, singular, snake_case
from kubeloop.typed import Model, Resource

REPO = Path(__file__).resolve().parents[3]
NETWORK_CRD = "config/crd/networks.samplecrd.k8s.io.yaml"
NETWORK_MODELS = REPO / "apps" / "network-controller" / "src" / "network_controller" / "models.py"
_counter = itertools.count()


def crd(schema: dict[str, Any], kind: str = "Widget", scope: str = "Namespaced") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": scope,
            "names": {"plural": "widgets", "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A widget: something with many kinds of fields.",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size", "mode"],
            "properties": {
                "size": {"type": "integer", "description": "How big."},
                "ratio": {"type": "number"},
                "enabled": {"type": "boolean", "default": True},
                "mode": {"type": "string", "enum": ["Fast", "Slow"]},
                "policy": {"type": "string", "enum": ["Always", "Never"], "default": "Always"},
                "replicas": {"type": "integer", "default": 3},
                "weight": {"type": "number", "default": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"}},
                "emptyDefault": {"type": "array", "items": {"type": "string"}, "default": []},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {
                    "type": "object",
                    "additionalProperties": {"x-kubernetes-int-or-string": True},
                },
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "anything": {"x-kubernetes-preserve-unknown-fields": True},
                "note": {"type": "string", "nullable": True},
                "podCIDRs": {"type": "array", "items": {"type": "string"}},
                "class": {"type": "string"},
                "x-vendor": {"type": "string"},
                "backends": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["host"],
                        "properties": {
                            "host": {"type": "string"},
                            "tls": {
                                "type": "object",
                                "properties": {"secretName": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "phase": {"type": "string"},
                "tls": {"type": "object", "properties": {"expires": {"type": "string"}}},
            },
        },
    },
}


def load(source: str) -> types.ModuleType:
    """Import generated source as a module (msgspec resolves a model's
    annotations through ``sys.modules``, so it must be registered)."""
    name = f"generated_models_{next(_counter)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def widget() -> types.ModuleType:
    return load(generate([Source("widgets.yaml", crd(WIDGET_SCHEMA))]))


def hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def test_the_kind_is_a_resource_carrying_api_version_kind_plural_and_scope(
    widget: types.ModuleType,
) -> None:
    w = widget.Widget
    assert issubclass(w, Resource)
    assert (w.API_VERSION, w.KIND, w.PLURAL, w.NAMESPACED) == (
        "example.com/v1",
        "Widget",
        "widgets",
        True,
    )
    assert w.__doc__ == "A widget: something with many kinds of fields."
    cluster = load(generate([Source("w.yaml", crd(WIDGET_SCHEMA, scope="Cluster"))]))
    assert cluster.Widget.NAMESPACED is False


def test_scalar_enum_int_or_string_and_nullable_types(widget: types.ModuleType) -> None:
    h = hints(widget.WidgetSpec)
    assert h["size"] is int
    assert h["ratio"] == float | None
    assert h["enabled"] is bool
    assert h["mode"] == Literal["Fast", "Slow"]
    assert h["policy"] == Literal["Always", "Never"]
    assert h["port"] == int | str | None
    assert h["note"] == str | None


def test_arrays_maps_and_unknown_fields_map_to_lists_dicts_and_any(
    widget: types.ModuleType,
) -> None:
    h = hints(widget.WidgetSpec)
    assert h["tags"] == list[str] | None
    assert h["labels"] == dict[str, str] | None
    assert h["limits"] == dict[str, int | str] | None
    assert h["raw"] == dict[str, Any] | None
    assert h["anything"] is Any


def test_nested_objects_become_structs_named_after_their_path(widget: types.ModuleType) -> None:
    h = hints(widget.WidgetSpec)
    assert h["backends"] == list[widget.WidgetBackend] | None
    assert issubclass(widget.WidgetBackend, Model)
    # spec.backends[].tls and status.tls differ: the second gets its parent's name.
    assert hints(widget.WidgetBackend)["tls"] == widget.WidgetTls | None
    assert hints(widget.WidgetStatus)["tls"] == widget.WidgetStatusTls | None
    assert hints(widget.Widget)["spec"] is widget.WidgetSpec
    assert hints(widget.Widget)["status"] == widget.WidgetStatus | None


def test_required_fields_have_no_default_and_optional_ones_default_to_none(
    widget: types.ModuleType,
) -> None:
    with pytest.raises(TypeError, match="size"):
        widget.WidgetSpec(mode="Fast")
    spec = widget.WidgetSpec(size=1, mode="Fast")
    assert spec.ratio is None and spec.tags is None and spec.backends is None
    with pytest.raises(msgspec.ValidationError, match="host"):
        msgspec.json.decode(
            b'{"size": 1, "mode": "Fast", "backends": [{}]}', type=widget.WidgetSpec
        )


def test_schema_defaults_become_field_defaults_and_are_not_encoded(
    widget: types.ModuleType,
) -> None:
    spec = widget.WidgetSpec(size=1, mode="Fast")
    assert (spec.enabled, spec.policy, spec.replicas, spec.weight) == (True, "Always", 3, 1.0)
    assert spec.empty_default == []
    assert msgspec.json.decode(msgspec.json.encode(spec)) == {"size": 1, "mode": "Fast"}


def test_wire_names_survive_snake_case_attributes(widget: types.ModuleType) -> None:
    wire = {"size": 1, "mode": "Slow", "podCIDRs": ["10.0.0.0/8"], "class": "c", "x-vendor": "v"}
    spec = msgspec.json.decode(msgspec.json.encode(wire), type=widget.WidgetSpec)
    assert (spec.pod_cid_rs, spec.class_, spec.x_vendor) == (["10.0.0.0/8"], "c", "v")
    assert msgspec.json.decode(msgspec.json.encode(spec)) == wire


def test_enum_values_are_checked_when_decoding(widget: types.ModuleType) -> None:
    with pytest.raises(msgspec.ValidationError, match="mode"):
        msgspec.json.decode(b'{"size": 1, "mode": "Medium"}', type=widget.WidgetSpec)


def test_descriptions_become_docstrings() -> None:
    source = generate([Source("w.yaml", crd(WIDGET_SCHEMA))])
    assert '    size: int\n    """How big."""' in source
    assert '"""A widget: something with many kinds of fields."""' in source


def test_header_says_generated_from_what_and_by_which_command() -> None:
    source = generate([Source("crds/w.yaml", crd(WIDGET_SCHEMA))], command="kubeloop gen x")
    assert source.splitlines()[:3] == [
        "# Code generated by kubeloop gen. DO NOT EDIT.",
        "# Source: crds/w.yaml",
        "# Command: kubeloop gen x",
    ]


def test_not_a_crd_is_refused() -> None:
    with pytest.raises(SchemaError, match="not a CustomResourceDefinition"):
        generate([Source("d.yaml", {"kind": "Deployment"})])


def test_names() -> None:
    assert snake_case("networkID") == "network_id"
    assert snake_case("normalizedCIDR") == "normalized_cidr"
    assert snake_case("from") == "from_"
    assert pascal_case("networkID") == "NetworkID"
    assert singular("conditions") == "condition"
    assert singular("policies") == "policy"
    assert singular("addresses") == "address"


def test_the_committed_network_models_are_what_the_generator_makes() -> None:
    """Regenerating never drifts: edit the CRD, then run the Command in the header."""
    manifest = yaml.safe_load((REPO / NETWORK_CRD).read_text())
    command = (
        f"kubeloop gen {NETWORK_CRD} -o apps/network-controller/src/network_controller/models.py"
    )
    assert generate([Source(NETWORK_CRD, manifest)], command=command) == NETWORK_MODELS.read_text()


def test_cli_check_passes_on_the_committed_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert (
        gen_main(
            [
                NETWORK_CRD,
                "-o",
                "apps/network-controller/src/network_controller/models.py",
                "--check",
            ]
        )
        == 0
    )


def test_cli_writes_a_module_and_check_spots_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w.yaml").write_text(yaml.safe_dump(crd(WIDGET_SCHEMA)))
    assert gen_main(["w.yaml", "-o", "models.py"]) == 0
    text = Path("models.py").read_text()
    assert "# Command: kubeloop gen w.yaml -o models.py" in text
    assert gen_main(["w.yaml", "-o", "models.py", "--check"]) == 0
    Path("models.py").write_text(text + "# edited\n")
    assert gen_main(["w.yaml", "-o", "models.py", "--check"]) == 1
    assert gen_main(["missing.yaml"]) == 2


def test_the_kubeloop_command_runs_gen(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(crd(WIDGET_SCHEMA)))
    out = subprocess.run(
        [sys.executable, "-m", "kubeloop", "gen", str(tmp_path / "w.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "class Widget(Resource, kw_only=True):" in out.stdout


@pytest.mark.skipif(
    shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists(),
    reason="no ruff",
)
def test_generated_modules_pass_ruff_check_and_format(tmp_path: Path) -> None:
    path = tmp_path / "models.py"
    path.write_text(generate([Source("w.yaml", crd(WIDGET_SCHEMA))], command="kubeloop gen w"))
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    subprocess.run([ruff, "check", "--isolated", "--line-length", "100", str(path)], check=True)
    subprocess.run(
        [ruff, "format", "--isolated", "--line-length", "100", "--check", str(path)], check=True
    )
