"""Links to logs and dashboards, made from a cluster's URL templates.

A template is set by an SRE and shown to everyone as a link, so it is held to a
narrow rule: it is an http(s) address with a fixed scheme and host, and it may only
name the placeholders listed for it, bare (`{pod}`). Python's format mini-language
is never run on it: a format spec (`{pod:>99999999}`) would build a string of any
size, and attribute or index access (`{pod.__class__}`) would reach into objects.
The rule is checked when the template is saved (Cluster.clean) and again when a
link is made, since rows saved before the rule existed may break it.
"""

from __future__ import annotations

import re
from string import Formatter
from urllib.parse import quote, urlsplit

from apps.core.inputs import shown

LOGS_PLACEHOLDERS = ("cluster", "namespace", "pod", "query")
DATADOG_PLACEHOLDERS = ("cluster", "namespace", "pod")
# The scheme and the host are written out: a placeholder cannot choose where a link goes.
_FIXED_START = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?=[/?#]|$)", re.IGNORECASE)
_NOT_IN_A_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"<>\\^`|]")


def link_template_problems(template: str, placeholders: tuple[str, ...]) -> list[str]:
    """What is wrong with a URL template, in words for the SRE; empty when it is fine."""
    if not template:
        return []
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        return [f"Braces do not match ({exc}); write a literal brace as {{{{ or }}}}."]
    problems = []
    if not _FIXED_START.match(parts[0][0]):
        problems.append("Start with http:// or https:// and the host name, written out (no placeholder).")
    if any(_NOT_IN_A_URL.search(literal) for literal, _, _, _ in parts):
        problems.append("A URL has no spaces, control characters, quotes or angle brackets.")
    names = ", ".join("{" + p + "}" for p in placeholders)
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in placeholders:
            problems.append(f"Unknown placeholder {{{shown(field, 40)}}}: use only {names}.")
        elif spec or conversion:
            problems.append(f"Write {{{field}}} bare: no format spec or conversion after its name.")
    return problems


def link_render(template: str, placeholders: tuple[str, ...], **values: str) -> str:
    """The link, each value URL-encoded in its place; "" when the template breaks the rule."""
    if not template or link_template_problems(template, placeholders):
        return ""
    url = "".join(
        literal + (quote(values.get(field, ""), safe="") if field is not None else "")
        for literal, field, _, _ in Formatter().parse(template)
    )
    return url if urlsplit(url).scheme.lower() in ("http", "https") else ""
