"""A griffe extension for the API reference (mkdocs.yml): kubeloop's
docstrings are prose with reST roles (``:class:`Manager```) and literal
blocks introduced by ``::``, which Markdown would show as typed. Roles
become code spans and ``Example::`` becomes ``Example:`` (the indented
block after it is already a code block in Markdown). Docstrings in the
source stay as they are: ``help()`` and editors read them there.

Example (mkdocs.yml)::

    options:
      extensions: [tools/griffe_rst.py:RstRoles]
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

#: ``:role:`~a.b.C``` or ``:role:`C```: the text to show is the target, its
#: last part after a ``~``.
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj):`(~?)([^`]+)`")
LITERAL = re.compile(r"(\S)::$", re.M)


def markdown(text: str) -> str:
    """``text`` with reST roles as code spans and ``::`` introducers as ``:``."""
    text = ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    text = re.sub(r"^::$", "", text, flags=re.M)
    return LITERAL.sub(r"\1:", text)


class RstRoles(Extension):
    """Rewrites each object's docstring once it is loaded."""

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)

    def on_package(self, *, pkg: Object, **kwargs: Any) -> None:
        """The top-level package, which griffe hands to this hook only."""
        self.on_object(obj=pkg)
