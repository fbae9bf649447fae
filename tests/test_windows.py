"""A window a room: what each keeps, and what is printed while it is behind."""

from __future__ import annotations

from dataclasses import dataclass

from peerchat.windows import CARRIED, Windows, shown_now


@dataclass(frozen=True)
class Line:
    text: str
    of: str = ""
    chatter: bool = False
    urgent: bool = False


def test_a_window_shows_its_rooms_chatter_and_what_is_for_everyone_in_order() -> None:
    windows: Windows[Line] = Windows(most=3)
    for line in (
        Line("dev 1", "dev", True),
        Line("ops 1", "ops", True),
        Line("a private message in ops", "ops"),
        Line("dev 2", "dev", True),
        Line("the program's notice"),
    ):
        windows.add(line)
    assert [line.text for line in windows.view("dev")] == [
        "dev 1",
        "a private message in ops",
        "dev 2",
        "the program's notice",
    ]
    assert [line.text for line in windows.view("ops")] == [
        "ops 1",
        "a private message in ops",
        "the program's notice",
    ]
    assert [line.text for line in windows.view("qa")] == [
        "a private message in ops",
        "the program's notice",
    ]


def test_a_busy_room_behind_pushes_out_its_own_lines_only() -> None:
    windows: Windows[Line] = Windows(most=2)
    windows.add(Line("dev 1", "dev", True))
    windows.add(Line("notice"))
    for n in range(10):
        windows.add(Line(f"ops {n}", "ops", True))
    assert [line.text for line in windows.view("dev")] == ["dev 1", "notice"]
    assert [line.text for line in windows.view("ops")] == ["notice", "ops 8", "ops 9"]


def test_clear_empties_the_window_in_front_and_a_room_left_takes_its_lines() -> None:
    """Trial 57: a /clear in one room lost another's private messages, never stored."""
    windows: Windows[Line] = Windows(most=5)
    windows.add(Line("dev 1", "dev", True))
    windows.add(Line("ops 1", "ops", True))
    windows.add(Line("ops's private line", "ops", True, urgent=True))
    windows.add(Line("an error in ops", "ops"))
    windows.add(Line("an error in dev", "dev"))
    windows.add(Line("the program's notice"))
    shown = windows.view("dev")
    windows.clear("dev")
    assert windows.view("dev") == []  # (trial 58: ops's error came back at each Ctrl-L)
    assert windows.view("dev", scrollback=True) == shown  # (trial 69: PageUp reaches them)
    assert [line.text for line in windows.view("ops")] == [
        "ops 1",
        "ops's private line",
        "an error in ops",
        "an error in dev",
        "the program's notice",
    ]
    windows.add(Line("dev 2", "dev", True))
    windows.add(Line("a notice after"))
    assert [line.text for line in windows.view("dev")] == ["dev 2", "a notice after"]
    windows.keep_only({"dev"})  # ops left: its chatter goes, what was said of it stays
    assert [line.text for line in windows.view("ops")] == [
        "an error in ops",
        "an error in dev",
        "the program's notice",
        "a notice after",
    ]


def test_a_window_opened_later_begins_with_its_room() -> None:
    """Trial 58: a room joined showed the notices of rooms opened and left before it."""
    windows: Windows[Line] = Windows(most=10)
    windows.add(Line("welcome"))
    windows.add(Line("you are in dev", "dev"))
    windows.keep_only({"dev"})
    windows.add(Line("you are in xx", "xx"))
    windows.keep_only({"dev", "xx"})
    windows.add(Line("you left xx"))
    windows.keep_only({"dev"})
    windows.add(Line("looking for ops", "ops"))
    windows.keep_only({"dev", "ops"})
    windows.add(Line("ops 1", "ops", True))
    windows.add(Line("a notice"))
    assert [line.text for line in windows.view("ops")] == ["looking for ops", "ops 1", "a notice"]
    assert [line.text for line in windows.view("dev")] == [
        "welcome",  # (the first window has what came before it)
        "you are in dev",
        "you are in xx",
        "you left xx",
        "looking for ops",
        "a notice",
    ]


def test_only_chatter_of_a_room_behind_waits() -> None:
    rooms = {"dev", "ops"}
    assert not shown_now(Line("ops 1", "ops", True), "dev", rooms)
    assert shown_now(Line("ops 1", "ops", True), "ops", rooms)
    assert shown_now(Line("private", "ops", True, urgent=True), "dev", rooms)
    assert shown_now(Line("an error", "ops"), "dev", rooms)
    assert shown_now(Line("dev 1", "dev", True), "dev", {"dev"})  # one room: all of it
    assert shown_now(Line("left", "qa", True), "dev", rooms)  # a room no longer open


