"""Text from the network, made safe to show: on a terminal, and in a JSON line.

A peer chooses every character it sends. Control characters (category Cc) can move the cursor,
ring the bell or start an escape sequence; format characters (Cf) such as the bidi overrides
reorder what is shown, so that a line reads differently from what was sent; U+2028/U+2029 (and
U+0085, a Cc) end a line for some readers of JSON. They are all replaced where text meets a
screen, and escaped where it goes into JSON.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
ZERO_WIDTH_JOINER = 0x200D  # glues emoji sequences together; it cannot reorder or hide text

# Every code point of categories Cc, Cf, Zl and Zp, as inclusive ranges (Unicode 15, Python
# 3.11). Written out because scanning the whole Unicode table at import costs 0.1 s per process;
# tests/test_safe_text.py checks it against the running Python's unicodedata.
UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip


def _char_class(ranges: tuple[tuple[int, int], ...], keep: int | None = None) -> re.Pattern[str]:
    parts = []
    for first, last in ranges:
        for lo, hi in _without(first, last, keep):
            parts.append(re.escape(chr(lo)) + ("" if lo == hi else "-" + re.escape(chr(hi))))
    return re.compile("[" + "".join(parts) + "]")


def _without(first: int, last: int, keep: int | None) -> list[tuple[int, int]]:
    if keep is None or not first <= keep <= last:
        return [(first, last)]
    return [(lo, hi) for lo, hi in ((first, keep - 1), (keep + 1, last)) if lo <= hi]


_UNSAFE = _char_class(UNSAFE_RANGES)
_UNSAFE_IN_TEXT = _char_class(UNSAFE_RANGES, keep=ZERO_WIDTH_JOINER)


def has_unsafe(text: str) -> bool:
    """True when ``text`` holds a control, format or line-separator character."""
    return _UNSAFE.search(text) is not None


def visible(text: str, *, message: bool = False) -> str:
    """``text`` with every unsafe character replaced by U+FFFD (a tab by a space). In message
    text (``message=True``) the zero-width joiner is kept, so emoji sequences survive."""
    pattern = _UNSAFE_IN_TEXT if message else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(lambda m: " " if m.group() == "\t" else REPLACEMENT, text)


def escaped(text: str) -> str:
    """``text`` with every unsafe character written as an escape (``\\x1b``, ``\\n``): for a
    log, whose reader wants to see what a peer sent, on a terminal it must not steer."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def json_safe(encoded: str) -> str:
    """Escape, inside already-encoded JSON, the characters a JSON encoder leaves raw but some
    line readers split on or a terminal obeys (U+007F-U+009F, format characters, U+2028/9)."""
    if encoded.isascii() and "\x7f" not in encoded:
        return encoded  # the encoder already escaped U+0000-U+001F
    return _UNSAFE.sub(_escape, encoded)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
