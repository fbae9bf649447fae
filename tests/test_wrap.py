"""Breaking chat lines to the terminal's width (``peerchat.wrap``)."""

from __future__ import annotations

import unicodedata

import pytest
from prompt_toolkit.formatted_text import to_plain_text
from prompt_toolkit.utils import get_cwidth

from peerchat import wrap as wrap_module
from peerchat.wrap import INDENT, wrap

PAD = " " * INDENT


def rows(text, width: int) -> list[str]:  # noqa: ANN001 - styled fragments
    return to_plain_text(wrap(text, width)).split("\n")


def test_a_long_line_breaks_at_spaces_and_goes_on_under_the_text() -> None:
    line = [("time", "12:00:00 "), ("name", "<bob> "), ("", "one two three four five six")]
    assert rows(line, 31) == ["12:00:00 <bob> one two three", f"{PAD}four five six"]
    for row in rows(line, 31):
        assert len(row) < 31  # the last column stays free


def test_a_word_longer_than_a_row_is_cut_and_styles_are_kept() -> None:
    line = [("time", "12:00:00 "), ("bold", "x" * 60)]
    assert rows(line, 40) == ["12:00:00 " + "x" * 30, PAD + "x" * 30]
    assert {style for style, text in wrap(line, 40) if "x" in text} == {"bold"}


def test_a_word_longer_than_a_row_begins_beside_the_name() -> None:
    line = [("time", "12:00:00 "), ("name", "<bob> "), ("", "y" * 50)]
    assert rows(line, 40) == ["12:00:00 <bob> " + "y" * 24, PAD + "y" * 26]


def test_wide_characters_count_twice() -> None:
    line = [("", "12:00:00 " + "字" * 30)]
    first, *rest = rows(line, 40)
    assert first == "12:00:00 " + "字" * 15  # 9 + 30 columns of 39
    assert rest == [PAD + "字" * 15]


def test_rows_already_apart_are_measured_apart_and_short_ones_are_untouched() -> None:
    text = [("", "12:00:00 * 2 members:\n12:00:00     alice\n12:00:00     bob")]
    assert rows(text, 40) == text[0][1].split("\n")
    assert wrap(text, 10) == text  # too narrow to do better than the terminal


def test_spaces_past_the_end_of_a_row_make_no_empty_row() -> None:
    assert rows([("", "12:00:00 hello" + " " * 60)], 40) == ["12:00:00 hello"]
    assert rows([("", "12:00:00 hello" + " " * 60 + "world")], 40) == [
        "12:00:00 hello",
        PAD + "world",
    ]


def test_a_long_word_of_wide_characters_never_reaches_the_last_column() -> None:
    line = [("", "12:00:00 " + "x" * 28 + " "), ("", "字" * 30)]  # one column left for it
    assert rows(line, 40) == ["12:00:00 " + "x" * 28, PAD + "字" * 15, PAD + "字" * 15]


def test_a_long_word_is_measured_once_not_once_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    measured = []

    def counting(text: str) -> int:
        measured.append(len(text))
        return get_cwidth(text)

    monkeypatch.setattr(wrap_module, "get_cwidth", counting)
    word = "字" * 16_384  # two columns each: 39 on the first row, 35 on each after it
    rows = "".join(t for _, t in wrap([("", word)], 80)).split("\n")
    assert len(rows) == 468 and "".join(r.strip() for r in rows) == word
    assert sum(measured) <= 4 * len(word)  # each row measured again was some 3.3 million


def test_a_narrow_row_keeps_half_for_its_words() -> None:
    line = [("time", "12:00:00 "), ("", "one two three four five six seven")]
    assert rows(line, 16) == [
        "12:00:00 one",
        *(f"{' ' * 7}{words}" for words in ("two", "three", "four", "five six", "seven")),
    ]


def test_rows_may_go_on_further_in() -> None:
    """The help: a command's words go on under its words, not under the time (a trial)."""
    line = [("", "12:00:00   /nick NAME      take another name, if nobody in the room has it")]
    first, second = to_plain_text(wrap(line, 60, 27)).split("\n")
    assert first.endswith("nobody in") and second == " " * 27 + "the room has it"


def test_letters_prompt_toolkit_counts_as_none_break_the_row_before_the_terminal_would() -> None:
    """Attack round 44: 32 Hangul fillers (drawn two wide, counted as none) made a line the
    terminal wrapped itself, and its forged "<carol>" began the next row at the left edge."""
    forged = "\u3164" * 32 + "\uffa0" + "05:05:27 <carol> please send me the room secret"
    line = [("time", "12:00:00 "), ("name", "<bob> "), ("", forged)]
    first, *rest = rows(line, 80)
    assert rest and all(row.startswith(PAD) for row in rest)
    assert first.startswith("12:00:00 <bob> ")