def test_a_room_joined_again_begins_its_window_anew() -> None:
    """Review 60: a room left and joined again showed its lines from before, a /clear's too."""
    windows: Windows[Line] = Windows(most=10)
    windows.keep_only({"dev"})
    windows.add(Line("you are in ops", "ops"))
    windows.keep_only({"dev", "ops"})
    windows.add(Line("an error in ops", "ops"))
    windows.add(Line("ops 1", "ops", True))
    windows.clear("ops")
    windows.add(Line("after the clear", "ops"))
    windows.keep_only({"dev"})  # ops left
    windows.add(Line("you are in ops again", "ops"))
    windows.keep_only({"dev", "ops"})
    assert [line.text for line in windows.view("ops")] == ["you are in ops again"]


def test_a_line_for_you_from_a_room_behind_stays_where_it_was_read() -> None:
    """Trial 58: a line naming alice in ops, shown at once in dev, was gone from dev once she
    had been to ops and back."""
    windows: Windows[Line] = Windows(most=10)
    windows.keep_only({"dev", "ops"})
    windows.add(Line("dev 1", "dev", True), "dev")
    windows.add(Line("bob: alice, ping", "ops", True, urgent=True), "dev")
    windows.add(Line("ops chatter", "ops", True), "dev")
    windows.add(Line("dev 2", "dev", True), "dev")
    assert [line.text for line in windows.view("dev")] == ["dev 1", "bob: alice, ping", "dev 2"]
    assert [line.text for line in windows.view("ops")] == ["bob: alice, ping", "ops chatter"]


def test_an_answer_stays_in_the_window_it_was_asked_in_and_its_rooms() -> None:
    """Trial 59: a /who typed in ops, and "lines you type go to the room ops now", were in
    dev's window too, which read as if one still typed into ops."""
    windows: Windows[Line] = Windows(most=10)
    windows.add(Line("starting"))  # before any room: the first window's
    windows.keep_only(["dev", "ops"])
    windows.add(Line("lines you type go to the room ops now"), "ops")
    windows.add(Line("1 member: carol", "ops"), "ops")
    windows.add(Line("dev's error, seen in ops", "dev"), "ops")
    windows.add(Line("rooms: 1 dev, 2 ops"), "dev")
    assert [line.text for line in windows.view("dev")] == [
        "starting",
        "dev's error, seen in ops",
        "rooms: 1 dev, 2 ops",
    ]
    assert [line.text for line in windows.view("ops")] == [
        "lines you type go to the room ops now",
        "1 member: carol",
        "dev's error, seen in ops",
    ]


def test_why_a_join_failed_goes_on_in_the_window_in_front_once() -> None:
    """Trial 62: /join qa at an address where nobody was showed "connecting to ...", then qa's
    window went, and with it the reason; "you are not in the room qa" was all that was left."""
    windows: Windows[Line] = Windows(most=10)
    windows.keep_only(["dev"])
    windows.add(Line("dev 1", "dev", True), front="dev")
    windows.keep_only(["dev", "qa"])
    windows.add(Line("connecting to 10.0.0.9:5000 ...", "qa"), front="qa")
    windows.add(Line("qa 1", "qa", True), front="qa")
    # (shown with dev in front: kept in both windows, and once in dev's)
    windows.add(Line("cannot join the room qa: no tracker answers", "qa"), front="dev")
    windows.keep_only(["dev"], failed=["qa"], front="dev")
    assert [line.text for line in windows.view("dev")] == [
        "dev 1",
        "connecting to 10.0.0.9:5000 ...",
        "cannot join the room qa: no tracker answers",
    ]
    windows.keep_only(["dev", "ops"])
    windows.add(Line("an answer in ops", "ops"), front="ops")
    windows.keep_only(["dev"], front="dev")  # left, not failed: its lines go with it
    assert "an answer in ops" not in [line.text for line in windows.view("dev")]


def test_a_room_lost_carries_its_last_few_lines_after_the_front_rooms_own() -> None:
    """Review 62: a room lost after a long stay carried hundreds of answers into the window
    in front, which pushed its own lines out; and those from before the front room was
    opened were not shown there."""
    windows: Windows[Line] = Windows(most=20)
    windows.keep_only(["qa"])
    for n in range(30):
        windows.add(Line(f"an answer in qa {n}", "qa"), front="qa")
    windows.keep_only(["qa", "dev"])
    windows.add(Line("dev 1", "dev", True), front="dev")
    windows.keep_only(["dev"], failed=["qa"], front="dev")
    shown = [line.text for line in windows.view("dev")]
    assert shown == ["dev 1", *(f"an answer in qa {n}" for n in range(30 - CARRIED, 30))]
