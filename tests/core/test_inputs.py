"""The shared input rules: lengths, characters, allowed values, and the printable form for audit rows."""

from __future__ import annotations

import re

import pytest

from apps.core import inputs


def test_text_strips_and_keeps_what_fits():
    assert inputs.text("  hotfix for INC-42 ", field="reason", max_length=20) == "hotfix for INC-42"
    assert inputs.text(None, field="reason", max_length=5) == ""


def test_text_refuses_too_long_instead_of_cutting():
    with pytest.raises(inputs.InvalidInput, match=r"reason is too long: at most 5 characters \(it has 6\)"):
        inputs.text("abcdef", field="reason", max_length=5)


@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[31m", "\x7f", "a\x85b", "a\rb", "\ud800"])
def test_text_refuses_control_characters_on_one_line(bad):
    with pytest.raises(inputs.InvalidInput, match="control character"):
        inputs.text(bad, field="tag", max_length=100)


def test_multiline_text_keeps_newlines_and_tabs_and_reads_crlf_as_a_newline():
    assert inputs.text("a\r\nb\tc\rd", field="comment", max_length=100, multiline=True) == "a\nb\tc\nd"
    with pytest.raises(inputs.InvalidInput, match="U\\+0000"):
        inputs.text("a\n\x00", field="comment", max_length=100, multiline=True)


def test_text_refuses_reading_direction_overrides():
    with pytest.raises(inputs.InvalidInput, match="reverses the reading direction"):
        inputs.text("invoice\u202efdp.exe", field="comment", max_length=100, multiline=True)


def test_required_text_says_so():
    with pytest.raises(inputs.InvalidInput, match="The reason is required"):
        inputs.text("   ", field="reason", max_length=10, required=True)


def test_choice_names_what_is_allowed():
    assert inputs.choice("on", field="done", choices=["", "on"]) == "on"
    with pytest.raises(inputs.InvalidInput, match="expected one of deploy, promote") as raised:
        inputs.choice("x" * 1000, field="kind", choices=["deploy", "promote"])
    assert len(str(raised.value)) < 200  # the value is repeated bounded


def test_matching_checks_the_whole_value():
    pattern = re.compile(r"[a-f0-9]{1,8}")
    assert inputs.matching("abc1", field="key", pattern=pattern, max_length=8, hint="hex") == "abc1"
    with pytest.raises(inputs.InvalidInput, match="not a valid key: hex"):
        inputs.matching("abc1 x", field="key", pattern=pattern, max_length=8, hint="hex")
    with pytest.raises(inputs.InvalidInput, match="required"):
        inputs.matching("", field="key", pattern=pattern, max_length=8, hint="hex")


def test_shown_is_printable_and_bounded():
    assert inputs.shown("a\x00b\u202e") == "a\\x00b\\u202e"
    assert inputs.shown("line\nnext\ttab") == "line\nnext\ttab"
    long = inputs.shown("z" * 10_000, 100)
    assert len(long) == 100 and long.endswith("… (10000 characters)")
    assert inputs.shown(12) == "12"


def test_an_invalid_input_is_a_bad_request():
    from django.core.exceptions import BadRequest

    assert issubclass(inputs.InvalidInput, BadRequest)
