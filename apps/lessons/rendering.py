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

# Bump when the extensions, the allow-list or the finishing touches change: stale lessons are
# re-rendered (by beat, and by every load_content).
RENDERER_VERSION = 2

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
    "pymdownx.highlight": {
        "use_pygments": True,
        "css_class": "highlight",
        "guess_lang": False,
        "pygments_lang_class": True,
    },  # fmt: skip
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


# A highlighted block as the sanitiser leaves it: pymdownx's <div class="language-x highlight"><pre>.
_CODE_BLOCK_RE = re.compile(r'<div class="(?:language-([A-Za-z0-9_+-]{1,40}) )?highlight"><pre>')


def _scrollable(clean_html: str) -> str:
    """Put code blocks and tables where a keyboard can scroll them, with a name.

    A long line or a wide table scrolls inside its own box (the page never scrolls
    sideways on a phone); a box that scrolls must be in the tab order and named, or a
    keyboard user cannot read what is cut off (WCAG 2.1.1). Applied after sanitising,
    so authors cannot set these attributes, and everything added here is fixed text
    (the language comes from a class the sanitiser already restricted).
    """
    count = {"code": 0, "table": 0}

    def code(match: re.Match) -> str:
        count["code"] += 1
        language = f" ({match.group(1)})" if match.group(1) else ""
        label = f"Code example {count['code']}{language}"
        return match.group(0)[: -len("<pre>")] + f'<pre tabindex="0" role="region" aria-label="{label}">'

    def table(match: re.Match) -> str:
        count["table"] += 1
        label = f"Table {count['table']}"
        return f'<div class="table-scroll" tabindex="0" role="region" aria-label="{label}"><table>'

    clean_html = _CODE_BLOCK_RE.sub(code, clean_html)
    clean_html = re.sub(r"<table>", table, clean_html)
    return clean_html.replace("</table>", "</table></div>")


# Block-level tags: where one ends and the next begins, words must not run together.
_BLOCK_TAG_RE = re.compile(
    r"</?(?:p|h[1-6]|li|ul|ol|pre|div|table|thead|tbody|tr|td|th|blockquote|dl|dt|dd|details|summary|br|hr)\b[^>]*>",
    re.IGNORECASE,
)
_DIAGRAM_RE = re.compile(r'<pre class="mermaid">.*?</pre>', re.DOTALL)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def html_to_text(rendered_html: str) -> str:
    """The words of a rendered lesson as plain text, for search and its snippets: no Markdown
    marks, no tags, entities decoded, diagrams' source left out, whitespace (and any control
    character) as single spaces."""
    text = _BLOCK_TAG_RE.sub(" ", _DIAGRAM_RE.sub(" ", rendered_html))
    text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return " ".join(_CONTROL_RE.sub(" ", text).split())


def heading_ids(rendered_html: str) -> list[str]:
    """The ids of a rendered lesson's section headings, in order (what a link can land on)."""
    return re.findall(r'<h[2-4] id="([^"]+)"', rendered_html)


_HEADING_RE = re.compile(r"<h([1-6])((?:\s[^>]*)?)>")
_ID_ATTR_RE = re.compile(r'\sid="([^"]*)"')


def heading_anchors(rendered_html: str) -> list[tuple[str, str]]:
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

    A translation passes its English source's headings (`heading_anchors` of its HTML): the toc
    extension's slugs drop non-Latin letters (a Japanese heading becomes `_1`), and a link to
    `lesson#section` must land on the same section in every language. When the translation's
    headings match the source's level for level, each takes the source heading's id (or none,
    where the source's was refused); otherwise (an admin edit moved the English) they keep
    their own.
    """
    md = markdown.Markdown(extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIG)
    rendered = md.convert(text or "")
    if source_headings is not None:
        levels = [level for level, _ in heading_anchors(rendered)]
        if levels == [level for level, _ in source_headings]:
            rendered = _with_ids(rendered, source_headings)
    return _scrollable(sanitize(rendered))


def has_mermaid(rendered_html: str) -> bool:
    return 'class="mermaid"' in rendered_html
