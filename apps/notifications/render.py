"""A notification as a Slack message (Block Kit, within Slack's limits) and as an e-mail.

Slack's documented limits: 50 blocks per message, 3,000 characters per section text,
75 characters per button text, 2,000 per button value, 40,000 for the fallback `text`
(which Slack truncates, and which notifications and screen readers use). Long lists
are cut with a line that says how many more there are and links to the page.
"""

from __future__ import annotations

from django.conf import settings

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_FALLBACK_TEXT = 3000  # well within Slack's 40,000: a notification's first screen


def absolute(link: str) -> str:
    """A site path made absolute with SHIRUBE_SITE_URL (links in Slack and e-mail leave the site)."""
    if not link or "://" in link:
        return link
    return settings.SHIRUBE_SITE_URL.rstrip("/") + "/" + link.lstrip("/")


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters (&, <, >) as entities: text never becomes a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_TEXT)}}


def slack_message(notification) -> dict:
    """`text` (the fallback) and `blocks` for chat.postMessage."""
    link = absolute(notification.link)
    title = slack_escape(notification.title)
    head = f"*<{link}|{title}>*" if link else f"*{title}*"
    blocks = [_section(head + (f"\n{slack_escape(notification.text)}" if notification.text else ""))]
    actions = [
        {
            "type": "button",
            "action_id": a["action_id"],
            "text": {"type": "plain_text", "text": _cut(a["text"], MAX_BUTTON_TEXT)},
            "value": _cut(str(a.get("value", "")), MAX_BUTTON_VALUE),
            **({"style": a["style"]} if a.get("style") in ("primary", "danger") else {}),
        }
        for a in notification.actions[:25]  # an actions block holds at most 25 elements
    ]
    # Room for the list: the head, the "more" line and the buttons take their blocks first.
    room = MAX_BLOCKS - len(blocks) - (1 if actions else 0) - 1
    lines = [slack_escape(str(line)) for line in notification.lines]
    chunks: list[str] = []
    shown = 0
    for line in lines:
        line = _cut(line, MAX_SECTION_TEXT)
        if chunks and len(chunks[-1]) + 1 + len(line) <= MAX_SECTION_TEXT:
            chunks[-1] += "\n" + line
        elif len(chunks) < room:
            chunks.append(line)
        else:
            break
        shown += 1
    blocks += [_section(chunk) for chunk in chunks]
    if shown < len(lines):
        more = f"…and {len(lines) - shown} more"
        blocks.append(_section(f"{more}: <{link}|see them all>" if link else more))
    if actions:
        blocks.append({"type": "actions", "elements": actions})
    fallback = notification.title + (f"\n{notification.text}" if notification.text else "")
    return {"text": _cut(fallback, MAX_FALLBACK_TEXT), "blocks": blocks}


def email_message(notification) -> tuple[str, str]:
    """(subject, plain-text body). Buttons become the link to the page, where the same action is."""
    parts = [notification.text] if notification.text else []
    if notification.lines:
        parts.append("\n".join(f"- {line}" for line in notification.lines))
    if link := absolute(notification.link):
        parts.append(f"Open it in Shirube: {link}")
    parts.append("You can choose what Shirube tells you at " + absolute("/settings/notifications/"))
    subject = " ".join(notification.title.split())[:200]  # one line: no header injection
    return f"[Shirube] {subject}", "\n\n".join(parts) + "\n"
