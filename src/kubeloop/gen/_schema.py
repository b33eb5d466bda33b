"""From a CRD's OpenAPI v3 schema to model classes (an intermediate form
that :mod:`kubeloop.gen._render` prints).

The mapping, one schema node to one Python type:

=====================================  =====================================
schema                                 Python
=====================================  =====================================
``string`` (any format)                ``str`` (timestamps stay RFC 3339
                                       strings, so they round-trip exactly)
``integer`` / ``number`` / ``boolean`` ``int`` / ``float`` / ``bool``
``enum: [...]``                        ``Literal[...]``
``x-kubernetes-int-or-string``         ``int | str``
``array`` of X                         ``list[X]``
``object`` with ``properties``         a nested Struct, named after its path
``object`` with ``additionalProperties`` ``dict[str, X]``
``object`` otherwise, or preserve-     ``dict[str, Any]`` (``Any`` when
unknown-fields without a type          there is no type at all)
``nullable: true``                     ``X | None``
=====================================  =====================================

A required field has no default; an optional one defaults to the schema's
``default`` (which the server would apply anyway) or to None. Either way an
unset field is left out when the model is encoded.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kubeloop.errors import KubeloopError

__all__ = ["ClassDef", "FieldDef", "SchemaError", "classes_for_crd"]

#: Names the generated module imports; a class must not shadow them.
RESERVED = {"Any", "ClassVar", "Literal", "Resource", "Model", "ObjectMeta", "msgspec"}
#: Top-level fields every Resource has already.
INHERITED = frozenset({"apiVersion", "kind", "metadata"})


class SchemaError(KubeloopError, ValueError):
    """The manifest is not a CRD this generator understands."""


@dataclass
class FieldDef:
    py_name: str
    wire_name: str
    type: str
    required: bool
    default: str | None = None  # a Python expression, e.g. "3" or "'Always'"
    doc: str = ""


@dataclass
class ClassDef:
    name: str
    doc: str
    fields: list[FieldDef] = field(default_factory=list)
    # (api_version, kind, plural, namespaced) for the top-level kind.
    resource: tuple[str, str, str, bool] | None = None


def snake_case(name: str) -> str:
    """``networkID`` -> ``network_id``, ``podCIDRs`` -> ``pod_cid_rs`` (as
    the official Python client spells it), ``x-foo`` -> ``x_foo``."""
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower().strip("_") or "field"
    if s[0].isdigit():
        s = f"f_{s}"
    if keyword.iskeyword(s) or keyword.issoftkeyword(s):
        s += "_"
    return s


def pascal_case(name: str) -> str:
    """``networkID`` -> ``NetworkID``, ``x-foo_bar`` -> ``XFooBar``."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    s = "".join(p[0].upper() + p[1:] for p in parts) or "Field"
    return f"F{s}" if s[0].isdigit() else s


def singular(name: str) -> str:
    """Good enough for field names of lists: conditions -> condition."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def camel_of(py_name: str) -> str:
    """The wire name msgspec's ``rename="camel"`` gives ``py_name``."""
    struct = msgspec.defstruct("_Probe", [(py_name, int)], rename="camel")
    encoded: str = struct.__struct_encode_fields__[0]
    return encoded


