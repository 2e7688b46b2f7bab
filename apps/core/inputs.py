"""What people type (or scripts send), checked before anything is written or looked up.

One set of rules for every form field, POST field and query parameter: a length
limit (too long is refused with a message, never cut), no control characters
(PostgreSQL refuses NUL in text, and the others only hide what a value says;
free text keeps newlines and tabs), no characters that reorder what a reader
sees, and allowed values where there is a fixed set. A refusal names the field
and what is wrong with it. `shown` turns any value into a bounded, printable
form that is safe to store in an audit row or to repeat in a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import BadRequest

# C0 (but newline and tab, in text), DEL and C1 controls, and lone surrogates (which no
# database encoding can store).
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# Bidirectional overrides and isolates (U+202A-E, U+2066-9) make a line read other than
# it is stored ("Trojan Source"): a reason or an audit entry must read as it was typed.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


class InvalidInput(BadRequest):
    """A value breaks a rule. The message says which, in words for the person who sent it.

    A BadRequest, so a view that does not catch it answers 400 with the message
    (portal.views.bad_request); views that can show the form again catch it.
    """

    def __init__(self, message: str, *, field: str, value: object = ""):
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


def shown(value: object, limit: int = 200) -> str:
    """`value` as printable text of at most `limit` characters, for audit rows, logs and messages.

    Control characters become visible escapes (`\\x00`), so a NUL can be stored and seen;
    a longer value is cut, and the cut says how long the value was.
    """
    text = value if isinstance(value, str) else repr(value)
    text = _TEXT_FORBIDDEN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(text) <= limit:
        return text
    note = f"… ({len(text)} characters)"
    return text[: max(limit - len(note), 0)] + note


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def text(
    value: object,
    *,
    field: str,
    max_length: int,
    label: str = "",
    required: bool = False,
    multiline: bool = False,
) -> str:
    """The value without surrounding space; InvalidInput if it is too long or has forbidden characters.

    `multiline` is for free text (comments, reasons): it keeps newlines and tabs, and
    reads a browser's CRLF as a newline. Everything else is one line.
    """
    label = label or field
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"The {label} must be text.", field=field, value=value)
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"The {label} is required.", field=field, value=value)
    if len(value) > max_length:
        raise InvalidInput(
            f"The {label} is too long: at most {max_length} characters (it has {len(value)}).",
            field=field,
            value=value,
        )
    bad = (_TEXT_FORBIDDEN if multiline else _LINE_FORBIDDEN).search(value)
    if bad:
        what = (
            "a character that reverses the reading direction"
            if _BIDI.match(bad.group())
            else "a control character"
        )
        raise InvalidInput(
            f"The {label} contains {what} ({_codepoint(bad.group())}); use plain text.",
            field=field,
            value=value,
        )
    return value


def choice(value: object, *, field: str, choices: Iterable[str], label: str = "") -> str:
    """The value if it is one of `choices`; InvalidInput naming the allowed ones otherwise."""
    allowed = list(choices)
    if isinstance(value, str) and value in allowed:
        return value
    label = label or field
    raise InvalidInput(
        f"Unknown {label} “{shown(value, 40)}”: expected one of {', '.join(allowed)}.",
        field=field,
        value=value,
    )


def matching(
    value: object, *, field: str, pattern: re.Pattern[str], max_length: int, hint: str, label: str = ""
) -> str:
    """The value if it is at most `max_length` long and matches `pattern` whole; `hint` says what fits."""
    value = text(value, field=field, label=label, max_length=max_length, required=True)
    if not pattern.fullmatch(value):
        raise InvalidInput(
            f"“{shown(value, 60)}” is not a valid {label or field}: {hint}", field=field, value=value
        )
    return value


def form_text(value: object, **rules) -> str:
    """`text` for a form's clean_<field> method: a refusal becomes the form's error on that field."""
    from django.forms import ValidationError

    try:
        return text(value, **rules)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None
