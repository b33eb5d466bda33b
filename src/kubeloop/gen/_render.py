"""Print model classes as a Python module that ruff format leaves as it is."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from kubeloop.gen._schema import ClassDef, FieldDef, camel_of

__all__ = ["render_module"]

WIDTH = 100


def _docstring(text: str, indent: str) -> list[str]:
    """A docstring, wrapped to the line length; paragraphs kept."""
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    width = WIDTH - len(indent)
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    lines: list[str] = []
    for i, para in enumerate(paragraphs):
        if i:
            lines.append("")
        lines.extend(textwrap.wrap(para, width, break_long_words=False, break_on_hyphens=False))
    if not lines:
        return []
    if len(lines) == 1 and len(lines[0]) + 6 <= width:
        body = lines[0]
        if body.endswith('"'):
            body += " "
        return [f'{indent}"""{body}"""']
    out = [f'{indent}"""{lines[0]}'] + [f"{indent}{line}" if line else "" for line in lines[1:]]
    return [*out, f'{indent}"""']


def _comment(line: str) -> list[str]:
    """A header line as comment lines, a long one continued shell-style."""
    words, lines, current = line.split(" "), [], "#"
    for word in words:
        if len(current) + 1 + len(word) > WIDTH - 2 and current != "#":
            lines.append(current + " \\")
            current = "#  "
        current += " " + word
    return [*lines, current]


def _field(f: FieldDef) -> list[str]:
    rename = camel_of(f.py_name) != f.wire_name
    if f.required:
        value = f' = msgspec.field(name="{f.wire_name}")' if rename else ""
    elif rename and f.default and f.default.startswith("msgspec.field("):
        value = f' = {f.default[:-1]}, name="{f.wire_name}")'
    elif rename:
        value = f' = msgspec.field(default={f.default}, name="{f.wire_name}")'
    else:
        value = f" = {f.default}"
    lines = [f"    {f.py_name}: {f.type}{value}"]
    if f.doc:
        lines += _docstring(f.doc, "    ")
    return lines


def _class(cls: ClassDef) -> list[str]:
    base = "Resource" if cls.resource else "Model"
    lines = [f"class {cls.name}({base}, kw_only=True):", *_docstring(cls.doc, "    ")]
    if cls.resource:
        api_version, kind, plural, namespaced = cls.resource
        lines += [
            "",
            f'    API_VERSION: ClassVar[str] = "{api_version}"',
            f'    KIND: ClassVar[str] = "{kind}"',
            f'    PLURAL: ClassVar[str] = "{plural}"',
            f"    NAMESPACED: ClassVar[bool] = {namespaced}",
        ]
    if cls.fields:
        lines.append("")
        for i, f in enumerate(cls.fields):
            # A blank line after a documented field keeps docs with their field.
            if i and cls.fields[i - 1].doc:
                lines.append("")
            lines += _field(f)
    return lines


def render_module(classes: Sequence[ClassDef], header: Sequence[str], doc: str) -> str:
    """The module's source: ``header`` comment lines, docstring, imports,
    classes (in the given order), ``__all__``."""
    body: list[str] = []
    for line in header:
        body += _comment(line)
    body += _docstring(doc, "")
    source = "\n".join(_class(c)[0] + "\n".join(_class(c)[1:]) for c in classes)
    imports = ["from __future__ import annotations", ""]
    typing_names = ["Any"] if "Any" in source else []
    if any(c.resource for c in classes):
        typing_names.append("ClassVar")
    if "Literal[" in source:
        typing_names.append("Literal")
    if typing_names:
        imports.append(f"from typing import {', '.join(typing_names)}")
        imports.append("")
    if "msgspec." in source:
        imports += ["import msgspec", ""]
    kubeloop_names = sorted({"Resource" if c.resource else "Model" for c in classes})
    imports.append(f"from kubeloop.typed import {', '.join(kubeloop_names)}")
    body += ["", *imports]
    body += ["", '__all__ = ["' + '", "'.join(sorted(c.name for c in classes)) + '"]']
    for cls in classes:
        body += ["", "", *_class(cls)]
    return "\n".join(body) + "\n"