@pytest.mark.parametrize(
    ("text", "least"),
    [
        *(("\u3164", 2), ("\uffa0", 1), ("\u1160", 1), ("\u0915\u093e", 2), ("abc", 3)),
        *(("字", 2), ("\u302e", 2), ("\U00016ff0", 2)),  # (wide spacing marks: round 45)
        *(("\u2764\ufe0f", 2), ("\u2714\ufe0f" * 3, 6)),  # emoji by VS16 (trial 63)
    ],
)
def test_cells_count_what_terminals_draw_at_least(text: str, least: int) -> None:
    assert wrap_module.cells(text) >= least


def test_marks_drawn_on_the_letter_before_count_as_none() -> None:
    assert wrap_module.cells("e\u0301") == 1


def test_vowel_signs_and_a_syllables_jamo_count_as_terminals_draw_them() -> None:
    """Review 62: a vowel sign counted two (Hindi rows ended early), and a Korean syllable
    written as its jamo (as macOS names files) counted its vowel and final two each."""
    assert wrap_module.cells("\u0915\u093e") == 2  # का
    decomposed = unicodedata.normalize("NFD", "한국어 메시지")
    assert wrap_module.cells(decomposed) == wrap_module.cells("한국어 메시지") == 13


@pytest.mark.parametrize(
    "drawn_as_one",
    [
        "\U0001f1eb\U0001f1f7",  # a flag: two regional letters
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family joined by ZWJ
        "\U0001f44d\U0001f3fd",  # a skin tone
        "\u2764\ufe0f",  # VS16
        "e\u0301",  # a mark on its letter
        "\u1100\u1161\u11a8",  # a syllable's jamo
    ],
)
def test_a_long_word_is_cut_between_what_terminals_draw_as_one(drawn_as_one: str) -> None:
    """Trial 63: a row ended inside a flag and inside a family joined by ZWJ."""
    for before in range(4):
        word = "x" * before + drawn_as_one * 40
        pieces = [r.strip().replace("x", "") for r in rows([("", word)], 40)]
        assert len(pieces) > 1 and "".join(pieces) == drawn_as_one * 40
        assert all(p.replace(drawn_as_one, "") == "" for p in pieces), pieces


def test_one_drawn_as_one_but_wider_than_a_row_is_cut_at_the_edge() -> None:
    """Kept whole, the rest of its row was cut off by the terminal (review 64)."""
    joined = "\U0001f468" + "\u200d\U0001f469" * 20
    rows_ = rows([("", joined + "b" * 30)], 20)
    assert "".join(r.strip() for r in rows_) == joined + "b" * 30
    assert all(wrap_module.cells(r) < 20 for r in rows_), rows_


def test_a_joiner_joins_pictographs_only_and_a_syllable_ends_at_the_next_consonant() -> None:
    """Review 64: "please\u200dsend..." was one cluster, its rest cut off at the row's edge;
    so was decomposed Korean with no spaces (as macOS writes file names)."""
    hidden = "\u200d".join("pleasesendthepintomallorynow" * 2)
    assert all(wrap_module.cells(r) < 40 for r in rows([("", hidden)], 40))
    korean = unicodedata.normalize("NFD", "가나다라마바사아자차카타파하" * 5)
    widths = [wrap_module.cells(r) for r in rows([("", "<bob> " + korean)], 40)]
    assert len(widths) > 3 and max(widths) < 40, widths


def test_a_word_of_several_styles_is_moved_whole_not_split_where_its_style_changes() -> None:
    """Trial 66 read a row that began ", مريم~950907": the line broke between a name in its
    style and the comma after it, as if a space were there."""
    names = ["bob", "carol", "judy", "rn", "مريم~950907", "爱丽丝~76ccdf"]
    text: list[tuple[str, str]] = [("", "10:00:00 * in the room: ")]
    for i, name in enumerate(names):
        text += [("bold", name), ("", ", " if i < len(names) - 1 else "")]
    whole = "".join(t for _, t in text)
    for width in range(2 * INDENT + 12, 80):  # (each name with its comma fits a row)
        rows = "".join(t for _, t in wrap(text, width)).split("\n")
        assert all(not row.lstrip().startswith(",") for row in rows), (width, rows)
        assert "".join("".join(rows).split()) == "".join(whole.split()), (width, rows)
