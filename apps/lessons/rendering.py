"""Markdown to safe HTML for lessons.

Python-Markdown with pymdown-extensions renders; nh3 then removes everything
that is not on the allow-list below, so raw HTML, event handlers, scripts and
unsafe URLs never reach a page. The result is stored with the lesson when it
is saved (RENDERER_VERSION marks which rules produced it), not rebuilt per view.
"""

from __future__ import annotations

import html
import re

import markdown
import nh3

# Bump when the extensions or the allow-list change: stale lessons are re-rendered.
RENDERER_VERSION = 1

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]{0,80}$")


def _mermaid_fence(source, language, css_class, options, md, **kwargs):
    # The diagram source travels as escaped text; Mermaid (strict security
    # level) parses it in the browser.
    return f'<pre class="mermaid">{html.escape(source)}</pre>'


_EXTENSIONS = [
    "markdown.extensions.tables",
    "markdown.extensions.footnotes",
    "markdown.extensions.toc",
    "markdown.extensions.sane_lists",
    "markdown.extensions.attr_list",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.inlinehilite",
    "pymdownx.details",
    "pymdownx.tabbed",
    "pymdownx.tasklist",
    "pymdownx.mark",
    "pymdownx.tilde",
    "admonition",
]

_EXTENSION_CONFIG = {
    "pymdownx.highlight": {"use_pygments": True, "css_class": "highlight", "guess_lang": False},
    "pymdownx.superfences": {
        "custom_fences": [{"name": "mermaid", "class": "mermaid", "format": _mermaid_fence}]
    },
    "pymdownx.tabbed": {"alternate_style": True},
    "pymdownx.tasklist": {"custom_checkbox": True},
    "markdown.extensions.toc": {"permalink": False, "toc_depth": "2-3"},
}

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins", "kbd", "label", "li",
    "mark", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip

_ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "input": {"type", "checked", "disabled", "name"},
    "label": {"for"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "details": {"open"},
    "ol": {"start"},
}

_SAFE_CLASS_RE = re.compile(r"^[A-Za-z0-9_ -]{0,200}$")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id" or attribute == "for":
        # Ids come from headings, tabs and footnotes; anything else could
        # clobber the page's own names.
        return value if _ID_RE.match(value) else None
    if attribute == "class":
        return value if _SAFE_CLASS_RE.match(value) else None
    if tag == "input":
        if attribute == "type":
            return value if value in {"checkbox", "radio"} else None
        if attribute == "name":
            return value if _ID_RE.match(value) else None
    if tag == "img" and attribute == "src":
        # Images from the same site or https only; no data: or javascript:.
        return value if value.startswith(("https://", "/")) and not value.startswith("//") else None
    return value


# Inputs exist only for tabs (radio) and task lists (checkbox); any other
# input, including one with no type (a text field), is dropped.
_STRAY_INPUT_RE = re.compile(r'<input(?![^>]*\btype="(?:checkbox|radio)")[^>]*>')


def sanitize(raw_html: str) -> str:
    cleaned = nh3.clean(
        raw_html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return _STRAY_INPUT_RE.sub("", cleaned)


_HEADING_RE = re.compile(r"<h([1-6])((?:\s[^>]*)?)>")
_ID_ATTR_RE = re.compile(r'\sid="([^"]*)"')


def heading_ids(rendered_html: str) -> list[tuple[str, str]]:
    """(level, id) of every heading, in order; the id is "" where the heading has none."""
    found = []
    for match in _HEADING_RE.finditer(rendered_html):
        id_attr = _ID_ATTR_RE.search(match.group(2))
        found.append((match.group(1), id_attr.group(1) if id_attr else ""))
    return found


def _with_ids(rendered: str, headings: list[tuple[str, str]]) -> str:
    ids = iter(headings)

    def replace(match: re.Match) -> str:
        attrs = _ID_ATTR_RE.sub("", match.group(2))
        wanted = next(ids)[1]
        return f'<h{match.group(1)}{attrs} id="{wanted}">' if wanted else f"<h{match.group(1)}{attrs}>"

    return _HEADING_RE.sub(replace, rendered)


def render_markdown(text: str, *, source_headings: list[tuple[str, str]] | None = None) -> str:
    """Render lesson Markdown to sanitised HTML.

    A translation passes its English source's headings (`heading_ids` of its HTML): the toc
    extension's slugs drop non-Latin letters (a Japanese heading becomes `_1`), and a link to
    `lesson#section` must land on the same section in every language. When the translation's
    headings match the source's level for level, each takes the source heading's id (or none,
    where the source's was refused); otherwise (an admin edit moved the English) they keep
    their own.
    """
    md = markdown.Markdown(extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIG)
    rendered = md.convert(text or "")
    if source_headings is not None:
        levels = [level for level, _ in heading_ids(rendered)]
        if levels == [level for level, _ in source_headings]:
            rendered = _with_ids(rendered, source_headings)
    return sanitize(rendered)


def has_mermaid(rendered_html: str) -> bool:
    return 'class="mermaid"' in rendered_html
