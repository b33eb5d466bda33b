"""Package attributes imported on first use (PEP 562).

A controller that only needs ``Result`` should not pay for the HTTP stack and
``prometheus_client`` at import time, yet ``from kubeloop.runtime import
Manager`` must keep working. So a package lists where each public name lives,
imports them under ``TYPE_CHECKING`` for type checkers and readers, and lets
this module's ``__getattr__`` import a name's module the first time the name
is asked for::

    # kubeloop/runtime/__init__.py
    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from kubeloop.runtime.manager import Manager

    __all__ = ["Manager"]
    __getattr__, __dir__ = lazy_exports(__name__, {"kubeloop.runtime.manager": "Manager"})

The value is then stored in the package's namespace, so later look-ups are
plain attribute reads.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a module to the names it gives the package, separated by
    spaces.
    """
    where = {name: module for module, names in exports.items() for name in names.split()}
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
