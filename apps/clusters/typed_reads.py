"""Reading values out of Kubernetes objects, each by the type it must have.

A string is cleaned of what PostgreSQL cannot store (NUL bytes, lone surrogates);
an explicit null reads as absent, as Kubernetes itself reads it; any other wrong
type, or a name no API path can hold, raises Malformed, and the sync skips that
one object instead of failing its whole kind (apps.clusters.reduce).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

INT64 = 2**63


class Malformed(ValueError):
    """An object the portal cannot store as it came: skipped and counted, never its whole kind."""


def json_type(value: object) -> str:
    """The JSON type of a value, with its article, for a message: "an object", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def clean_text(value: str) -> str:
    """The string without what PostgreSQL cannot store: NUL bytes (dropped), lone surrogates (U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


# The typed reads run a few hundred thousand times in a large sync: each takes the common
# case (the right type, plain text) first, in as few steps as Python allows.


def read_text(value: object, what: str, limit: int | None = None) -> str:
    """A string field; null reads as absent (""), any other type is malformed."""
    if value.__class__ is not str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise Malformed(f"{what} is {json_type(value)}, not a string")
    if "\x00" in value or not value.isascii():
        value = clean_text(value)
    return value if limit is None else value[:limit]


def read_int(value: object, what: str, default: int | None = None) -> int | None:
    """An integer field; null reads as absent (the default); text, fractions or huge numbers are malformed."""
    if value.__class__ is int and -INT64 <= value < INT64:
        return value
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{what} is {json_type(value)}, not an integer")
    raise Malformed(f"{what} is out of range")


def read_int_or_text(value: object, what: str, limit: int) -> str:
    """An IntOrString (minAvailable: 2 or "50%"), kept as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(read_int(value, what))
    return read_text(value, what, limit)


def read_obj(value: object, what: str) -> dict:
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{what} is {json_type(value)}, not an object")
    return value


def read_list(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is {json_type(value)}, not a list")
    return value


def read_objs(value: object, what: str) -> list[dict]:
    """A list of objects; a null or wrong-typed item is malformed (there is no absent item)."""
    items = read_list(value, what)
    for item in items:
        if not isinstance(item, dict):
            raise Malformed(f"an item of {what} is {json_type(item)}, not an object")
    return items


def read_texts(value: object, what: str, limit: int | None = None) -> list[str]:
    out = []
    for item in read_list(value, what):
        if not isinstance(item, str):
            raise Malformed(f"an item of {what} is {json_type(item)}, not a string")
        out.append(read_text(item, what, limit))
    return out


def read_text_map(value: object, what: str) -> dict[str, str]:
    """Labels and the like: string keys to string values (null reads as "")."""
    mapping = read_obj(value, what)
    for key, item in mapping.items():
        if item.__class__ is not str or not (key.isascii() and item.isascii()) or "\x00" in key + item:
            return {clean_text(k): read_text(v, f"{what}[{k!r}]") for k, v in mapping.items()}
    return dict(mapping)  # the common case: plain text throughout


def read_json(value: object, what: str, depth: int = 0) -> Any:
    """A raw JSON subtree kept as it is (a selector), with its strings cleaned and its numbers in range."""
    if depth > 20:
        raise Malformed(f"{what} is nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): read_json(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [read_json(v, what, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return read_int(value, what)
    return value  # bool, float, None


def read_time(value: object, what: str) -> datetime | None:
    text = read_text(value, what)
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise Malformed(f"{what} is not a time: {text[:40]!r}")
    return parsed


def read_name(value: object, what: str, limit: int) -> str:
    """A name the portal keys rows and URLs on: what the API server allows in a path segment."""
    if value is None or value == "":
        raise Malformed(f"{what} is missing")
    if not isinstance(value, str):
        raise Malformed(f"{what} is {json_type(value)}, not a string")
    if len(value) > limit or value in (".", "..") or "/" in value or "%" in value or not value.isprintable():
        raise Malformed(f"{what} {value[:80]!r} is not a valid name")  # repr shows a NUL as \\x00
    return value