class _Builder:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.classes: list[ClassDef] = []  # dependencies before dependents
        self._by_name: dict[str, str] = {}  # class name -> canonical schema JSON

    def class_name(self, parent: str, prop: str, schema: dict[str, Any]) -> str:
        """``Kind`` + field (NetworkSpec; for a list's items the field in
        the singular: NetworkCondition) unless that name is taken by a
        different schema; then the parent's name + field; then a number."""
        base = pascal_case(prop)
        canonical = json.dumps(schema, sort_keys=True)
        candidates = [self.kind + base, parent + base]
        candidates += [f"{parent}{base}{i}" for i in range(2, 100)]
        for name in candidates:
            if name in RESERVED:
                continue
            taken = self._by_name.get(name)
            if taken is None or taken == canonical:
                return name
        raise SchemaError(f"cannot name the type of {parent}.{prop}")

    def type_of(self, schema: dict[str, Any], parent: str, prop: str, what: str = "") -> str:
        """The type of ``parent.prop``; ``what`` describes it when the schema does not."""
        t = self._base_type(schema, parent, prop, what)
        if schema.get("nullable") and t != "Any":
            t += " | None"
        return t

    def _base_type(self, schema: dict[str, Any], parent: str, prop: str, what: str) -> str:
        if schema.get("x-kubernetes-int-or-string"):
            return "int | str"
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            if values and all(isinstance(v, str | int | bool) for v in values):
                return f"Literal[{', '.join(_literal(v) for v in values)}]"
        kind = schema.get("type")
        if kind == "string":
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, dict):
                return "list[Any]"
            item_t = self.type_of(items, parent, singular(prop), f"An item of ``{prop}``.")
            return f"list[{item_t}]"
        if kind == "object":
            if schema.get("properties"):
                return self.struct(schema, parent, prop, what)
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                value_t = self.type_of(extra, parent, singular(prop), f"A value of ``{prop}``.")
                return f"dict[str, {value_t}]"
            return "dict[str, Any]"
        return "Any"

    def struct(self, schema: dict[str, Any], parent: str, prop: str, what: str) -> str:
        name = self.class_name(parent, prop, schema)
        if name in self._by_name:
            return name
        self._by_name[name] = json.dumps(schema, sort_keys=True)
        doc = schema.get("description") or what or f"``{prop}`` of {parent}."
        cls = ClassDef(name, doc, self.fields(schema, name))
        self.classes.append(cls)
        return name

    def fields(
        self, schema: dict[str, Any], owner: str, skip: frozenset[str] = frozenset()
    ) -> list[FieldDef]:
        required = set(schema.get("required") or ())
        out: list[FieldDef] = []
        used: set[str] = set()
        for wire, sub in (schema.get("properties") or {}).items():
            if wire in skip:
                continue
            py = snake_case(wire)
            while py in used:
                py += "_"
            used.add(py)
            t = self.type_of(sub, owner, wire)
            doc = sub.get("description") or ""
            if wire in required and "default" not in sub:
                out.append(FieldDef(py, wire, t, True, None, doc))
                continue
            default = _default(sub, t)
            if default is None:
                if not t.endswith("| None") and t != "Any":
                    t += " | None"
                default = "None"
            out.append(FieldDef(py, wire, t, False, default, doc))
        # Required fields first reads best; kw_only makes any order legal.
        return sorted(out, key=lambda f: not f.required)


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _default(schema: dict[str, Any], type_: str) -> str | None:
    """The schema's default as a Python expression, when it is a scalar or
    an empty list/map (a new one per instance); None otherwise
    (the field then defaults to None and the server applies its default)."""
    if "default" not in schema:
        return None
    value = schema["default"]
    if isinstance(value, bool | int | float | str) and not type_.startswith(("list", "dict")):
        if isinstance(value, int) and not isinstance(value, bool) and type_ == "float":
            return repr(float(value))
        return _literal(value)
    if value == [] and type_.startswith("list"):
        return "msgspec.field(default_factory=list)"
    if value == {} and type_.startswith("dict"):
        return "msgspec.field(default_factory=dict)"
    return None


def _pick_version(crd: dict[str, Any], version: str | None) -> dict[str, Any]:
    versions = crd.get("spec", {}).get("versions") or []
    if version is not None:
        for v in versions:
            if v.get("name") == version:
                return dict(v)
        raise SchemaError(f"{crd['metadata']['name']}: no version {version!r}")
    for v in versions:
        if v.get("storage"):
            return dict(v)
    if len(versions) == 1:
        return dict(versions[0])
    raise SchemaError(f"{crd['metadata']['name']}: which version? (no storage version)")


def classes_for_crd(crd: dict[str, Any], version: str | None = None) -> list[ClassDef]:
    """The model classes of one CRD version (the storage version unless
    ``version`` is given), dependencies first, the kind itself last."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise SchemaError(f"not a CustomResourceDefinition: kind {crd.get('kind')!r}")
    spec = crd["spec"]
    names = spec["names"]
    v = _pick_version(crd, version)
    schema = (v.get("schema") or {}).get("openAPIV3Schema") or spec.get("validation", {}).get(
        "openAPIV3Schema"
    )
    if not isinstance(schema, dict):
        raise SchemaError(f"{crd['metadata']['name']} {v['name']}: no openAPIV3Schema")
    kind = names["kind"]
    if kind in RESERVED:
        raise SchemaError(f"kind {kind!r} would shadow a name the module imports")
    builder = _Builder(kind)
    fields = builder.fields(schema, kind, skip=INHERITED)
    api_version = f"{spec['group']}/{v['name']}"
    doc = schema.get("description") or f"A {kind} ({api_version})."
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    top = ClassDef(kind, doc, fields, (api_version, kind, names["plural"], namespaced))
    return [*builder.classes, top]
