"""peerchat.time_left: a transfer's time left, from its recent pace."""

from __future__ import annotations

from peerchat.time_left import SHOWN_AFTER, STALE, WINDOW, TimeLeft, spoken

MIB = 1 << 20


def test_the_time_left_follows_the_recent_pace() -> None:
    pace = TimeLeft()
    pace.note(0.0, 0)
    pace.note(1.0, MIB)
    assert pace.said(10 * MIB, 1.0) == ""  # not long enough to judge
    pace.note(SHOWN_AFTER, 2 * MIB)
    assert pace.said(10 * MIB, SHOWN_AFTER) == "8 s left"  # 1 MiB a second, 8 MiB to go
    for second in range(3, 30):  # slower now: 0.1 MiB a second
        pace.note(float(second), 2 * MIB + (second - 2) * MIB // 10)
    # 15.3 MiB to go: at the last WINDOW seconds' pace 153 s, at the whole fetch's 94 s
    assert pace.said(20 * MIB, 29.0) == "3 min left"
    assert pace.said(20 * MIB, 29.0 + STALE + 1) == ""  # nothing came for a while


def test_a_transfer_begun_again_is_judged_anew_and_a_done_one_says_nothing() -> None:
    pace = TimeLeft()
    for second in range(5):
        pace.note(float(second), second * MIB)
    pace.note(5.0, MIB)  # fetched anew from less
    assert pace.said(10 * MIB, 5.0) == ""
    pace.note(5.0 + WINDOW, 10 * MIB)
    assert pace.said(10 * MIB, 5.0 + WINDOW) == ""


def test_durations_are_said_as_a_person_would() -> None:
    assert [spoken(s) for s in (0.2, 40.4, 61, 719, 3600 * 2.6)] == [
        "1 s",
        "40 s",
        "1 min",
        "12 min",
        "3 h",
    ]
