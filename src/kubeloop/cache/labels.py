"""Label selectors, as the API server understands them, matched locally.

Listers filter the cache with the same selector syntax a LIST takes::

    >>> parse_selector("app=web,tier!=db,env in (prod,staging),!canary").matches(
    ...     {"app": "web", "env": "prod"})
    True

Equality (``=``, ``==``, ``!=``), set-based (``in``, ``notin``), existence
(``key``, ``!key``) and numeric (``>``, ``<``) requirements are supported,
ANDed together. ``!=`` and ``notin`` also match objects without the label.
A mapping ``{"app": "web"}`` is the equality selector of its items.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop.errors import KubeloopError

__all__ = ["Requirement", "Selector", "SelectorParseError", "everything", "parse_selector"]


class SelectorParseError(KubeloopError, ValueError):
    """The label selector string is malformed."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ANDed term: ``key <operator> values``."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op == "exists":
            return present
        if op == "!":
            return not present
        if op in ("=", "in"):
            return present and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        bound = int(next(iter(self.values)))
        return have > bound if op == ">" else have < bound


@dataclass(frozen=True, slots=True)
class Selector:
    """Requirements ANDed together; no requirements select everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements


def everything() -> Selector:
    return Selector()


_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_NAME})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_NAME})\s*(==|=|!=|>|<)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_NAME})\s*$")


def _split_terms(text: str) -> list[str]:
    # Commas inside "in (a,b)" do not separate terms.
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return terms


def _parse_term(term: str) -> Requirement:
    if m := _SET_RE.match(term):
        values = [v.strip() for v in m.group(3).split(",")]
        if any(not re.fullmatch(_VALUE, v) for v in values):
            raise SelectorParseError(f"invalid value in {term!r}")
        return Requirement(m.group(1), m.group(2), frozenset(values))
    if m := _CMP_RE.match(term):
        op = "=" if m.group(2) == "==" else m.group(2)
        value = m.group(3)
        if op in (">", "<") and not re.fullmatch(r"-?\d+", value):
            raise SelectorParseError(f"{term!r}: {op} needs an integer")
        return Requirement(m.group(1), op, frozenset([value]))
    if m := _EXISTS_RE.match(term):
        return Requirement(m.group(2), "!" if m.group(1) else "exists")
    raise SelectorParseError(f"unable to parse requirement {term!r}")


def parse_selector(selector: str | Mapping[str, str] | Selector | None) -> Selector:
    """Parse a selector string (``""``/None select everything)."""
    if selector is None:
        return Selector()
    if isinstance(selector, Selector):
        return selector
    if isinstance(selector, Mapping):
        return Selector(
            tuple(Requirement(k, "=", frozenset([v])) for k, v in sorted(selector.items()))
        )
    if not selector.strip():
        return Selector()
    return Selector(tuple(_parse_term(t) for t in _split_terms(selector)))
