"""Label and field selectors, parsed as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kubesim.resources import Resource

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"^(?P<neg>!)?\s*(?P<key>{_KEY})$")
_EQUALS = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_FIELD = re.compile(r"^(?P<field>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*)$")

Matcher = Callable[[dict], bool]


class SelectorError(ValueError):
    """A selector the server would reject with 400 Bad Request."""


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside `in (...)` value sets."""
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _label_requirement(text: str) -> Matcher:
    if m := _EQUALS.match(text):
        key, op, value = m["key"], m["op"], m["value"]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _SET.match(text):
        key, op = m["key"], m["op"]
        values = {v.strip() for v in m["values"].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EXISTS.match(text):
        key = m["key"]
        if m["neg"]:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: {text!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A predicate on objects for a label selector (`app=web,tier!=db,env in (a,b),!canary`)."""
    if not selector:
        return lambda obj: True
    requirements = [_label_requirement(part) for part in _split(selector)]

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req(labels) for req in requirements)

    return matches


def field_value(obj: dict, path: str) -> str:
    """The string a field selector compares against ("" when the field is absent)."""
    if path == "source":
        # The events field `source` means the reporting component.
        return (obj.get("source") or {}).get("component", "")
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _FieldRequirement:
    field: str
    negate: bool
    value: str

    def __call__(self, obj: dict) -> bool:
        return (field_value(obj, self.field) == self.value) != self.negate


def field_matcher(selector: str | None, resource: Resource) -> Matcher:
    """A predicate for a field selector, limited to the fields the real server indexes."""
    if not selector:
        return lambda obj: True
    requirements = []
    for part in _split(selector):
        m = _FIELD.match(part)
        if not m:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        if m["field"] not in resource.field_selectors:
            raise SelectorError(f"field label not supported: {m['field']}")
        requirements.append(_FieldRequirement(m["field"], m["op"] == "!=", m["value"]))
    return lambda obj: all(req(obj) for req in requirements)


def matcher(label_selector: str | None, field_selector: str | None, resource: Resource) -> Matcher:
    """Both selectors combined; raises SelectorError for either being malformed."""
    by_label = label_matcher(label_selector)
    by_field = field_matcher(field_selector, resource)
    if not label_selector and not field_selector:
        return lambda obj: True
    return lambda obj: by_label(obj) and by_field(obj)
