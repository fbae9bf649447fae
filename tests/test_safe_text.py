import json
import sys
import unicodedata

import pytest

from peerchat.safe_text import UNSAFE_RANGES, has_unsafe, json_safe, visible

UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def test_the_written_out_table_is_exactly_the_unsafe_categories_of_this_python() -> None:
    listed = {code for first, last in UNSAFE_RANGES for code in range(first, last + 1)}
    actual = {
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in UNSAFE_CATEGORIES
    }
    assert listed == actual, "regenerate UNSAFE_RANGES for this Python's Unicode version"


@pytest.mark.parametrize(
    "raw",
    ["\x1b[2J", "bell\x07", "line\nbreak", "\r", "\u202eevil", "\u2028", "\u0085", "\u2066",
     "\U000e0041", "\ufeff", "\x7f"],
)  # fmt: skip
def test_visible_replaces_what_could_steer_a_terminal(raw: str) -> None:
    shown = visible(raw)
    assert not has_unsafe(shown)
    assert "\ufffd" in shown


def test_visible_keeps_plain_text_and_emoji_joiners_in_messages_only() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert visible("héllo wörld ✓") == "héllo wörld ✓"
    assert visible(family, message=True) == family
    assert visible(family) == family.replace("\u200d", "\ufffd")
    assert visible("a\tb") == "a b"


@pytest.mark.parametrize("raw", ["x\u2028y", "x\u0085y", "\u202e", "\U000e0001", "a\x7fb", "ok"])
def test_json_safe_escapes_but_decodes_to_the_same_text(raw: str) -> None:
    line = json_safe(json.dumps({"text": raw}, ensure_ascii=False))
    assert line.isascii() or not has_unsafe(line)
    assert "\u2028" not in line and "\u0085" not in line
    assert json.loads(line) == {"text": raw}
