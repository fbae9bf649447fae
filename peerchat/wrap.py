"""Lines of the chat broken to the terminal's width, as irssi and weechat do.

A terminal left to wrap a long line itself cuts words in two and starts the next row at the
left edge, under the times. Here a row ends at a space where one fits, a word longer than a
row is cut where it begins, and every row after the first begins ``indent`` columns in, past
the time and the room (in a narrow row, half of it at most).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.utils import get_cwidth

INDENT = 9  # "HH:MM:SS "
NARROWEST = 16  # below this many columns, lines are left to the terminal
_PIECES = re.compile(r"(\n| +)")  # words, runs of spaces and line ends, each kept


def wrap(text: StyleAndTextTuples, width: int, indent: int = INDENT) -> StyleAndTextTuples:
    """``text`` (styled fragments, rows separated by "\\n") for a terminal ``width`` columns
    wide, no row reaching the last column (where some terminals wrap at once)."""
    if width < NARROWEST or sum(cells(t) for _, t in text) < width:
        return text  # (most lines: nothing to break, nothing to walk)
    width -= 1
    indent = min(indent, width // 2)
    out: StyleAndTextTuples = []
    column = 0
    new_row = ("", "\n" + " " * indent)
    # The word being laid out, which may span fragments ("rn" in bold, then ","): where in
    # ``out`` its first on this row is, the column it began at, its columns so far.
    word_at: int | None = None
    began = width_so_far = 0
    for style, fragment in text:
        for piece in _PIECES.split(fragment):
            if not piece:
                continue
            if piece == "\n" or piece.startswith(" "):
                word_at = None
            if piece == "\n":
                out.append((style, piece))
                column = 0
                continue
            size = cells(piece)
            if piece.startswith(" "):
                if column + size > width:  # spaces at a row's end go; a word after them wraps
                    column = width
                else:
                    out.append((style, piece))
                    column += size
                continue
            if word_at is None:
                word_at, began, width_so_far = len(out), column, 0
            while column + size > width:
                if word_at < len(out) and began > indent and width_so_far + size <= width - indent:
                    # The rest of a word whose start is on this row: all of it goes to the
                    # next (trial 66 read a row that began ", مريم~950907" after "rn").
                    head = out[word_at:]
                    del out[word_at:]
                    while out and out[-1][1].startswith(" "):
                        out.pop()
                    out.append(new_row)
                    word_at, began = len(out), indent
                    out += head
                    column = indent + width_so_far
                    continue
                # A word that fits a row goes to the next whole; a longer one is cut where it
                # is (moved, it left "<bob>" alone on a row: a user trial).
                first = cells(piece[0])
                if column > indent and (size <= width - indent or first > width - column):
                    while out and out[-1][1].startswith(" "):  # and the spaces before it go
                        out.pop()
                    out.append(new_row)
                    word_at, began, width_so_far = len(out), indent, 0
                    column = indent
                    continue
                cut, used = _fitting(piece, width - column)  # longer than a row: cut
                out += [(style, piece[:cut]), new_row]
                piece = piece[cut:]
                size, column = size - used, indent  # (not measured again: a row at a time)
                word_at, began, width_so_far = len(out), indent, 0
            if piece:
                out.append((style, piece))
                column += size
                width_so_far += size
    return out


def _fitting(word: str, columns: int) -> tuple[int, int]:
    """How many characters of ``word`` fit in ``columns``, cut between what terminals draw as
    one (at least one such, to go on), and the columns they take."""
    ends: list[int] = []  # the columns taken up to each character that fits
    used = 0
    for size in _cells_each(word):  # (as ``cells`` counts them: in context)
        if used + size > columns:
            break
        used += size
        ends.append(used)
    else:
        return len(word), used
    cut = len(ends)
    while cut and _joined(word, cut):
        cut -= 1
    if cut:
        return cut, ends[cut - 1]
    # One drawn as one but wider than the row: cut where it reaches the edge, as any word
    # (kept whole, the rest of the row was cut off by the terminal: review 64).
    return (len(ends), used) if ends else (1, cells(word[0]))


def _joined(word: str, at: int) -> bool:
    """Whether ``word[at]`` is drawn as one with the character before it, so that a row may
    not end between them (trial 63: a row ended inside a flag, and in a family joined by
    ZWJ): a mark, a variation selector, a skin tone, a tag, either side of a joiner, the
    second of a flag's pair of letters, a syllable's further jamo."""
    c, before = word[at], word[at - 1]
    if c in _JOINER or unicodedata.category(c)[0] == "M" or _ATTACHED.match(c):
        return True
    if before in _JOINER:  # a pictograph after a joiner only: "a\u200db" is two (review 64)
        return _pictograph(c)
    if _same_syllable(before, c):
        return True
    if c not in _REGIONAL:
        return False
    flags = at - len(word[:at].rstrip(_REGIONAL))  # regional letters just before it
    return flags % 2 == 1


_JOINER = "\u200d"  # zero width joiner
# A syllable's vowel and final jamo: after another jamo, the same syllable
_JAMO_FOLLOWING = re.compile("[\u1160-\u11ff\ud7b0-\ud7ff]")


def _same_syllable(before: str, c: str) -> bool:
    """Whether the jamo ``c`` is of the syllable ``before`` ends: a vowel or a final after a
    jamo is; a leading consonant begins the next (review 64's decomposed Korean, one cluster)."""
    return _JAMO.match(before) is not None and _JAMO_FOLLOWING.match(c) is not None


def _pictograph(c: str) -> bool:
    """A character an emoji sequence joins (roughly Unicode's Extended_Pictographic)."""
    return unicodedata.category(c) == "So" or "\U0001f000" <= c <= "\U0001faff"


# Variation selectors, skin tones and tags: drawn on the character before them
_ATTACHED = re.compile(
    "[\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
_REGIONAL = "".join(map(chr, range(0x1F1E6, 0x1F200)))  # the letters of flags, two to one


def cells(text: str) -> int:
    """The columns ``text`` may take on a terminal: prompt_toolkit's count, and more for what
    it counts as none that terminals draw. The Hangul fillers U+3164 and U+FFA0 are drawn two
    and one wide, a vowel sign such as U+093E one. A line of them, too long for its row though
    measured short, was wrapped by the terminal, and what followed began at the left edge as a
    line of its own: a forged "<carol> ..." (attack round 44). Counted wider, a row ends early
    instead; the terminal's own wrapping is off besides (``ui._in_rows``)."""
    return get_cwidth(text) if text.isascii() else sum(_cells_each(text))


def _cells_each(text: str) -> Iterator[int]:
    """The columns of each character of ``text``, as ``cells`` counts them: a character
    after the one before it."""
    before = ""
    for c in text:
        width = get_cwidth(c)
        if c == _EMOJI_STYLE:  # drawn as an emoji, two wide, where it is heeded (trial 63:
            width += max(2 - get_cwidth(before), 0) if before else 0  # "❤️" counted one)
        elif not _same_syllable(before, c):  # (a syllable's vowel, its last: counted once)
            width += _drawn_wider(c)
        yield width
        before = c


_EMOJI_STYLE = "\ufe0f"  # variation selector 16


# Hangul jamo, which terminals draw as one syllable two wide, as prompt_toolkit counts it
_JAMO = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")


@functools.lru_cache(maxsize=4096)
def _drawn_wider(c: str) -> int:
    """How much wider than prompt_toolkit's count terminals may draw ``c`` alone: a spacing
    mark one, a letter or symbol of no width two (no mark drawn on the one before it, Mn
    and Me, nor one left out of what is shown, Cc and Cf)."""
    width = get_cwidth(c)
    if unicodedata.east_asian_width(c) in ("W", "F"):  # wide: drawn two (attack round 45:
        return max(2 - width, 0)  # a Hangul tone mark, counted one as a spacing mark)
    if width != 0:
        return 0
    category = unicodedata.category(c)
    return 1 if category == "Mc" else 2 if category[0] in "LNPS" else 0
