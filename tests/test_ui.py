"""The line interface's formatting (pure) and the hand-over edges that need no terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import io
import os
import re
import subprocess
import sys
import termios
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import trio
from prompt_toolkit import PromptSession
from prompt_toolkit.application import create_app_session
from prompt_toolkit.buffer import CompletionState
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.data_structures import Size
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import to_plain_text
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from peerchat import backlog, commands, events, member_lines, ui
from peerchat.backlog import Backlog, Skipped
from peerchat.events import (
    SAVED_ELSEWHERE,
    Away,
    Connecting,
    Delivered,
    Error,
    FileDone,
    FileFetched,
    FileList,
    FileOffered,
    FileProgress,
    FileWaiting,
    Found,
    HistoryEnd,
    Ignoring,
    InRoom,
    Listed,
    Looking,
    MessageReceived,
    NewKey,
    NickRefused,
    OfferWithdrawn,
    PeerGone,
    PeerJoined,
    PeerLeft,
    Ready,
    Rejoined,
    Renamed,
    RoomLeft,
    RoomsFound,
    Saving,
    TrackerChanged,
    Typing,
    Unconfirmed,
    Undelivered,
    Unresponsive,
    Uploading,
    Who,
    Whois,
)
from peerchat.membership import Member
from peerchat.names import FINGERPRINT, marked
from peerchat.safe_text import has_unsafe

ROOT = Path(ui.__file__).resolve().parents[1]
ALICE = Member("a1", "alice", "127.0.0.1", 4000, 4000)
BOB = Member("b2", "bob", "127.0.0.1", 4001, 4001)
CAROL = Member("c3", "carol", "127.0.0.1", 4002, 4002)
DAVE = Member("d4", "dave", "127.0.0.1", 4003, 4003)

# 13:04:05 local time, whatever the machine's zone.
NOW = time.mktime((2024, 1, 2, 13, 4, 5, 0, 0, -1))


def message(sender: Member, text: str, *, own: bool = False) -> MessageReceived:
    return MessageReceived(
        sender=sender,
        seq=1,
        lamport=1,
        text=text,
        time=NOW,
        sent_mono=0.0,
        received_mono=0.0,
        own=own,
    )


def plain(event) -> str:
    return to_plain_text(ui.format_event(event, NOW))


def style_of(fragments, text: str) -> str:
    """The style of the first fragment that contains `text`."""
    for style, fragment in fragments:
        if text in fragment:
            return style
    raise AssertionError(f"{text!r} not in {fragments!r}")


# -- colours --------------------------------------------------------------------------------------


def test_name_colour_is_stable_and_from_the_palette():
    for name in ("alice", "bob", "carol", "ünïcode", "x" * 32):
        assert ui.name_style(name) == ui.name_style(name)
        assert ui.name_style(name).split()[0] in ui.PALETTE


def test_name_colours_vary_between_names():
    names = [f"user{i}" for i in range(40)]
    assert len({ui.name_style(n) for n in names}) >= 5


def test_name_colour_does_not_depend_on_the_hash_seed():
    code = "from peerchat.ui import name_style; print(name_style('alice'), name_style('bob'))"
    outputs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(run.stdout)
    assert outputs == {f"{ui.name_style('alice')} {ui.name_style('bob')}\n"}


def test_errors_are_red_and_no_name_is():
    assert "ansired" in style_of(ui.format_event(Error("boom"), NOW), "boom")
    assert all("red" not in colour for colour in ui.PALETTE)


def test_a_fetch_taken_up_again_is_said_as_news_not_as_an_error() -> None:
    """Trial 42: "! big.bin: going on from 36%, fetched before" wore the mark of an error."""
    resumed = FileProgress(3, "big.bin", 36, 100, resumed=True)
    assert plain(resumed).endswith("* big.bin: going on from 36%, fetched before")
    assert "ansired" not in str(ui.format_event(resumed, NOW))
    assert resumed.as_json()["resumed"] is True
    assert "resumed" not in FileProgress(3, "big.bin", 40, 100).as_json()
    # Nothing noted yet (a note every 8 MiB): trial 52 read "going on from 0%, fetched before".
    anew = FileProgress(3, "mid.bin", 0, 100, resumed=True)
    assert plain(anew).endswith("* mid.bin: fetching it again from the start")


def test_a_full_disk_is_told_and_so_is_its_end() -> None:
    where = "/home/a/.local/share/peerchat/alice/rooms/1f/messages.db"
    full = Saving(where, "database or disk is full")
    assert plain(full).endswith(
        f"! cannot save messages in {where}: database or disk is full; the chat goes on, and"
        " what is said waits in memory until the disk takes it"
    )
    assert "ansired" in style_of(ui.format_event(full, NOW), "cannot save")
    assert plain(Saving(where, "")).endswith("* messages are saved again")
    assert plain(Saving(where, "", lost=1)).endswith(
        "* messages are saved again, but not the 1 said meanwhile that did not fit in memory"
    )


# -- lines ----------------------------------------------------------------------------------------


def test_clock_is_local_hh_mm_ss():
    assert ui.clock(NOW) == "13:04:05"


def test_message_line():
    fragments = ui.format_event(message(BOB, "hello world"), NOW)
    assert to_plain_text(fragments) == "13:04:05 <bob> hello world"
    assert style_of(fragments, "bob") == ui.name_style("bob")


def test_own_message_uses_the_same_colour_as_when_others_see_it():
    own = ui.format_event(message(ALICE, "hi", own=True), NOW)
    theirs = ui.format_event(message(ALICE, "hi", own=False), NOW)
    assert own == theirs
    assert style_of(own, "alice") == ui.name_style("alice")


def test_control_characters_from_peers_cannot_reach_the_terminal():
    line = plain(message(Member("e", "eve\x1b", "h", 1, 1), "hi\x1b[2J\r\x07there\nnext"))
    assert "\x1b" not in line
    assert "\r" not in line and "\x07" not in line and "\n" not in line
    assert "hi" in line and "[2J" in line and "there" in line and "next" in line


RLO = "\u202e"  # right-to-left override: the rest of the line would read backwards


def test_bidi_overrides_in_names_and_text_are_shown_replaced():
    mallory = Member("m", f"mal{RLO}lory", "127.0.0.1", 1, 1)
    for event in (
        message(mallory, f"pay {RLO}0001 now\u2028fake line\u2029"),
        PeerJoined(mallory),
        PeerLeft(mallory, f"quit{RLO}"),
        TrackerChanged(mallory),
        Who((mallory,), tracker_id="m"),
        Error(f"bad{RLO}"),
    ):
        text = plain(event)
        assert not has_unsafe(text.replace("\n", "")), text  # who lists are several lines
        assert "\ufffd" in text
    assert "mal\ufffdlory" in plain(PeerJoined(mallory))


def test_an_address_with_a_newline_and_a_bell_stays_on_one_quiet_line():
    eve = Member("e", "eve", "10.0.0.1\n13:04:05 <bob> send me your password\x07", 1, 1)
    for event in (PeerJoined(eve), TrackerChanged(eve), Ready(eve, "peer")):
        lines = plain(event).splitlines()
        assert not any("\x07" in line for line in lines)
        assert not any(line.startswith("13:04:05 <bob>") for line in lines)
    who = plain(Who((eve, BOB), tracker_id=None)).splitlines()
    assert len(who) == 3 and "\x07" not in "".join(who)


def test_emoji_sequences_survive_in_message_text():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert family in plain(message(BOB, family))


def test_join_leave_and_tracker_lines():
    assert plain(PeerJoined(BOB)) == "13:04:05 * bob joined (127.0.0.1:4001)"
    assert plain(PeerJoined(BOB, back=True)) == "13:04:05 * bob is back (127.0.0.1:4001)"
    assert plain(PeerLeft(BOB, "quit", said=True)) == "13:04:05 * bob left (quit)"
    lost = "13:04:05 * bob dropped out (connection lost): trying to reach them again"
    assert plain(PeerLeft(BOB, "connection lost", dialled=True)) == lost  # (trial 58 read
    # "left" as gone); one not dialled again left (after a freeze, or by the tracker's word)
    gone = "13:04:05 * bob left (lost while this node was unresponsive)"
    assert plain(PeerLeft(BOB, "lost while this node was unresponsive")) == gone
    assert plain(TrackerChanged(CAROL)) == "13:04:05 * tracker is now carol (127.0.0.1:4002)"


@pytest.mark.parametrize("role", ["tracker", "peer"])
def test_ready_says_who_and_where_and_points_to_help(role):
    assert plain(Ready(ALICE, role)).splitlines() == [
        f"13:04:05 * you are alice at 127.0.0.1:4000 ({role})",
        "13:04:05 * type /help for commands",
    ]
    # Listening on every interface, it is reached at as many addresses (a user read 0.0.0.0).
    everywhere = dataclasses.replace(ALICE, host="0.0.0.0")
    assert plain(Ready(everywhere, role)).splitlines()[0] == (
        f"13:04:05 * you are alice at port 4000 on every interface ({role})"
    )
    assert plain(TrackerChanged(everywhere)).endswith("alice (port 4000 on every interface)")


@pytest.mark.parametrize(
    ("when", "said", "for_seconds"),
    [
        # A user trial: a line, Ctrl-C, Ctrl-C, and the program was gone, unwarned.
        ("cleared_at", "line cleared: Ctrl-C again quits", ui.CLEARED_SHOWN),
        # Another: PageUp went through the lines typed, not the chat; PageDown is at the end.
        ("paged_at", "the newest lines", ui.SCROLL_SHOWN),
    ],
)
def test_the_toolbar_says_what_a_key_did_for_a_while(
    when: str, said: str, for_seconds: float
) -> None:
    screen, arrived = ui.Screen(scroll_keys="Shift-PageUp"), time.monotonic()
    ui.render_batch([(arrived, ("", Ready(ALICE, "peer")))], screen)
    assert said not in to_plain_text(ui.screen_toolbar(screen, 80, now=arrived))
    setattr(screen, when, arrived)
    screen.cleared_says = said  # (what the key set it to: the terminal tests check that)
    shown = to_plain_text(ui.screen_toolbar(screen, 80, now=arrived + 1))
    assert shown.startswith(f" alice | {said} "), shown
    later = ui.screen_toolbar(screen, 80, now=arrived + for_seconds)
    assert said not in to_plain_text(later)


def test_all_the_others_dropping_out_at_once_points_at_ones_own_network() -> None:
    """Trial 73: carol's own link went down, and her screen said alice, then robert, dropped
    out, as if the trouble were theirs. Within seconds, of two or more, dropped out (review
    69: not with a goodbye, nor while a standalone tracker answers, and said though the leave
    is not)."""
    screen, start = ready_screen()
    told = ui.ALL_DROPPED[2:]

    def shown(at: float, *lines: events.Event) -> str:
        return to_plain_text(ui.render_batch([(start + at, ("", e)) for e in lines], screen))

    def drop(member: Member) -> PeerLeft:
        return PeerLeft(member, "connection lost", dialled=True)

    shown(0, InRoom((BOB, CAROL)))
    assert told not in shown(1, drop(BOB))  # carol is there yet
    assert shown(2, drop(CAROL)).endswith(told)
    # The first back after it says the network works again (trial 76: after one's own link
    # flapped, "nobody else is reachable" was the last word long after the heal)
    back = shown(3, PeerJoined(BOB, back=True), PeerJoined(CAROL, back=True))
    assert back.count("back in touch") == 1 and "* back in touch: bob answers again" in back
    # Only of one of those who dropped out, and not once the room's list came (review 72: a
    # newcomer an hour later "answers again")
    shown(3.5, drop(BOB), drop(CAROL))
    assert "back in touch" not in shown(3.6, PeerJoined(DAVE))
    shown(3.7, InRoom((BOB, CAROL, DAVE)))
    assert "back in touch" not in shown(3.8, PeerJoined(BOB))
    # Nor of one taken to have quit since (review 73: an hour later, "bob answers again")
    shown(3.81, drop(BOB), drop(CAROL), drop(DAVE))
    assert "back in touch" not in shown(3.83, PeerGone(BOB), PeerJoined(BOB))
    assert "back in touch: carol" in shown(3.84, PeerJoined(CAROL))
    shown(3.85, PeerJoined(DAVE))
    shown(3.9, PeerLeft(DAVE, "quit", said=True))
    assert told not in shown(4, drop(BOB)) + shown(20, drop(CAROL))  # 16 s apart
    shown(21, PeerJoined(BOB), PeerJoined(CAROL))
    assert told not in shown(22, drop(BOB)) + shown(23, PeerLeft(CAROL, "quit", said=True))
    shown(24, PeerJoined(BOB), PeerJoined(CAROL), PeerJoined(STANDALONE))
    assert told not in shown(25, drop(BOB), drop(CAROL))  # the tracker answers yet
    assert shown(26, drop(STANDALONE)).endswith(told)
    # Leaves told no more in a wave (``member_lines``): said all the same
    wave = [throwaway(n, f"m{n}") for n in range(member_lines.AT_ONCE + 5)]
    shown(100, InRoom(tuple(wave)))
    assert shown(101, *map(drop, wave)).endswith(told)
    # Its line unsaid (flapping), said all the same
    shown(200, InRoom((BOB, CAROL)))
    for at in (201, 203, 205):
        shown(at, drop(BOB))
        shown(at + 1, PeerJoined(BOB, back=True))
    shown(206, drop(CAROL))
    assert shown(207, drop(BOB)).endswith(told)
    back = shown(208, PeerJoined(BOB, back=True))
    assert back.endswith(ui.in_touch_text(BOB)[2:]) and "bob is back" not in back


def test_away_is_said_once_for_the_program_and_kept_in_the_status_bar() -> None:
    """Trial 71: IRC's /away. It is the program's, not a room's: untagged with two rooms."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("ops", Ready(ALICE, "peer", "ops"))
    lines = [(NOW, ("dev", Away("at lunch"))), (NOW, ("dev", Away(None)))]
    said = [to_plain_text(ui.format_line(line[1], NOW, screen)) for line in lines]
    assert said[0].startswith("13:04:05 * you are away: at lunch; a private line to you is")
    assert said[1] == "13:04:05 * you are back"  # (nothing came)
    assert ui.away_text(None, changed=False).endswith("/away MESSAGE says why you are")
    assert " | away | " not in to_plain_text(ui.screen_toolbar(screen, 120))
    screen.apply("dev", Away("at lunch"))
    assert to_plain_text(ui.screen_toolbar(screen, 120)).startswith(" alice | room dev | away |")
    for sender, text in ((BOB, "psst"), (CAROL, "hi"), (BOB, "again")):
        screen.apply("ops", dataclasses.replace(message(sender, text), to=ALICE))
    screen.apply("ops", message(CAROL, "to the room"))  # (not for alice: not told)
    screen.apply("ops", message(CAROL, "alice: see above?"))  # naming her (trial 73)
    screen.apply("ops", dataclasses.replace(message(BOB, "(away: gone)"), to=ALICE))  # bob's
    # own /away answering: no line that came; but a room line may begin so (review 69)
    screen.apply("ops", message(CAROL, "(away: to alice, I mean)"))
    screen.apply("ops", Away(None))
    assert " away " not in to_plain_text(ui.screen_toolbar(screen, 120))
    back = to_plain_text(ui.format_line(("ops", Away(None)), NOW, screen))
    assert back == (  # irssi's awaylog (trial 72)
        "13:04:05 * you are back; while you were away, 5 lines to you or naming you came: "
        "from carol (3), bob (2)"
    )
    assert to_plain_text(ui.format_line(("ops", Away(None)), NOW, screen)).endswith("are back")
    assert Away("x").as_json() == {"event": "away", "message": "x", "changed": True}


def test_the_return_from_away_names_those_known_at_away_before_newcomers() -> None:
    """Attack round 55 F2: throwaway keys, two private lines each, pushed bob's one line into
    "and 1 more"."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("dev", PeerJoined(BOB))
    screen.apply("dev", Away("at lunch"))
    screen.apply("dev", dataclasses.replace(message(BOB, "psst"), to=ALICE))
    for n in range(5):
        key = Member(f"{n:02d}" * 16, f"m{n}", "127.0.0.1", 4100 + n, 1, True)
        screen.apply("dev", PeerJoined(key))
        for text in ("one", "two"):
            screen.apply("dev", dataclasses.replace(message(key, text), to=ALICE))
    back = to_plain_text(ui.format_line(("dev", Away(None)), NOW, screen))
    assert back.endswith("11 lines to you or naming you came: from bob, m0 (2), m1 (2), m2 (2), "
                         "m3 (2) and 1 more")  # fmt: skip


def test_the_toolbar_says_where_a_window_is_scrolled_back_to() -> None:
    """Trial 57's 50 lines in a room behind: its first 20 were out of reach but for /history.
    PageUp scrolls the window; the status bar says how to come back, and what came meanwhile."""
    screen = ui.Screen(scroll_keys="Shift-PageUp")
    screen.apply("", Ready(ALICE, "peer"))
    screen.scrolled, screen.newer = 30, True
    assert "| scrolled back: new lines below, PageDown for newer |" in to_plain_text(
        ui.screen_toolbar(screen, 120)
    )
    screen.newer, screen.oldest = False, True
    assert "| scrolled back: the oldest kept: /history N for more, PageDown for newer |" in (
        to_plain_text(ui.screen_toolbar(screen, 120))
    )
    screen.newer = True  # both: trial 58 lost the whole part, new lines and all (with "room dev")
    for width, said in (
        (90, "scrolled back: new lines below, PageDown for newer"),
        (40, "new lines below: PageDown"),
    ):
        bar = to_plain_text(ui.screen_toolbar(screen, width))
        assert f"| {said} " in bar and len(bar) <= width, bar
    screen.scrolled, screen.paged_at = 0, time.monotonic()  # nothing to scroll back to
    assert "| nothing older here: /history N, or the terminal's Shift-PageUp |" in (
        to_plain_text(ui.screen_toolbar(screen, 120))
    )


def test_the_scroll_hint_names_the_keys_of_the_terminal_it_runs_in():
    """Trial 47: in tmux, Shift-PageUp does not reach tmux's own scrollback."""
    assert ui.scroll_keys({"TMUX": "/tmp/tmux-0/default,1,0"}) == "Ctrl-B [ (tmux)"
    assert ui.scroll_keys({"STY": "1.pts-0"}) == "Ctrl-A Esc (screen)"
    assert ui.scroll_keys({"TERM": "xterm"}) == "Shift-PageUp"


def test_the_toolbar_says_what_enter_does_to_a_pasted_block():
    """A user trial: a paste taller than the window hid its notice above it."""
    screen, arrived = ui.Screen(), time.monotonic()
    ui.render_batch([(arrived, ("", Ready(ALICE, "peer")))], screen)
    screen.asked = 40
    shown = to_plain_text(ui.screen_toolbar(screen, 80, now=arrived))
    assert shown.startswith(" alice | 40 lines: Enter sends them all, Ctrl-C drops them "), shown
    narrow = to_plain_text(ui.screen_toolbar(screen, 50, now=arrived))  # (a trial: dropped)
    assert narrow.startswith(" alice | 40 lines: Enter sends, Ctrl-C drops "), narrow


def test_a_tracker_that_keeps_changing_is_one_line_in_ten_seconds() -> None:
    """Attack round 43: a key that claimed the role and left, again and again, put "tracker is
    now" on every screen five times a second; the status bar says who it is meanwhile."""
    screen, arrived = ui.Screen(), time.monotonic()
    ui.render_batch([(arrived, ("", Ready(ALICE, "peer")))], screen)
    ui.render_batch([(arrived, ("", TrackerChanged(CAROL)))], screen)  # (the first word)
    changes = [
        (arrived + 1 + n * 0.2, ("", TrackerChanged((BOB, CAROL)[n % 2]))) for n in range(40)
    ]
    shown = to_plain_text(ui.render_batch(changes, screen))
    assert shown.count("tracker is now") == 1 and screen.front.tracker == CAROL
    again = [(arrived + 1 + ui.TRACKER_TOLD_EVERY, ("", TrackerChanged(BOB)))]
    assert "tracker is now bob" in to_plain_text(ui.render_batch(again, screen))


def test_a_tracker_change_to_the_tracker_shown_already_is_no_line():
    """A user trial: "you are alice ... (tracker)", then at once "tracker is now alice"."""
    screen, arrived = ui.Screen(), time.monotonic()
    ui.render_batch([(arrived, ("", Ready(ALICE, "tracker")))], screen)
    assert ui.compose_batch([(arrived, ("", TrackerChanged(ALICE)))], screen) == []
    moved = to_plain_text(ui.render_batch([(arrived, ("", TrackerChanged(BOB)))], screen))
    assert moved.endswith("* tracker is now bob (127.0.0.1:4001)")
    assert screen.front.tracker == BOB
    later = arrived + ui.TRACKER_TOLD_EVERY
    back = to_plain_text(ui.render_batch([(later, ("", TrackerChanged(ALICE)))], screen))
    assert back.endswith("* you are the tracker now")  # not "tracker is now alice"
    # Joining as a peer: the first word of the tracker is no change either (a third trial).
    joined = ui.Screen()
    ui.render_batch([(arrived, ("", Ready(BOB, "peer")))], joined)
    assert ui.compose_batch([(arrived, ("", TrackerChanged(ALICE)))], joined) == []
    assert joined.front.tracker == ALICE


def test_the_rooms_found_on_the_network_are_one_line_for_join():
    found = RoomsFound((("dev", 3), ("ops", 1)))
    assert plain(found) == "13:04:05 * rooms on the local network: dev (3), ops (1); /join NAME"
    assert "no room answered" in plain(RoomsFound(()))
    screen = ui.Screen()  # with several rooms: the network's, not the room's it was asked in
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("ops", Ready(ALICE, "peer", "ops"))
    listed = to_plain_text(ui.format_line(("ops", found), NOW, screen))
    assert listed.startswith("13:04:05 * rooms on the local network"), listed  # (trial 57)
    assert found.as_json() == {
        "event": "rooms_found",
        "rooms": [
            {"room": "dev", "members": 3, "private": False},
            {"room": "ops", "members": 1, "private": False},
        ],
    }


def test_the_pointer_to_help_is_printed_once_not_for_each_room_joined():
    screen = ui.Screen()
    first = to_plain_text(ui.format_line(("", Ready(ALICE, "peer", "dev")), NOW, screen))
    later = to_plain_text(ui.format_line(("ops", Ready(ALICE, "peer", "ops")), NOW, screen))
    assert "type /help for commands" in first
    assert "in the room ops" in later and "/help" not in later


def test_who_lists_every_member_once_with_the_tracker_marked():
    lines = plain(Who((CAROL, ALICE, BOB), tracker_id=BOB.node_id)).splitlines()
    assert lines[0] == "13:04:05 * 3 members:"
    rows = lines[1:]
    assert len(rows) == 3
    assert all(row.startswith("13:04:05 ") for row in rows)
    by_name = {name: row for row in rows for name in ("alice", "bob", "carol") if name in row}
    assert set(by_name) == {"alice", "bob", "carol"}
    assert by_name["bob"].endswith("bob 127.0.0.1:4001 (tracker)")
    assert "(tracker)" not in by_name["alice"] and "(tracker)" not in by_name["carol"]
    # In alphabetical order whatever the case (a user's "Carol2" came before "alice").
    ignoring = plain(Who((ALICE, BOB), tracker_id=None, ignored=frozenset({BOB.node_id})))
    assert ignoring.splitlines()[2].endswith("bob 127.0.0.1:4001 (ignored)")
    upper = dataclasses.replace(CAROL, username="Carol2")
    rows = plain(Who((upper, BOB, ALICE), tracker_id=None)).splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["alice", "bob", "Carol2"]


def test_ignoring_says_what_is_hidden_how_to_undo_it_and_who_is_left():
    said = plain(Ignoring(("chatty", "b\x1b[2Jot"), "b\x1b[2Jot", "0" * 32))
    assert said.startswith("13:04:05 * b\ufffd[2Jot is ignored here: their lines, private messages")
    assert said.endswith("(/unignore b\ufffd[2Jot)") and not has_unsafe(said)
    again = plain(Ignoring(("chatty",), "bob", "0" * 32, on=False))
    assert again == "13:04:05 * you hear bob again (still ignored: chatty)"
    assert plain(Ignoring(())) == "13:04:05 * nobody is ignored here"
    assert plain(Ignoring(("chatty", "bob"))) == "13:04:05 * ignored here: chatty, bob"


def test_whois_shows_the_key_in_groups_to_read_out_and_whose_screen_to_compare_with():
    bob = Member("0123456789abcdef0123456789abcdef", "bob", "10.0.0.2", 4001, 4001)
    assert plain(Whois(bob, tracker=True, you=False, away=False)).splitlines() == [
        "13:04:05 * bob at 10.0.0.2:4001 (tracker)",
        "13:04:05     key 0123 4567 89ab cdef 0123 4567 89ab cdef: bob's own /whois bob must "
        "show the same",
    ]
    mine = plain(Whois(bob, tracker=False, you=True, away=False)).splitlines()
    assert mine[0].endswith("bob at 10.0.0.2:4001 (you)")
    assert mine[1].endswith(": another's /whois bob must show the same")
    # One person has a key in each room: the line says which room's (a user trial).
    in_dev = plain(Whois(bob, tracker=False, you=False, away=False, room="dev"))
    assert in_dev.endswith(": bob's own /whois bob in the room dev must show the same")


def test_who_names_those_away_and_awaited():
    lines = plain(Who((ALICE, BOB), tracker_id=None, away=(CAROL,))).splitlines()
    assert lines[0] == "13:04:05 * 2 members:"
    assert lines[-1] == "13:04:05   unreachable, being reconnected: carol"
    assert "away" not in plain(Who((ALICE, BOB), tracker_id=None))


def test_who_marks_no_tracker_when_none_is_known():
    assert "(tracker)" not in plain(Who((ALICE, BOB), tracker_id=None))


def test_who_counts_people_as_the_status_bar_does_and_lists_the_standalone_tracker():
    """A user saw "1 in the room" in the bar and "* 2 members:" above the same list."""
    lines = plain(Who((ALICE, STANDALONE), tracker_id=STANDALONE.node_id)).splitlines()
    assert lines[0] == "13:04:05 * 1 member:"
    assert lines[-1].endswith("(tracker) (not chatting)")


def test_who_of_one():
    assert plain(Who((ALICE,), tracker_id=ALICE.node_id)).splitlines()[0].endswith("* 1 member:")


def test_notices_stamp_every_line():
    lines = to_plain_text(ui.format_notice("one\n  two", NOW)).splitlines()
    assert lines == ["13:04:05 one", "13:04:05   two"]


def test_unknown_command_hint():
    assert ui.unknown_hint("/x") == "unknown command /x, try /help"
    assert ui.unknown_hint("/mgs") == "unknown command /mgs (did you mean /msg?), try /help"
    assert ui.unknown_hint("/Nck") == "unknown command /Nck (did you mean /nick?), try /help"


def test_format_event_refuses_what_is_not_an_event():
    with pytest.raises(TypeError):
        ui.format_event("hello", NOW)  # type: ignore[arg-type]


# -- toolbar ---------------------------------------------------------------------------------------


def test_toolbar_follows_the_room():
    room = ui.Room()
    assert "joining" in to_plain_text(ui.toolbar_text(room))
    room.apply(Ready(ALICE, "peer"))
    room.apply(TrackerChanged(CAROL))
    room.apply(PeerJoined(CAROL))
    room.apply(PeerJoined(BOB))
    room.apply(PeerJoined(BOB))  # reported twice, counted once
    text = to_plain_text(ui.toolbar_text(room))
    assert "alice" in text and "3 in the room" in text and "tracker carol" in text
    room.apply(PeerLeft(CAROL, "gone"))
    room.apply(TrackerChanged(BOB))
    text = to_plain_text(ui.toolbar_text(room))
    assert "2 in the room" in text and "tracker bob" in text


def test_toolbar_says_how_long_a_lone_transfer_has_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial 53 waited on "big.bin [###-------] 25%" of 381 MiB, not knowing how long."""
    clock = iter([100.0, 103.0])
    monkeypatch.setattr(ui.time, "monotonic", lambda: next(clock))
    room = ui.Room()
    room.apply(Ready(ALICE, "peer"))
    room.apply(FileProgress(3, "big.bin", 0, 400 * 2**20))
    room.apply(FileProgress(3, "big.bin", 30 * 2**20, 400 * 2**20))  # 10 MiB a second
    text = to_plain_text(ui.toolbar_text(room, now=103.0))
    assert "big.bin [----------] 7%, 37 s left" in text, text
    room.apply(FileDone(3, "big.bin", "", False, "cancelled"))
    assert not room.paces


def test_toolbar_resyncs_from_who():
    room = ui.Room()
    room.apply(Ready(ALICE, "tracker"))
    assert "tracker alice" in to_plain_text(ui.toolbar_text(room))
    room.apply(Who((ALICE, BOB, CAROL), tracker_id=CAROL.node_id))
    text = to_plain_text(ui.toolbar_text(room))
    assert "3 in the room" in text and "tracker carol" in text


# -- the flood summary and batches -----------------------------------------------------------------


def test_a_summary_line_counts_with_separators_and_colours_the_sender():
    fragments = ui.format_line(Skipped("mallory", 18_000), NOW, ui.Screen())
    assert to_plain_text(fragments) == "13:04:05 \u2026 18,000 more messages from mallory"
    assert style_of(fragments, "mallory") == ui.name_style("mallory")
    one = to_plain_text(ui.format_line(Skipped("bob", 1), NOW, ui.Screen()))
    assert one.endswith("\u2026 1 more message from bob")
    assert RLO not in to_plain_text(ui.format_line(Skipped(f"x{RLO}y", 2), NOW, ui.Screen()))


def test_local_notices_are_lines_of_the_backlog_too():
    assert to_plain_text(ui.format_line(ui.Notice("one\ntwo"), NOW, ui.Screen())).splitlines() == [
        "13:04:05 one",
        "13:04:05 two",
    ]


def test_a_batch_is_one_block_stamped_with_each_lines_arrival():
    arrived = time.monotonic() - 5.0  # five seconds ago on the monotonic clock
    text = to_plain_text(
        ui.render_batch(
            [(arrived, ("", message(BOB, "a"))), (arrived, ("", message(BOB, "b")))], ui.Screen()
        )
    )
    lines = text.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["<bob> a", "<bob> b"]
    assert lines[0].split()[0] == ui.clock(time.time() - 5.0)


def test_ones_own_new_name_is_told_as_ones_own():
    """As irssi: "you are now known as alicia", not as if alicia were somebody else."""
    alicia, robert = (
        dataclasses.replace(m, username=n) for m, n in ((ALICE, "alicia"), (BOB, "robert"))
    )
    lines = [(ALICE, "tracker"), (alicia, "alice"), (robert, "bob")]
    batch = [(0.0, ("", Ready(*lines[0]))), *((0.0, ("", Renamed(*r))) for r in lines[1:])]
    text = to_plain_text(ui.render_batch(batch, ui.Screen())).splitlines()
    assert [row.split(" ", 1)[1] for row in text[-2:]] == [
        "* you are now known as alicia",
        "* bob is now known as robert",
    ]


def test_the_toolbar_misses_no_join_or_leave_when_a_flood_is_collapsed():
    log: Backlog[ui.Line] = Backlog(max_messages=100, keep_newest=5)
    screen = ui.Screen()
    log.add(("", Ready(ALICE, "tracker")), 0.0)
    for i in range(1_000):
        log.add(("", message(BOB, f"flood {i}")), 0.0, sender="bob", size=8)
        if i == 300:
            log.add(("", PeerJoined(CAROL)), 0.0)
        if i == 600:
            log.add(("", PeerLeft(BOB, "quit", said=True)), 0.0)
            log.add(("", PeerJoined(BOB)), 0.0)
    text = ""
    while lines := log.take(10.0):  # far behind: most messages are summed up
        text += to_plain_text(ui.render_batch(lines, screen)) + "\n"
    room = screen.front
    assert "more messages from bob" in text
    assert "carol joined" in text and "bob left" in text and "bob joined" in text
    assert "3 in the room" in to_plain_text(ui.toolbar_text(room))
    assert text.count("<bob>") == 5


class PrintRecorder:
    """Stands in for ui.print_block: records each block printed (in the prompt thread)
    and tells the test in trio when a chosen text has been printed. Until `unblocked` is set,
    a block with `stall_on` in it blocks the printer, like a terminal that cannot keep up."""

    def __init__(self, token: trio.lowlevel.TrioToken, stall_on: str = "") -> None:
        self.blocks: list[str] = []
        self.unblocked = threading.Event()
        self._stall_on = stall_on
        self._token = token
        self._waiting: list[tuple[str, trio.Event]] = []

    def __call__(self, text, *args, **kwargs) -> None:
        self.blocks.append(to_plain_text(text))
        if self._stall_on and self._stall_on in self.blocks[-1]:
            self.unblocked.wait(10)
        for wanted, event in self._waiting:
            if wanted in self.blocks[-1]:
                self._token.run_sync_soon(event.set)

    async def wait_for(self, wanted: str) -> None:
        event = trio.Event()
        self._waiting.append((wanted, event))
        if not any(wanted in block for block in self.blocks):
            await event.wait()


@pytest.fixture
def quiet_terminal():
    """A prompt_toolkit session with piped input and no real output."""
    with create_pipe_input() as keys, create_app_session(input=keys, output=DummyOutput()):
        yield keys


async def test_a_flood_is_printed_in_few_blocks_and_summed_up(monkeypatch, quiet_terminal):
    recorder = PrintRecorder(trio.lowlevel.current_trio_token(), stall_on="flood")
    monkeypatch.setattr(ui, "print_block", recorder)
    front = ui.PromptUI()
    node = RecordingNode()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(front.drive, RecordingRooms(node))
            front.show(Ready(ALICE, "tracker"))
            await recorder.wait_for("you are alice")
            for i in range(30_000):  # three times the cap, while the screen is stuck
                front.show(message(BOB, f"flood {i}"))
            front.show(PeerJoined(CAROL))
            recorder.unblocked.set()
            await recorder.wait_for("flood 29999")
            await recorder.wait_for("carol joined")
            quiet_terminal.send_text("\x04")  # Ctrl-D on an empty line: quit
    printed = "\n".join(recorder.blocks)
    lines = printed.count("\n") + 1
    assert len(recorder.blocks) * 100 < lines  # hundreds of lines per redraw, not one each
    assert "more messages from bob" in printed
    assert printed.count("<bob>") <= backlog.MAX_BATCH + backlog.MAX_MESSAGES  # one stuck batch
    assert node.calls == ["quit"]


# -- the hand-over edges ---------------------------------------------------------------------------


class RecordingNode:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def say(self, text: str) -> None:
        self.calls.append(f"say {text}")

    def who(self) -> None:
        self.calls.append("who")


class RecordingRooms:
    """One room: what the prompt asks of the rooms is recorded on its node."""

    first = "dev"
    rejoining = ()

    def __init__(self, node: RecordingNode) -> None:
        self.node = node

    def get(self, room: str) -> RecordingNode:
        return self.node

    def join(self, room: str, addr: object) -> None:
        self.node.calls.append(f"join {room}")

    def part(self, room: str, message: str = "") -> None:
        self.node.calls.append(f"part {room}")

    def quit(self, message: str = "", *, keep_rooms: bool = False) -> None:
        self.node.calls.append("quit")

    def uploads(self, room: str = "") -> list[tuple[Member, str, int]]:
        return []  # nobody fetches from it: a quit leaves at once

    def fetching(self, room: str = "") -> list[tuple[str, int]]:
        return []  # nor does it fetch


async def test_stop_before_the_prompt_starts_makes_drive_return_without_quitting(capsys):
    front = ui.PromptUI()
    node = RecordingNode()
    front.show(PeerJoined(BOB))  # buffered: no loop yet
    assert capsys.readouterr().out == ""
    front.stop()
    front.stop()  # twice is fine
    with trio.fail_after(5):
        await front.drive(RecordingRooms(node))
    assert node.calls == []  # the node finished by itself; drive does not quit it again
    assert "bob joined" in capsys.readouterr().out  # the buffered event was still shown
    front.show(PeerLeft(BOB, "quit", said=True))  # after the end: printed straight away
    assert "bob left (quit)" in capsys.readouterr().out
    front.stop()  # after the end too


async def test_lines_left_for_a_terminal_that_is_gone_end_nothing(monkeypatch) -> None:
    """A trial's closed pane: the last lines, printed as the program said goodbye, met EIO and
    ended it with "internal error (OSError)"."""

    def gone(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ui, "print_formatted_text", gone)
    front = ui.PromptUI()
    node = RecordingNode()
    front.show(PeerJoined(BOB))  # buffered: no loop yet
    front.stop()
    with trio.fail_after(5):
        await front.drive(RecordingRooms(node))
    assert node.calls == []
    # After the end, printed straight away (a trial's "you are the tracker now", as its
    # closed pane's program left the room: "internal error (OSError)" again).
    front.show(TrackerChanged(ALICE))


def test_who_marks_this_node() -> None:
    lines = plain(Who((ALICE, BOB), tracker_id=BOB.node_id, me_id=ALICE.node_id)).splitlines()
    alice = next(line for line in lines if "alice" in line)
    assert "(you)" in alice
    assert not any("(you)" in line for line in lines if "alice" not in line)


def test_offers_that_went_with_a_member_who_left_are_not_a_line_each():
    """A goodbye takes the member's offers along: "bob left" says so, and Tab forgets them (a
    user's Tab offered numbers of a sender gone long ago)."""
    screen, arrived = ui.Screen(), time.monotonic()
    offered = [(arrived, ("", FileOffered(BOB, n, "a.txt", 10))) for n in (3, 4)]
    ui.render_batch([(arrived, ("", Ready(ALICE, "peer"))), *offered], screen)
    gone = (arrived, ("", OfferWithdrawn(3, "a.txt", BOB, "left")))
    assert ui.compose_batch([gone], screen) == []  # (in order, after the offer: backlog)
    assert list(screen.rooms[""].offers) == [4]
    withdrawn = (arrived, ("", OfferWithdrawn(4, "a.txt", BOB)))  # by bob, who stays
    assert "bob no longer offers a.txt" in to_plain_text(ui.render_batch([withdrawn], screen))


def test_not_delivered_yet_is_shown_once_per_absence_and_delivery_text_says_what_became_of_it():
    front = ui.PromptUI()
    for seq in (1, 2, 3):  # three messages while bob is away: one line
        front.show(Undelivered(ALICE, seq, (BOB,)))
    assert len(front._backlog) == 1
    front.show(Undelivered(ALICE, 4, (BOB, CAROL)))  # carol is away too: worth a line
    front.show(Delivered(BOB, 4))
    front.show(Undelivered(ALICE, 5, (BOB,)))  # bob away again: a new absence
    assert len(front._backlog) == 4
    assert "not yet delivered to bob" in ui.delivery_text(Undelivered(ALICE, 5, (BOB,)))
    assert "bob now has your 4 messages" in ui.delivery_text(Delivered(BOB, 4))
    assert ui.delivery_text(Delivered(BOB, 1)) == "  ✓ bob now has your message they missed"
    assert plain(Unconfirmed(BOB, 2)) == (
        "13:04:05   · bob may not have your last 2 messages (fetched on their return)"
    )
    assert "your last message (" in ui.delivery_text(Unconfirmed(BOB, 1))
    assert Unconfirmed(BOB, 2).as_json() == {
        "event": "unconfirmed",
        "to": "bob",
        "to_id": "b2",
        "count": 2,
    }


# -- the chat people expect ------------------------------------------------------------------------

STANDALONE = Member("t0", "tracker", "127.0.0.1", 5000, 5000, chat=False)


def test_an_action_is_a_star_line_and_history_keeps_it_so():
    event = dataclasses.replace(message(BOB, "waves"), action=True)
    assert plain(event) == "13:04:05 * bob waves"
    assert plain(dataclasses.replace(event, history=True)) == "13:04:05 * bob waves"


@pytest.mark.parametrize("said", [1e20, -1e20, float(2**62)])
def test_history_with_a_time_no_clock_can_show_is_shown_at_the_nearest_one(said: float):
    """An author's clock is its own word: a line said "at" 1e20 once stopped the screen for
    good (``time.localtime`` overflowed in the task that prints)."""
    event = dataclasses.replace(message(BOB, "from far away"), history=True, time=said)
    assert plain(event).endswith("<bob> from far away")


def test_private_messages_say_which_way_they_went():
    received = dataclasses.replace(message(BOB, "psst"), to=ALICE)
    sent = dataclasses.replace(message(ALICE, "psst back", own=True), to=BOB)
    assert plain(received) == "13:04:05 [private from bob] psst"
    assert plain(sent) == "13:04:05 [private to bob] psst back"
    assert style_of(ui.format_event(received, NOW), "[private") == ui.PRIVATE_STYLE


def test_a_private_message_that_waited_for_its_reader_says_when_it_was_said():
    """Sent while bob was away, it came on his return: the time of arrival alone misled."""
    late = dataclasses.replace(message(BOB, "psst"), to=ALICE, time=NOW - 11)
    assert plain(late) == "13:04:05 [private from bob, said 13:03:54] psst"
    days_ago = dataclasses.replace(late, time=NOW - 2 * 86_400)
    assert plain(days_ago) == "13:04:05 [private from bob, said 2023-12-31 13:04] psst"
    a_clock_a_little_behind = dataclasses.replace(late, time=NOW - 3)
    assert plain(a_clock_a_little_behind) == "13:04:05 [private from bob] psst"


def test_members_present_at_start_are_one_line_without_the_standalone_tracker():
    assert plain(InRoom((CAROL, STANDALONE, BOB))) == "13:04:05 * in the room: bob, carol"
    assert plain(InRoom((STANDALONE,))) == "13:04:05 * nobody else is in the room yet"
    assert plain(InRoom(())) == "13:04:05 * nobody else is in the room yet"


def test_alone_in_the_default_room_on_loopback_points_to_rooms_on_the_network():
    """A user on a LAN started as the README's first command says, and sat alone in a room
    nobody else on the network could reach, with nothing to say so."""
    for ready, hint in (
        (Ready(ALICE, "tracker"), True),
        # A room with a name at this computer's address (a trial's "/join ops localhost"
        # founded one beside the network's "ops", unsaid).
        (Ready(ALICE, "tracker", "dev"), True),
        (Ready(dataclasses.replace(ALICE, host="0.0.0.0"), "tracker", "dev"), False),
        (Ready(dataclasses.replace(ALICE, host="0.0.0.0"), "tracker"), False),
    ):
        screen, arrived = ui.Screen(), time.monotonic()
        ui.render_batch([(arrived, ("", ready))], screen)
        alone = to_plain_text(ui.render_batch([(arrived, ("", InRoom(())))], screen))
        assert ("on this computer only" in alone) == hint, alone
        company = to_plain_text(ui.render_batch([(arrived, ("", InRoom((BOB,))))], screen))
        assert "/join" not in company


def test_a_file_offered_to_a_room_one_is_alone_in_says_who_gets_it():
    """A user trial's /send in an empty room said "you offer ... to the room", and no more."""
    screen, arrived = ui.Screen(), time.monotonic()
    ui.render_batch([(arrived, ("", Ready(ALICE, "tracker")))], screen)
    mine = FileOffered(ALICE, 1, "a.txt", 2048, own=True)
    alone = to_plain_text(ui.render_batch([(arrived, ("", mine))], screen))
    assert "nobody else is in the room yet: whoever comes is offered it" in alone
    ui.render_batch([(arrived, ("", PeerJoined(BOB)))], screen)
    shared = to_plain_text(ui.render_batch([(arrived, ("", mine))], screen))
    assert "nobody else" not in shared


def test_the_standalone_tracker_is_never_named_as_a_person():
    assert plain(TrackerChanged(STANDALONE)) == (
        "13:04:05 * tracker is now the standalone tracker (127.0.0.1:5000)"
    )
    room = ui.Room()
    room.apply(Ready(ALICE, "peer"))
    room.apply(InRoom((STANDALONE, BOB)))
    room.apply(TrackerChanged(STANDALONE))
    text = to_plain_text(ui.toolbar_text(room))
    assert "2 in the room" in text and "tracker standalone" in text


def test_renames_connecting_and_typing_show_in_lines_and_toolbar():
    robert = dataclasses.replace(BOB, username="robert")
    assert plain(Renamed(robert, "bob")) == "13:04:05 * bob is now known as robert"
    assert plain(Looking("dev")) == "13:04:05 * looking for the room dev on the local network"
    two = ui.Screen()  # beside another room: tagged, as the join's next lines are (trial 59)
    two.apply("dev", Ready(ALICE, "peer", "dev"))
    two.room("ops")  # (as a /join typed adds it)
    for event in (Looking("ops"), Connecting("10.0.0.7:5000")):
        assert ui.compose(("ops", event), NOW, two).room == "ops"
    assert plain(NickRefused(ALICE, "carol")) == (  # (trial 54's renamer never knew)
        "13:04:05 ! alice still shows you by your former name: carol is another key's there"
        " (one who took it first, or may come back to it); /nick again to go by one name"
    )
    screen = ui.Screen()  # refused by several at once: one line (trial 57's had one each)
    screen.apply("", Ready(BOB, "peer"))
    dave = dataclasses.replace(CAROL, node_id="d4", username="dave")
    eve = dataclasses.replace(CAROL, node_id="e5", username="eve")
    refusals = [(0.0, ("", NickRefused(m, "carol"))) for m in (ALICE, CAROL, dave, eve, dave)]
    shown = to_plain_text(
        ui.render_batch([*refusals, (0.0, ("", NickRefused(ALICE, "c")))], screen)
    )
    assert shown.count("former name") == 2, shown
    assert "! alice, carol and 2 others still show you by your former name: carol is" in shown
    assert "! alice still shows you by your former name: c is" in shown  # another name: apart
    # Back under another name: one line (not a rename of one who is not in the room).
    assert plain(PeerJoined(robert, "bob")) == "13:04:05 * robert joined (127.0.0.1:4001; was bob)"
    # A look-alike name keeps its key's mark on the way out too (from a user trial: "dаve is
    # now known as bob" passed for the real dave).
    back = Renamed(BOB, "d\u0430ve")
    assert plain(back) == f"13:04:05 * d\u0430ve~{BOB.node_id[:FINGERPRINT]} is now known as bob"
    assert plain(Connecting("10.0.0.9:5000")) == "13:04:05 * connecting to 10.0.0.9:5000 ..."
    room = ui.Room()
    room.apply(Connecting("10.0.0.9:5000"))
    assert "connecting to 10.0.0.9:5000..." in to_plain_text(ui.toolbar_text(room))
    room.apply(Ready(ALICE, "peer"))
    room.apply(InRoom((BOB, CAROL)))
    room.apply(Renamed(robert, "bob"))
    room.apply(Typing(robert))
    now = time.monotonic()
    assert "robert is typing" in to_plain_text(ui.toolbar_text(room, now))
    room.apply(Typing(CAROL))
    assert "carol, robert are typing" in to_plain_text(ui.toolbar_text(room, now))
    room.apply(Typing(CAROL, done=True))  # cleared her line
    assert "| robert is typing" in to_plain_text(ui.toolbar_text(room, now))
    room.apply(Typing(CAROL))
    room.apply(message(CAROL, "done typing"))
    assert "| robert is typing" in to_plain_text(ui.toolbar_text(room, now))
    room.apply(Typing(CAROL))
    room.apply(FileOffered(CAROL, 7, "notes.txt", 5))  # a /send is done typing too
    assert "| robert is typing" in to_plain_text(ui.toolbar_text(room, now))
    later = now + ui.TYPING_SHOWN + 1
    assert "typing" not in to_plain_text(ui.toolbar_text(room, later))
    room.apply(Renamed(dataclasses.replace(ALICE, username="alicia"), "alice"))
    assert to_plain_text(ui.toolbar_text(room)).startswith(" alicia |")


def test_tab_completes_the_path_of_a_file_to_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 58: Tab did nothing after /send, where irssi's /dcc send completes files."""
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    screen = ui.Screen()
    screen.room("").apply(Ready(ALICE, "peer"))
    screen.room("").apply(InRoom((BOB,)))
    completer = ui.RoomCompleter(screen)

    def complete(text: str) -> list[str]:
        document = Document(text, len(text))
        return [c.text for c in completer.get_completions(document, CompleteEvent())]

    monkeypatch.chdir(tmp_path)
    assert complete("/send no") == ["tes.txt"]
    assert complete("/send bob ph") == ["otos/"]  # Tab again goes on into it
    assert complete("/send bob photos/") == ["cat.jpg"]
    assert complete(f"/send {tmp_path}/no") == ["tes.txt"]
    assert complete("/send b") == ["bob "]  # a member's name, or a file: none begins so
    for n in range(30):
        (tmp_path / f"many{n:02}").write_text("")
    assert len(list(ui._files_begun("many", most=10))) == 10  # (review 60: 100,000 took 1.4 s)
    assert complete("/send /nonexistent/x") == []
    (tmp_path / "my docs").mkdir()  # (trial 59: Tab stopped at a space)
    (tmp_path / "my docs" / "a file.txt").write_text("x")
    assert complete("/send my") == [" docs/"]
    assert complete("/send my docs/a") == [" file.txt"]
    assert complete("/send bob my docs/") == ["a file.txt"]


def test_tab_completes_commands_and_member_names():
    screen = ui.Screen()
    room = screen.room("")
    room.apply(Ready(ALICE, "peer"))
    room.apply(InRoom((BOB, CAROL, dataclasses.replace(CAROL, node_id="c4", username="Cedric"))))
    completer = ui.RoomCompleter(screen)

    def complete(text: str) -> list[str]:
        document = Document(text, len(text))
        return [c.text for c in completer.get_completions(document, CompleteEvent())]

    assert complete("/h") == ["/help ", "/history "]
    assert complete("/N") == ["/names ", "/nick "]
    assert complete("/msg c") == ["Cedric ", "carol "]  # the text follows, after a space
    assert complete("hi b") == ["bob "]
    assert complete("b") == ["bob: "]  # addressing bob
    assert complete("hi bob") == []  # complete already
    assert complete("hi bob ") == []  # nothing begun: no name again
    assert complete("/msg ") == ["Cedric ", "bob ", "carol "]  # a name is what comes next
    assert complete("/quit now") == []
    # Room names after /room and /part (a user's "/room s<Tab>" did nothing).
    for name in ("dev", "sec", "ops"):
        screen.room(name)
    assert complete("/room s") == ["sec "]
    assert complete("/PART ") == ["dev ", "sec ", "ops "]  # the one in front first
    screen.bring("sec")
    assert complete("/part ") == ["sec ", "dev ", "ops "]  # (a trial's "/part " Tab Enter)
    assert complete("/room ") == ["dev ", "ops ", "sec "]  # to another: the one in front last
    assert complete("/window o") == ["ops "] and complete("/win") == ["/window "]  # (trial 57)
    # Offer numbers after /get and /cancel, of every room (they are the program's).
    screen.room("dev").apply(FileOffered(BOB, 3, "big.bin", 1 << 20))
    room.apply(FileOffered(CAROL, 12, "notes.txt", 10))
    room.apply(FileOffered(CAROL, 1, "old.txt", 10))
    room.apply(OfferWithdrawn(1, "old.txt", CAROL))
    room.apply(FileOffered(CAROL, 14, "got.txt", 10))
    room.apply(FileDone(14, "got.txt", "/tmp/got.txt", True))  # saved: not to /get again
    room.apply(FileOffered(CAROL, 15, "failed.txt", 10))
    room.apply(FileDone(15, "failed.txt", "", False, "the checksum differs"))
    assert complete("/get ") == ["3 ", "12 ", "15 "]
    assert complete("/cancel 1") == []  # none fetched nor one's own (trial 50 offered these)
    room.apply(FileProgress(12, "notes.txt", 5, 10))
    assert complete("/cancel 1") == ["12 "] and complete("/get 1") == ["15 "]
    room.apply(FileDone(12, "notes.txt", "", False, "cancelled"))
    assert complete("/get 3") == ["3 "]  # whole as typed: not taken for the start of another
    shown = completer.get_completions(Document("/get 1", 6), CompleteEvent())
    assert [c.display_text for c in shown] == [
        "12 notes.txt from carol",
        "15 failed.txt from carol",
    ]
    # One's own, to the room and to one member, told apart (a user trial's looked alike).
    room.apply(FileOffered(ALICE, 20, "my notes.txt", 10, own=True))
    room.apply(FileOffered(ALICE, 21, "my notes.txt", 10, to=BOB, own=True))
    shown = completer.get_completions(Document("/cancel 2", 9), CompleteEvent())
    assert [c.display_text for c in shown] == ["20 my notes.txt", "21 my notes.txt to bob"]
    assert complete("/get 2") == []  # one's own is not to fetch
    # After /join, the rooms the last /list found that one is not in (trial 50: members).
    assert complete("/join ") == []
    screen.apply("", RoomsFound((("dev", 3), ("qa", 2), ("quiz", 1))))
    assert complete("/join q") == ["qa ", "quiz "]
    assert complete("/join ") == ["qa ", "quiz "]  # dev: in it already


def test_one_back_under_another_name_than_it_had_here_last_is_told_so():
    """Trial 48: after a /nick and a kill, the same command brought the old name back; the
    others read "frank joined (...; was fred)", and its own screen said nothing of it."""
    shown = plain(Ready(ALICE, "peer", "dev", was="alicia"))
    assert "* you went by alicia here last (/nick to take it again)" in shown
    assert "went by" not in plain(Ready(ALICE, "peer", "dev"))


def test_a_named_room_is_named_at_start_and_in_the_toolbar():
    assert plain(Ready(ALICE, "peer", "dev")).startswith(
        "13:04:05 * you are alice at 127.0.0.1:4000 in the room dev (peer)"
    )
    room = ui.Room()
    room.apply(Ready(ALICE, "peer", "dev"))
    assert to_plain_text(ui.toolbar_text(room)).startswith(" alice | room dev | 1 in the room")


def test_a_file_senders_name_outside_ascii_has_its_keys_mark_in_every_file_line() -> None:
    """Trial 66: "big60.bin from 爱丽丝: 15% fetched", "waits: 爱丽丝 is away", "from 爱丽丝 saved
    as", among lines that marked her 爱丽丝~76ccdf."""
    her = "c0ffee" + "0" * 26
    shown = "爱丽丝~c0ffee"
    assert shown in plain(FileWaiting(3, "big.bin", "爱丽丝", sender_id=her))
    assert shown in plain(FileWaiting(3, "big.bin", "爱丽丝", 9.6, her))
    assert shown in plain(FileDone(3, "big.bin", "/tmp/big.bin", True, "", "爱丽丝", her))
    listed = Listed(3, "big.bin", 9, "爱丽丝", False, received=1, sender_id=her)
    assert shown in plain(FileList((listed,)))
    assert (
        FileDone(3, "big.bin", "/tmp/big.bin", True, "", "爱丽丝", her).as_json()["from_id"] == her
    )


def test_file_offers_results_and_progress():
    offer = FileOffered(BOB, 3, "report.pdf", 2_202_009)
    assert plain(offer) == "13:04:05 * bob offers report.pdf (2.1 MiB): /get 3"
    private = FileOffered(BOB, 4, "a.txt", 12, to=ALICE)
    assert plain(private) == "13:04:05 * bob offers a.txt (12 bytes) to you alone: /get 4"
    mine = FileOffered(ALICE, 1, "a.txt", 2048, to=BOB, own=True)
    assert plain(mine) == "13:04:05 * you offer a.txt (2.0 KiB) to bob (/cancel 1 withdraws it)"
    waiting = FileWaiting(3, "report.pdf", "bob")
    assert plain(waiting) == (
        "13:04:05 * report.pdf waits: bob is unreachable; the fetch goes on when they are back and"
        " still offer it (/cancel 3 gives up)"
    )
    assert plain(FileWaiting(3, "report.pdf", "bob", 9.6)) == (
        "13:04:05 * report.pdf waits: bob serves all the fetches it can; asked again in 10 s,"
        " going on from where it was (/cancel 3 gives up)"
    )
    assert plain(OfferWithdrawn(1, "a.txt")) == "13:04:05 * you no longer offer a.txt (offer 1)"
    assert (
        plain(OfferWithdrawn(2, "a.txt", BOB)) == "13:04:05 * bob no longer offers a.txt (offer 2)"
    )
    changed = plain(OfferWithdrawn(2, "a.txt", BOB, "changed"))  # (trial 53: no reason given)
    assert (
        changed
        == "13:04:05 * bob no longer offers a.txt (offer 2): it changed since it was offered"
    )
    back = plain(NewKey(BOB, "c" * 32))
    assert back.startswith("13:04:05 ! bob is back with another key")
    renamed = plain(NewKey(BOB, "c" * 32, "Carol2"))
    assert "is back" not in renamed and "is here as Carol2" in renamed
    like = plain(NewKey(BOB, "c" * 32, old_username="Bob"))  # (trial 76: "is back")
    assert like == (
        "13:04:05 ! bob is a new key (b2) under a name like Bob's (cccccccccc, not here now): the"
        " same person on a new computer, or someone else"
    )
    assert NewKey(BOB, "c" * 32, old_username="Bob").as_json()["old_username"] == "Bob"
    spoiled = OfferWithdrawn(1, "a.txt", reason="it changed since you offered it")
    assert plain(spoiled) == (
        "13:04:05 ! you no longer offer a.txt: it changed since you offered it; /send it again"
        " to offer it as it is now"
    )
    assert spoiled.as_json()["reason"] == "it changed since you offered it"
    gone = OfferWithdrawn(1, "a.txt", reason="cannot read it: No such file or directory")
    assert plain(gone) == (  # nothing to /send again (trial 49)
        "13:04:05 ! you no longer offer a.txt: cannot read it: No such file or directory"
    )
    assert OfferWithdrawn(2, "a.txt", BOB).as_json() == {
        "event": "offer_withdrawn",
        "id": 2,
        "name": "a.txt",
        "own": False,
        "from": "bob",
        "from_id": "b2",
    }
    assert plain(FileDone(3, "report.pdf", "/dl/report.pdf", True)) == (
        "13:04:05 * report.pdf saved as /dl/report.pdf"
    )
    saved = FileDone(3, "same.bin", "/dl/same (2).bin", True, sender="bob")  # (trial 50)
    assert plain(saved) == "13:04:05 * same.bin from bob saved as /dl/same (2).bin"
    assert saved.as_json()["from"] == "bob"
    assert (
        plain(FileFetched(1, "a\x1b[2Jb.txt", BOB))
        == "13:04:05 * bob has your file a\ufffd[2Jb.txt"
    )
    assert FileFetched(1, "a.txt", BOB).as_json() == {
        "event": "file_fetched",
        "id": 1,
        "name": "a.txt",
        "by": "bob",
        "by_id": "b2",
    }
    assert plain(FileList(())) == "13:04:05 * no files are offered here"
    listed = FileList(
        (
            Listed(1, "a.txt", 2048, "", private=True),
            Listed(2, "b.txt", 2048, "", private=True, to="dave"),
            Listed(7, "e.txt", 9, "", False, fetched_by=(("carol", 35), ("dave", 100))),
            Listed(3, "report.pdf", 2_202_009, "bob", False, 1_101_004, waiting=True),
            Listed(4, "b\x1b[2J.txt", 12, "carol", private=True),
            Listed(5, "c.txt", 1, "carol", False, saved="/dl/c.txt"),
            Listed(6, "d.bin", 2_202_009, "bob", False, kept=440_402),
        )
    )
    assert plain(listed).splitlines() == [
        "13:04:05 * files (/get ID fetches one; /cancel ID gives up a fetch or withdraws yours):",
        "13:04:05     1  a.txt (2.0 KiB), yours, to one member",
        "13:04:05     2  b.txt (2.0 KiB), yours, to dave",
        "13:04:05     7  e.txt (9 bytes), yours, to the room; fetching: carol 35%, dave 100%",
        "13:04:05     3  report.pdf (2.1 MiB) from bob: 49% fetched, waiting for the sender",
        "13:04:05     4  b\ufffd[2J.txt (12 bytes) from carol to you alone",
        "13:04:05     5  c.txt (1 byte) from carol: saved as /dl/c.txt",
        "13:04:05     6  d.bin (2.1 MiB) from bob: 20% fetched before, /get goes on from there",
    ]
    assert listed.as_json()["files"][1]["to"] == "dave"
    assert listed.as_json()["files"][2]["fetched_by"] == [
        {"username": "carol", "percent": 35},
        {"username": "dave", "percent": 100},
    ]
    assert listed.as_json()["files"][3] == {
        "id": 3,
        "name": "report.pdf",
        "size": 2_202_009,
        "from": "bob",
        "from_id": "",
        "own": False,
        "private": False,
        "received": 1_101_004,
        "waiting": True,
        "saved": None,
        "to": None,
        "kept": 0,
        "fetched_by": [],
    }
    # /files in two rooms with offers: the head says how to use them once (trial 72 F12)
    screen, start = ready_screen()
    screen.apply("ops", Ready(ALICE, "peer", "ops"))
    one = FileList((Listed(3, "report.pdf", 9, "bob", False),))
    both = [(start, ("", one)), (start, ("ops", one))]
    rows = to_plain_text(ui.render_batch(both, screen)).splitlines()
    assert [row[9:] for row in rows if "files" in row] == [ui.FILES_HEAD, "[ops] * files:"]
    later = [(start + 5, ("ops", one))]  # asked again: all of it
    assert ui.FILES_HEAD in to_plain_text(ui.render_batch(later, screen))
    failed = FileDone(3, "x.bin", "", False, "checksum")
    assert plain(failed) == "13:04:05 ! x.bin not saved: checksum"
    cancelled = FileDone(3, "x.bin", "", False, "cancelled")  # as asked: no error (trial 54)
    assert plain(cancelled) == "13:04:05 * x.bin not fetched: cancelled"
    elsewhere = FileDone(3, "x.bin", "", False, SAVED_ELSEWHERE, "bob")  # (trial 71)
    assert (
        plain(elsewhere) == "13:04:05 * x.bin from bob is no longer fetched: the same file is saved"
    )
    assert ui.size_text(3 << 30) == "3.0 GiB"
    assert ui.size_text(2**62) == "4.0 EiB"
    room = ui.Room()
    room.apply(Ready(ALICE, "peer"))
    room.apply(FileProgress(3, "report.pdf", 1_101_004, 2_202_009))
    assert "| report.pdf [####------] 49%" in to_plain_text(ui.toolbar_text(room))
    room.apply(FileProgress(3, "report.pdf", 2_092_000, 2_202_009))  # not full: 95% (trial 55)
    assert "| report.pdf [#########-] 95%" in to_plain_text(ui.toolbar_text(room))
    room.apply(FileWaiting(3, "report.pdf", "bob"))  # the sender is away: no frozen bar
    assert "| report.pdf waits for bob" in to_plain_text(ui.toolbar_text(room))
    room.apply(FileDone(3, "report.pdf", "/dl/report.pdf", True))
    assert "report.pdf" not in to_plain_text(ui.toolbar_text(room))


def test_the_sender_sees_each_fetch_from_it_until_its_serving_ends() -> None:
    """A user trial: the sender saw nothing of a fetch from it until "bob has your file"."""
    room = ui.Room()
    room.apply(Ready(ALICE, "peer"))
    for who, done in ((BOB, 20), (CAROL, 70)):
        room.apply(PeerJoined(who))
        room.apply(Uploading(4, "big.bin", who, done, 100))
    bar = to_plain_text(ui.toolbar_text(room))
    assert bar.endswith("| big.bin to bob [##--------] 20% | big.bin to carol [#######---] 70% ")
    screen = ui.Screen()
    screen.rooms[""] = room
    narrow = to_plain_text(ui.screen_toolbar(screen, 60))  # where both do not fit, one does
    assert "| big.bin to bob [##--------] 20% (+1) " in narrow, narrow
    room.apply(PeerJoined(DAVE))
    room.apply(Uploading(4, "big.bin", DAVE, 50, 100))
    assert to_plain_text(ui.toolbar_text(room)).endswith("70% (+1) ")  # two of three, and more
    room.apply(Uploading(4, "big.bin", DAVE, 100, 100, over=True))
    room.apply(Uploading(4, "big.bin", BOB, 100, 100, over=True))
    room.apply(PeerLeft(CAROL, "quit"))
    assert "big.bin" not in to_plain_text(ui.toolbar_text(room))
    room.apply(Uploading(4, "big.bin", BOB, 0, 100))  # asked for anew; then withdrawn
    room.apply(OfferWithdrawn(4, "big.bin"))
    assert "big.bin" not in to_plain_text(ui.toolbar_text(room))
    assert Uploading(4, "big.bin", BOB, 5, 100).as_json() == {
        "event": "upload_progress",
        "id": 4,
        "name": "big.bin",
        "to": "bob",
        "to_id": BOB.node_id,
        "acked": 5,
        "size": 100,
        "over": False,
    }


def test_with_two_rooms_each_line_names_its_room_and_ctrl_x_brings_the_next_to_the_front():
    screen = ui.Screen()
    arrived = time.monotonic()
    ui.render_batch([(arrived, ("dev", Ready(ALICE, "peer", "dev")))], screen)
    one = to_plain_text(ui.render_batch([(arrived, ("dev", message(BOB, "hi")))], screen))
    assert one.split(" ", 1)[1] == "<bob> hi"  # one room: no room names
    ui.render_batch([(arrived, ("ops", Ready(ALICE, "peer", "ops")))], screen)
    two = to_plain_text(ui.render_batch([(arrived, ("ops", message(CAROL, "yo")))], screen))
    assert two.split(" ", 1)[1] == "[ops] <carol> yo"  # after the time, as in weechat
    assert screen.current == "dev"  # the first room stays in front until asked
    assert screen.cycle() == "lines you type go to the room ops now"
    assert screen.go_to("dev") == "lines you type go to the room dev now"
    assert screen.go_to("qa") == "not in a room qa; /join qa?" and screen.current == "dev"
    toolbar = to_plain_text(ui.screen_toolbar(screen))
    assert "room dev" in toolbar and "rooms: [dev] ops (Ctrl-X)" in toolbar
    screen.cycle()
    assert screen.current == "ops" and "rooms: dev [ops]" in to_plain_text(
        ui.screen_toolbar(screen)
    )
    left = to_plain_text(ui.render_batch([(arrived, ("ops", RoomLeft("ops")))], screen))
    assert left.endswith("* lines you type go to the room dev now")
    assert "* you left the room ops\n" in left
    assert screen.current == "dev" and list(screen.rooms) == ["dev"]
    assert screen.cycle() == "only in the room dev; /join NAME opens another"
    for label in ("ops", "qa"):
        ui.render_batch([(arrived, (label, Ready(ALICE, "peer", label)))], screen)
    assert screen.cycle(-1) == "lines you type go to the room qa now"  # Alt-Left: the last
    assert screen.cycle(-1) == "lines you type go to the room ops now"
    # irssi's /window 3 (or /win, weechat's /buffer) and Alt-3 are one (a user trial).
    assert commands.parse_line("/window 3") == commands.GoToRoom("3")
    assert commands.parse_line("/window goto 1") == commands.GoToRoom("1")
    for close in ("/wc", "/close", "/window close", "/buffer close"):  # and close it: /part
        assert commands.parse_line(close) == commands.PartRoom(window=True), close
    assert screen.go_to("3") == "lines you type go to the room qa now"
    assert screen.go_to("3") == "the room qa is in front already"
    assert screen.go_to("9") == "no room 9: you are in 3 rooms (/rooms lists them)"
    order = list(screen.rooms)  # irssi's /window next and prev (trial 57: "not in a room next")
    after = order[(order.index("qa") + 1) % 3]
    assert screen.go_to("next") == f"lines you type go to the room {after} now"
    assert screen.go_to("prev") == "lines you type go to the room qa now"


def test_a_narrow_status_bar_gives_up_the_help_hint_and_the_tracker_before_who_is_typing():
    """A user trial at 60 columns: "... | tracker alicia | /help | r", the typing cut off."""
    screen = ui.Screen()
    arrived = time.monotonic()
    for label in ("dev", "sec"):
        ui.render_batch([(arrived, (label, Ready(ALICE, "peer", label)))], screen)
    room = screen.room("dev")
    room.apply(InRoom((BOB, CAROL)))
    room.apply(TrackerChanged(BOB))
    room.apply(Typing(CAROL))
    wide = to_plain_text(ui.screen_toolbar(screen))
    assert "| /help " in wide and "tracker bob" in wide and "carol is typing" in wide
    narrow = to_plain_text(ui.screen_toolbar(screen, 60))
    assert len(narrow) <= 60, narrow
    assert narrow.startswith(" alice | room dev ") and "| carol is typing " in narrow
    assert "/help" not in narrow and "tracker" not in narrow
    assert to_plain_text(ui.screen_toolbar(screen, 10)).startswith(" alice | room dev")
    # A long room list gives way to its count first (a user trial lost it at 60 columns).
    for label in ("127.0.0.1:5000", "a-room-with-a-long-name"):
        screen.room(label)
    narrow = to_plain_text(ui.screen_toolbar(screen, 60))
    assert narrow == " alice | room dev | carol is typing | 4 rooms (Ctrl-X) ", narrow
    assert "rooms: [dev] sec 127.0.0.1:5000" in to_plain_text(ui.screen_toolbar(screen))


def test_a_status_bar_of_40_columns_keeps_which_room_behind_named_you() -> None:
    """A user trial at 40 columns with two rooms: the "dev!" mark went with the room list."""
    screen = ui.Screen()
    for label in ("dev", "operations"):
        screen.apply(label, Ready(BOB, "peer", label))
        screen.apply(label, InRoom((ALICE,)))
    screen.bring("operations")
    screen.apply("dev", message(ALICE, "bob: are you there?"))
    assert "rooms: dev! [operations] (Ctrl-X)" in to_plain_text(ui.screen_toolbar(screen))
    narrow = to_plain_text(ui.screen_toolbar(screen, 40))
    assert narrow == " bob | room operations | dev! ", narrow
    screen.unseen.clear()  # a private line, naming nobody, marks it so too (a user trial)
    screen.apply("dev", dataclasses.replace(message(ALICE, "psst"), to=BOB))
    assert screen.unseen == {"dev": "!"}
    screen.unseen.clear()  # missed while stopped, it names you as much (trial 63)
    missed = dataclasses.replace(message(ALICE, "bob?"), history=True, time=time.time())
    screen.apply("dev", missed)
    assert screen.unseen == {"dev": "!"}
    screen.unseen.clear()  # but not one kept here, which a start shows again (review 64)
    kept = dataclasses.replace(message(ALICE, "bob?"), history=True, kept=True)
    screen.apply("dev", kept)
    assert screen.unseen == {}  # (nor "*": trial 65)
    missed = dataclasses.replace(missed, time=time.time() - 3600)  # said while it was down
    screen.apply("dev", missed)
    assert screen.unseen == {"dev": "!"}  # (trial 65: "*")
    screen.unseen.clear()
    screen.apply("dev", dataclasses.replace(message(ALICE, "hello all"), history=True))
    assert screen.unseen == {"dev": "*"}


def test_a_status_bar_of_40_columns_keeps_a_fetchs_progress_without_its_bar() -> None:
    """A user trial at 40 columns: " bob | room dev" alone for a whole fetch of 200 MiB."""
    screen = ui.Screen()
    screen.apply("dev", Ready(BOB, "peer", "dev"))
    screen.apply("dev", InRoom((ALICE,)))
    screen.apply("dev", FileProgress(7, "big.bin", 36, 100))
    assert "| big.bin [###-------] 36% " in to_plain_text(ui.screen_toolbar(screen, 80))
    narrow = to_plain_text(ui.screen_toolbar(screen, 40))
    assert narrow == " bob | room dev | big.bin 36% ", narrow
    screen.apply("dev", FileProgress(8, "small.bin", 50, 100))
    narrow = to_plain_text(ui.screen_toolbar(screen, 40))
    assert narrow == " bob | room dev | big.bin 36% (+1) ", narrow


def test_a_room_joined_at_an_address_goes_by_the_name_it_learnt_too():
    """A user trial: started with --tracker and no --room, the status bar said "room dev",
    and /part dev (and /room dev) answered "not in a room dev"."""
    screen = ui.Screen()
    arrived = time.monotonic()
    ui.render_batch([(arrived, ("10.0.0.1:5000", Ready(ALICE, "peer", "dev")))], screen)
    ui.render_batch([(arrived, ("ops", Ready(ALICE, "peer", "ops")))], screen)
    assert screen.label_of("dev") == "10.0.0.1:5000"
    assert screen.label_of("ops") == "ops" and screen.label_of("qa") == "qa"
    screen.cycle()
    assert screen.go_to("dev") == "lines you type go to the room 10.0.0.1:5000 now"


def test_a_room_left_while_in_front_gives_the_front_back_to_the_room_before_it():
    """From a user trial: with ops in front, a /join that failed (or was given up) sent the
    next typed line to the first room, not back to ops."""
    screen = ui.Screen()
    arrived = time.monotonic()
    for label in ("dev", "ops"):
        ui.render_batch([(arrived, (label, Ready(ALICE, "peer", label)))], screen)
    screen.go_to("ops")
    screen.room("slow")
    screen.bring("slow")  # as /join does
    gave_up = to_plain_text(ui.render_batch([(arrived, ("slow", RoomLeft("slow", False)))], screen))
    assert screen.current == "ops"
    said, then = gave_up.splitlines()[-2:]
    assert said.endswith("* gave up joining the room slow")  # not "you left" it
    assert then.endswith("* lines you type go to the room ops now")  # and where lines go now
    parted = ui.render_batch([(arrived, ("ops", RoomLeft("ops")))], screen)
    assert to_plain_text(parted).endswith("* lines you type go to the room dev now")
    left = ui.render_batch([(arrived, ("dev", RoomLeft("dev")))], screen)  # the last room
    assert to_plain_text(left).endswith("* you left the room dev")


def test_a_join_that_failed_is_not_said_to_be_given_up() -> None:
    """Two user trials: after "cannot join the room ops2: ...", "gave up joining", the words
    of a user's Ctrl-C."""
    screen = ui.Screen()
    arrived = time.monotonic()
    ui.render_batch([(arrived, ("dev", Ready(ALICE, "peer", "dev")))], screen)
    screen.room("ops")
    screen.bring("ops")  # as /join does
    failed = RoomLeft("ops", joined=False, failed=True)
    said = to_plain_text(ui.render_batch([(arrived, ("ops", failed))], screen))
    assert "* you are not in the room ops" in said and "gave up" not in said
    assert screen.current == "dev" and "lines you type go to" not in said  # (a user trial)
    ui.render_batch([(arrived, ("ops", Ready(ALICE, "peer", "ops")))], screen)
    ended = RoomLeft("ops", joined=True, failed=True)  # a room that ended of an error
    said = to_plain_text(ui.render_batch([(arrived, ("ops", ended))], screen))
    assert "* you are no longer in the room ops" in said and "you left" not in said


def test_a_run_of_earlier_messages_is_announced_once_where_it_begins() -> None:
    """After a freeze, live lines and then what was said meanwhile: the times go back, and
    a line says why."""
    said = time.mktime((2024, 1, 2, 12, 59, 0, 0, 0, -1))
    earlier = [
        dataclasses.replace(message(BOB, text), history=True, time=said) for text in ("a", "b")
    ]
    screen = ui.Screen()
    lines: list[Any] = [
        ("", e) for e in (message(BOB, "live"), *earlier, message(BOB, "again"), earlier[0])
    ]
    lines += [ui.Notice("! usage: /get ID", ui.ERROR_STYLE), ("", earlier[1])]
    lines += [("", FileOffered(BOB, 3, "x.bin", 10)), ("", earlier[0])]  # one run (trial 56)
    # A private line that waited for its reader, amid history, says its own time (a trial
    # read a second header after it).
    waited = dataclasses.replace(message(BOB, "psst"), to=ALICE, time=said)
    lines += [("", waited), ("", earlier[0])]
    shown = [to_plain_text(ui.format_line(line, NOW, screen)) for line in lines]
    assert shown == [
        "13:04:05 <bob> live",
        f"13:04:05 {ui.EARLIER}\n12:59:00 <bob> a",
        "12:59:00 <bob> b",
        "13:04:05 <bob> again",
        f"13:04:05 {ui.EARLIER}\n12:59:00 <bob> a",
        "13:04:05 ! usage: /get ID",
        f"13:04:05 {ui.EARLIER}\n12:59:00 <bob> b",  # after a line of the prompt's: anew
        "13:04:05 * bob offers x.bin (10 bytes): /get 3",
        "12:59:00 <bob> a",
        "13:04:05 [private from bob, said 12:59:00] psst",
        "12:59:00 <bob> a",
    ]
    screen.apply("ops", Ready(ALICE, "peer", "ops"))  # two rooms: each line says which
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.earlier = None
    two = to_plain_text(ui.format_line(("dev", earlier[1]), NOW, screen)).splitlines()
    assert two == [f"13:04:05 [dev] {ui.EARLIER}", "12:59:00 [dev] <bob> b"]
    # A trial, back from a freeze in two rooms: ops's missed lines, then dev's, unheaded.
    ops = to_plain_text(ui.format_line(("ops", earlier[0]), NOW, screen)).splitlines()
    assert ops == [f"13:04:05 [ops] {ui.EARLIER}", "12:59:00 [ops] <bob> a"]
    dev = to_plain_text(ui.format_line(("dev", earlier[1]), NOW, screen)).splitlines()
    assert dev == [f"13:04:05 [dev] {ui.EARLIER}", "12:59:00 [dev] <bob> b"]


def test_a_room_left_for_another_of_its_name_stays_in_front_anew() -> None:
    """``/join dev HOST:PORT`` in dev, at an address none of its members has: the program
    leaves this dev for that one (trial 43's newcomer in the wrong dev could not)."""
    screen = ui.Screen()
    for room in ("ops", "dev"):
        screen.apply(room, Ready(ALICE, "peer", room))
    screen.bring("dev")
    moved = RoomLeft("dev", moved_to="10.0.0.3:5000")
    (line,) = ui.compose_batch([(time.monotonic(), ("dev", moved))], screen)
    said = to_plain_text(line.laid_out())
    assert said.endswith("* you left this room dev for the one of its name at 10.0.0.3:5000")
    assert screen.current == "dev" and screen.rooms["dev"].me is None  # joining it anew
    assert list(screen.rooms) == ["ops", "dev"]
    assert moved.as_json()["moved_to"] == "10.0.0.3:5000"


def test_a_freeze_is_told_once_for_the_program_not_once_a_room() -> None:
    """A user trial, stopped 59 s in three rooms, read three like 3-row notices, one tagged
    with each room."""
    screen = ui.Screen()
    for room in ("dev", "ops"):
        screen.apply(room, Ready(ALICE, "peer", room))
    now = time.monotonic()
    batch = [(now, ("dev", Unresponsive(59.2))), (now + 0.2, ("ops", Unresponsive(59.3)))]
    (line,) = ui.compose_batch(batch, screen)
    said = to_plain_text(line.laid_out())
    assert said[9:].startswith("! this program was unresponsive for 59.2 s and is rejoining its")
    assert "[" not in said
    later = ui.compose_batch([(now + 60, ("ops", Unresponsive(3.0)))], screen)
    assert len(later) == 1  # another freeze, later: told
    alone = ui.Screen()  # in one room: the room's words, as a headless reader has them
    alone.apply("dev", Ready(ALICE, "peer", "dev"))
    (line,) = ui.compose_batch([(now, ("dev", Unresponsive(5.0)))], alone)
    assert to_plain_text(line.laid_out())[9:].startswith(
        "! this program was unresponsive for 5.0 s"
    )


def test_back_from_a_freeze_is_said_once_and_points_at_a_line_kept_meanwhile() -> None:
    """A line typed while a room rejoins is kept (``Room.rejoining``); back in, each room says
    so in its window (review 57: the room in front, alone through the freeze, never did; trial
    62 read "[team] back in the room" in dev's window, and dev never said it), and a room a line
    waits for; a rejoin nobody was told of goes unsaid."""
    screen = ui.Screen()
    for room in ("ops", "dev"):
        screen.apply(room, Ready(ALICE, "peer", room))
    screen.bring("dev")
    now = time.monotonic()
    ui.compose_batch([(now, ("dev", Unresponsive(6.0))), (now, ("ops", Unresponsive(6.0)))], screen)
    assert screen.rooms["dev"].rejoining and screen.rooms["ops"].rejoining
    (ops,) = ui.compose_batch([(now + 1, ("ops", Rejoined()))], screen)  # the first back
    assert to_plain_text(ops.laid_out()).endswith("* back in the room")
    assert not screen.rooms["ops"].rejoining
    assert ops.of == "ops" and ops.chatter  # in its window
    (dev,) = ui.compose_batch([(now + 1, ("dev", Rejoined()))], screen)
    assert to_plain_text(dev.laid_out()).endswith("* back in the room") and dev.of == "dev"
    assert ui.compose_batch([(now + 2, ("dev", Rejoined()))], screen) == []  # said already
    ui.compose_batch([(now + 30, ("dev", Unresponsive(6.0)))], screen)
    screen.kept_in = "dev"  # a line typed meanwhile, kept
    (line,) = ui.compose_batch([(now + 32, ("dev", Rejoined()))], screen)
    said = to_plain_text(line.laid_out())
    assert said.endswith("* back in the room: Enter sends the line you typed")
    assert not screen.rooms["dev"].rejoining and screen.kept_in is None
    assert ui.compose_batch([(now + 40, ("ops", Rejoined()))], screen) == []  # none told
    assert Rejoined().as_json() == {"event": "rejoined"}


def with_mark(member: Member) -> Member:
    """``member`` as shown marked with its key."""
    return dataclasses.replace(member, username=marked(member.username, member.node_id))


def test_history_said_under_a_name_its_author_has_left_says_the_name_now() -> None:
    """Trial 52: history showed bob's lines and, after his /nick, robert's, with nothing to
    tell that they were one member's."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    robert = dataclasses.replace(BOB, username="robert")
    screen.apply("dev", PeerJoined(robert))
    earlier = [
        dataclasses.replace(message(BOB, "hi"), history=True),
        dataclasses.replace(message(robert, "hello"), history=True),
        dataclasses.replace(message(dataclasses.replace(ALICE, username="al"), "yo"), history=True),
        # (marked as the second key that said lines as "robert": not "(now robert)", trial 77)
        dataclasses.replace(message(with_mark(robert), "again"), history=True),
        message(BOB, "live"),  # a live line is said under the name it has
    ]
    now = time.monotonic()
    batch = ui.compose_batch([(now, ("dev", e)) for e in earlier], screen)
    rows = [row for c in batch for row in to_plain_text(c.laid_out()).splitlines()]
    assert rows[1].endswith("<bob (now robert)> hi"), rows
    assert rows[2].endswith("<robert> hello"), rows
    assert rows[3].endswith("<al (now alice)> yo"), rows  # one's own, under an old name
    assert rows[4].endswith(f"<robert~{BOB.node_id[:FINGERPRINT]}> again"), rows
    assert rows[5].endswith("<bob> live"), rows


def test_a_live_message_that_names_you_stands_out() -> None:
    assert ui.mentions("bob: lunch?", "bob") and ui.mentions("see you, BOB!", "bob")
    assert not ui.mentions("bobby tables", "bob") and not ui.mentions("alice", "bob")
    assert ui.mentions("ping a.b", "a.b") and not ui.mentions("ping axb", "a.b")
    screen = ui.Screen()
    screen.apply("", Ready(BOB, "peer"))
    named = ui.format_line(("", message(ALICE, "bob: lunch?")), NOW, screen)
    assert style_of(named, "lunch?") == ui.MENTION_STYLE
    other = ui.format_line(("", message(ALICE, "lunch, anyone?")), NOW, screen)
    assert style_of(other, "anyone?") == ""
    own = ui.format_line(("", message(BOB, "bob here", own=True)), NOW, screen)
    assert style_of(own, "bob here") == ""


def test_with_two_rooms_every_row_of_an_event_says_its_room() -> None:
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer"))
    screen.apply("ops", Ready(ALICE, "peer"))
    rows = to_plain_text(ui.format_line(("ops", Ready(ALICE, "peer", "ops")), NOW, screen))
    assert [row[9:15] for row in rows.splitlines()] == ["[ops] ", "[ops] "]


def test_a_room_being_joined_tags_no_line_and_counts_as_no_second_room() -> None:
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("qa", Connecting("127.0.0.1:6102"))
    failed = Error('cannot join the room qa: this address hosts the room "ops", not "qa"')
    assert to_plain_text(ui.format_line(("qa", failed), NOW, screen)).startswith("13:04:05 ")
    said = to_plain_text(ui.format_line(("dev", message(BOB, "hi")), NOW, screen))
    assert said.startswith("13:04:05 ") and said.endswith("<bob> hi")


def test_a_room_behind_one_being_joined_tags_its_lines() -> None:
    """Trial 42: "you are the tracker now", of dev, showed untagged while a /join had qa in
    front (the status bar said "rooms: dev [qa]"): it read as qa's."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("qa", Connecting("10.0.0.2:5000"))
    screen.bring("qa")  # as /join does
    said = to_plain_text(ui.format_line(("dev", message(BOB, "hi")), NOW, screen))
    assert said == "13:04:05 [dev] <bob> hi"
    screen.bring("dev")
    said = to_plain_text(ui.format_line(("dev", message(BOB, "hi")), NOW, screen))
    assert said.startswith("13:04:05 ")


@pytest.mark.parametrize(("width", "row_count"), [(50, 4), (35, 6)])  # 35: a user trial
def test_with_two_rooms_a_long_line_says_its_room_once_and_goes_on_under_its_words(
    width: int, row_count: int
) -> None:
    """Trials 58 and 59 read "[dev]" again at the start of every row a long line was broken
    into; irssi goes on under the words."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer"))
    screen.apply("ops", Ready(ALICE, "peer"))
    long = message(BOB, "word " * 20)
    rows = to_plain_text(ui.format_line(("ops", long), NOW, screen, width)).splitlines()
    assert len(rows) == row_count and all(len(row) < width for row in rows)
    assert rows[0].startswith("13:04:05 [ops] <bob> word")
    assert all(row.startswith(" " * 15) and row.strip().startswith("word") for row in rows[1:])


def test_echo_is_turned_off_again_each_time_and_given_back_as_found() -> None:
    """Before each run of the prompt, the terminal's echo goes off again: a Ctrl-Z the terminal
    took between two runs gave the shell's modes back on ``fg`` (a review)."""
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "rb", closefd=False) as stream:
            found = termios.tcgetattr(follower)
            assert found[3] & termios.ECHO
            echo = ui.Echo(stream)
            echo.off()
            assert not termios.tcgetattr(follower)[3] & termios.ECHO
            termios.tcsetattr(follower, termios.TCSANOW, found)  # the shell's, after fg
            echo.off()
            assert not termios.tcgetattr(follower)[3] & termios.ECHO
            echo.restore()
            assert termios.tcgetattr(follower) == found
        ui.Echo(None).off()  # no stdin at all: nothing to do, and no error
        with open(os.devnull, "rb") as not_a_terminal:
            ui.Echo(not_a_terminal).off()
    finally:
        os.close(leader)
        os.close(follower)


def test_the_toolbar_shows_fetches_and_news_of_the_rooms_behind() -> None:
    """A user trial saw no sign of a fetch in the room behind, nor of what that room said."""
    screen = ui.Screen()
    arrived = time.monotonic()
    for label in ("dev", "ops"):
        ui.render_batch([(arrived, (label, Ready(ALICE, "peer", label)))], screen)
    screen.go_to("dev")
    for label, id, name in (("dev", 1, "a.bin"), ("dev", 2, "b.bin"), ("ops", 3, "c.bin")):
        screen.apply(label, FileProgress(id, name, 50, 100))
    bar = to_plain_text(ui.screen_toolbar(screen))
    assert "| a.bin [#####-----] 50% | b.bin [#####-----] 50% (+1) |" in bar  # both, and more
    screen.apply("dev", FileDone(2, "b.bin", "/dl/b.bin", True))
    bar = to_plain_text(ui.screen_toolbar(screen))
    assert "| a.bin [#####-----] 50% | ops: c.bin [#####-----] 50% |" in bar
    assert "rooms: [dev] ops (Ctrl-X)" in bar

    screen.apply("ops", message(BOB, "in ops"))
    assert "rooms: [dev] ops* (Ctrl-X)" in to_plain_text(ui.screen_toolbar(screen))
    screen.apply("ops", message(BOB, "alice: look"))
    screen.apply("ops", message(BOB, "and this"))  # a mention stays marked till seen
    assert "rooms: [dev] ops! (Ctrl-X)" in to_plain_text(ui.screen_toolbar(screen))
    # Kept where the room list gives way to its count, and in /rooms (a user trial lost them).
    bars = (to_plain_text(ui.screen_toolbar(screen, width)) for width in range(200, 0, -1))
    narrow = next(bar for bar in bars if "rooms: " not in bar)  # the list gave way
    assert narrow.endswith("| 2 rooms, ops! (Ctrl-X) "), narrow
    assert ui._room_list(screen) == ["1 dev (in front)", "2 ops!"]
    # With fetches, the room list gives way first, then the fetches to one, then to their
    # percentages, before the rooms' news (trial 52: a sender of files at 110 columns could
    # not see that a room behind had news).
    screen.apply("dev", FileProgress(4, "slow3m.bin", 19, 100))
    for width in (100, 80, 60):
        bar = to_plain_text(ui.screen_toolbar(screen, width))
        assert "ops!" in bar and "a.bin" in bar, (width, bar)
    screen.apply("dev", message(BOB, "alice: here"))  # in front: seen
    screen.go_to("ops")
    assert "rooms: dev [ops] (Ctrl-X)" in to_plain_text(ui.screen_toolbar(screen))
    screen.apply("dev", FileOffered(BOB, 9, "d.bin", 1))  # an offer is news too
    assert "rooms: dev* [ops] (Ctrl-X)" in to_plain_text(ui.screen_toolbar(screen))


def test_alt_and_a_digit_bring_that_room_to_the_front() -> None:
    """irssi's Alt-1 ... Alt-9: a user's Alt-2 turned the prompt into "(arg: 2)"."""
    screen = ui.Screen()
    for label in ("dev", "ops"):
        screen.room(label)
    assert screen.nth(2) == "lines you type go to the room ops now"
    assert screen.current == "ops"
    assert screen.nth(2) == ""  # in front already: nothing to say
    assert screen.nth(3) == "no room 3: you are in 2 rooms (/rooms lists them)"
    assert screen.current == "ops"
    bindings = ui._room_keys(screen, lambda text: None).bindings
    assert {tuple(b.keys) for b in bindings} >= {("escape", str(n)) for n in range(1, 10)}


def test_the_prompt_is_drawn_anew_once_shorter_or_resized() -> None:
    """User trials: after a Tab menu, or a pasted block dropped by Ctrl-C, the toolbar stayed
    8 rows under the input line."""
    calls: list[str] = []
    renderer = types.SimpleNamespace(
        erase=lambda: calls.append("erase"),
        request_absolute_cursor_position=lambda: calls.append("place"),
    )
    heights = types.SimpleNamespace(preferred=2)
    size = types.SimpleNamespace(columns=80, rows=24)
    container = types.SimpleNamespace(preferred_height=lambda width, rows: heights)
    app = types.SimpleNamespace(
        renderer=renderer,
        layout=types.SimpleNamespace(container=container),
        output=types.SimpleNamespace(get_size=lambda: size),
        is_done=False,
    )
    before_render = ui._drawn_anew_when_needed(lambda app: calls.append("anew"))
    before_render(app)  # drawn as it is
    heights.preferred = 10  # Tab's menu, or a paste of 8 lines
    before_render(app)
    before_render(app)
    assert calls == []
    heights.preferred = 2  # the menu closed, or Ctrl-C dropped the paste
    before_render(app)
    assert calls == ["erase", "place"]
    before_render(app)  # once only
    assert calls == ["erase", "place"]
    heights.preferred = 40  # a paste taller than the window: the chat scrolled away above it
    before_render(app)
    heights.preferred = 2
    before_render(app)
    assert calls == ["erase", "place", "anew"]  # the chat drawn again, not blank rows
    # A trial narrowed the window under a long input line: copies of its rows stayed.
    size = types.SimpleNamespace(columns=40, rows=24)
    before_render(app)
    before_render(app)
    assert calls == ["erase", "place", "anew", "anew"]


def test_part_of_a_room_one_is_not_in_says_how_part_is_used() -> None:
    """A user check: with one room open (named by its address), "/part bye" answered "your
    rooms: 127.0.0.1:5871 (/part ROOM [MESSAGE])", and how to leave with "bye" was a puzzle."""
    screen = ui.Screen()
    screen.room("127.0.0.1:5871")
    assert ui._part_usage(screen) == (
        "/part alone leaves 127.0.0.1:5871, and /part 127.0.0.1:5871 MESSAGE says MESSAGE as you go"
    )
    screen.room("ops")
    assert ui._part_usage(screen) == "your rooms: 127.0.0.1:5871, ops (/part ROOM [MESSAGE])"


@pytest.mark.parametrize(("front", "written"), [(False, b""), (True, b"drawn"), (None, b"drawn")])
def test_nothing_is_drawn_behind_the_shell(
    front: bool | None, written: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A user trial: continued behind the shell (kill -CONT), the program drew a piece of its
    status bar over the shell's lines before it stopped again."""
    monkeypatch.setattr(ui, "in_front", lambda fd: front)
    with open(tmp_path / "screen", "w+b") as screen:
        stdout = io.TextIOWrapper(screen, encoding="utf-8", write_through=True)
        terminal = ui._Terminal(stdout, lambda: Size(rows=24, columns=80))
        terminal.write_raw("drawn")
        terminal.flush()
        stdout.flush()
        assert (tmp_path / "screen").read_bytes() == written
        terminal.write_raw("!")  # what was dropped is not written later either
        monkeypatch.setattr(ui, "in_front", lambda fd: True)
        terminal.flush()
        stdout.flush()
        assert (tmp_path / "screen").read_bytes() == written + b"!"


@pytest.mark.parametrize(("choices", "rows"), [(1, 2), (3, 4), (20, ui.MENU_ROWS)])
def test_tabs_menu_takes_the_rows_of_its_choices_and_no_blank_ones(choices: int, rows: int) -> None:
    """A user trial: a menu of one name stood over six blank rows."""

    async def measured() -> int:  # (a loop: a menu's change asks for a redraw)
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            session: Any = PromptSession("> ", completer=ui.RoomCompleter(ui.Screen()))
            buffer = session.default_buffer
            buffer.complete_state = CompletionState(
                buffer.document, [Completion(f"name{n}") for n in range(choices)]
            )
            ui._menu_space(session)(session.app)
            return session.app.layout.container.preferred_height(80, 24).preferred

    assert asyncio.run(measured()) == rows


@pytest.mark.parametrize(("typed", "rows"), [("hi", 1), ("x" * 20_000, 8), ("a\n" * 30, 8)])
def test_the_input_line_grows_to_a_third_of_the_window_and_no_more(typed: str, rows: int) -> None:
    """A user trial: a paste of 2,500 characters scrolled the whole chat out of the window."""

    async def measured() -> int:
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            session: Any = PromptSession("> ")
            ui._input_rows_capped(session)
            session.default_buffer.text = typed
            return session.app.layout.container.preferred_height(80, 24).preferred

    assert ui.input_rows(24) == 8 and ui.input_rows(12) == 4 and ui.input_rows(2) == 1
    assert asyncio.run(measured()) == rows


def test_the_end_of_a_long_run_of_history_says_who_is_in_the_room() -> None:
    """Trial 59's newcomer had 90 dimmed lines on screen and the lines saying who was there
    scrolled off above them: a long run's end is marked, with who is in the room now."""
    screen = ui.Screen()
    screen.apply("", Ready(ALICE, "peer"))
    screen.apply("", InRoom((BOB, CAROL, STANDALONE)))
    shown = to_plain_text(ui.render_batch([(0.0, ("", HistoryEnd(90)))], screen))
    assert shown.endswith(
        "* earlier messages end here (90 above, PageUp for them); in the room: bob, carol"
    )
    assert to_plain_text(ui.render_batch([(0.0, ("", HistoryEnd(9)))], screen)) == ""
    assert HistoryEnd(9).as_json() == {"event": "history_end", "messages": 9}


def test_lastlogs_answer_is_headed_and_ended_as_a_search_not_as_history() -> None:
    """Trial 70 F6: /lastlog's messages were headed "earlier messages", and ended "earlier
    messages end here", as if the room's history had been shown again."""
    said = time.mktime((2024, 1, 2, 12, 59, 0, 0, 0, -1))
    kept = dataclasses.replace(message(BOB, "release now"), history=True, time=said, kept=True)
    screen = ui.Screen()
    screen.apply("", Ready(ALICE, "peer"))
    lines: list[Any] = [("", Found("release", 1, 1)), ("", kept), ("", HistoryEnd(1, "release"))]
    shown = "\n".join(to_plain_text(ui.format_line(line, NOW, screen)) for line in lines)
    assert ui.EARLIER not in shown
    assert shown.splitlines() == [
        "13:04:05 * messages kept here that say 'release' (1), each at the time it was said:",
        "12:59:00 <bob> release now",
        "13:04:05 * messages that say 'release' end here (1 above, PageUp for them)",
    ]  # (the end of a short one is not printed: ``render_batch``)
    # One that found nothing leaves the next run of history its head (review 67)
    nothing = [("", Found("dinner", 0, 0)), ("", kept)]
    after = [to_plain_text(ui.format_line(line, NOW, screen)) for line in nothing]
    assert after[1].startswith(f"13:04:05 {ui.EARLIER}"), after
    many = ui.format_history_end(HistoryEnd(12, "rel\x1b[2J"), None, NOW)
    assert "\x1b" not in to_plain_text(many)  # (the user's text, escaped as any)
    assert to_plain_text(many).endswith("[2J' end here (12 above, PageUp for them)")
    assert ui.found_head("x", 100, 250).endswith(
        "(the last 100 of 250), each at the time it was said:"
    )
    assert ui.found_head("dinner", 0, 0) == "* no message kept here says 'dinner'"
    assert HistoryEnd(3, "x").as_json() == {"event": "history_end", "messages": 3, "found": "x"}
    assert Found("x", 3, 5).as_json() == {"event": "lastlog", "text": "x", "shown": 3, "matched": 5}


def test_a_room_founded_by_name_beside_others_says_which_its_name_looks_like() -> None:
    """A user trial's --room dve (and /join deb) founded an empty room, unsaid, beside dev."""
    found = RoomsFound((("dev", 3), ("ops", 1)), private=frozenset({"ops"}))
    typo = ui.beside_new_room("dve", found)
    assert "did you mean dev? /join dev, then /part dve" in typo
    assert "dev (3), ops (1, secret)" in typo  # (as /list says it: trial 65)
    other = ui.beside_new_room("design", found)
    assert "did you mean" not in other and other.endswith("/join NAME for one")
    # Of two alike, the more populous; never a room this program is in to join (a user trial's
    # /join deb in dev pointed at dve, and at dev), but said to be one's own (trial 59).
    alike = RoomsFound((("dve", 1), ("dev", 3)))
    assert "did you mean dev?" in ui.beside_new_room("deb", alike)
    # Names a number apart are chosen so (trial 71: /join sim2 in sim, "did you mean it?")
    numbered = RoomsFound((("sim", 2), ("team-1", 3)))
    for new in ("sim2", "team-2", "team_3", "team"):
        assert "did you mean" not in ui.beside_new_room(new, numbered), new
    assert "did you mean sim?" in ui.beside_new_room("smi", numbered)  # (a typo still)
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("deb", Ready(ALICE, "tracker", "deb"))
    beside = RoomsFound((("dev", 3), ("dve", 1)), new="deb")
    shown = to_plain_text(ui.render_batch([(0.0, ("deb", beside))], screen))
    assert "did you mean dve?" in shown and "dev (3)" not in shown
    # Like none of the others but like one this program is in (trial 59's /join dve in dev).
    screen.apply("dve", Ready(ALICE, "tracker", "dve"))
    beside = RoomsFound((("dev", 3),), new="dve")
    shown = to_plain_text(ui.render_batch([(0.0, ("dve", beside))], screen))
    assert (
        "nobody else on the local network is in dve, and you are in dev: did you mean it? "
        "/part dve goes" in shown
    )
    # A room /joined beside others, its name like none of them: meant (trial 53: each
    # /join qa listed the network's rooms). The first room still lists them.
    screen.apply("qa", Ready(ALICE, "tracker", "qa"))
    beside = RoomsFound((("dev", 3), ("ops", 1)), new="qa")
    assert to_plain_text(ui.render_batch([(0.0, ("qa", beside))], screen)) == ""
    alone = ui.Screen()
    alone.apply("qa", Ready(ALICE, "tracker", "qa"))
    shown = to_plain_text(ui.render_batch([(0.0, ("qa", beside))], alone))
    assert shown.endswith(
        "nobody else on the local network is in qa; it has dev (3), ops (1): /join NAME for one"
    )
    alone = RoomsFound((("dev", 3),), new="deb")  # like only a room one is in: said so
    shown = to_plain_text(ui.render_batch([(0.0, ("deb", alone))], screen))
    assert shown.endswith(
        "nobody else on the local network is in deb, and you are in dev: did you mean it? "
        "/part deb goes back to it"
    )


def test_a_nick_in_one_of_two_rooms_says_the_other_keeps_the_old_name() -> None:
    """A user trial took /nick for the program's, as in irssi: the other room knew her still."""
    screen = ui.Screen()
    for label in ("dev", "ops"):
        screen.apply(label, Ready(ALICE, "peer", label))
    alicia = dataclasses.replace(ALICE, username="alicia")
    screen.apply("ops", Renamed(alicia, "alice"))
    rows = to_plain_text(ui.format_line(("ops", Renamed(alicia, "alice")), NOW, screen))
    assert rows.splitlines() == [
        "13:04:05 [ops] * you are now known as alicia",
        "13:04:05 [ops] * in this room only: you are still alice in dev (/nick there too)",
    ]
    screen.apply("dev", Renamed(alicia, "alice"))
    again = to_plain_text(ui.format_line(("dev", Renamed(alicia, "alice")), NOW, screen))
    assert "still" not in again  # the same name in both now


def test_the_help_goes_on_under_the_words_of_its_commands() -> None:
    """A user trial at 80 columns: a long row of /help went on under the time."""
    help_at = ui.INDENT + commands.HELP_COLUMN
    notice = ui.Notice(commands.HELP_TEXT, indent=help_at)
    rows = to_plain_text(ui.format_line(notice, NOW, ui.Screen(), 60)).splitlines()
    nick = rows.index(next(r for r in rows if "/nick NAME" in r))
    assert rows[nick + 1].startswith(" " * help_at) and not rows[nick + 1][help_at].isspace()


def test_the_help_fits_a_terminal_of_24_rows_and_names_every_command() -> None:
    """User trials at 80x24: the help's top scrolled off (35 rows)."""
    notice = ui.Notice(commands.HELP_TEXT, indent=ui.INDENT + commands.HELP_COLUMN)
    rows = to_plain_text(ui.format_line(notice, NOW, ui.Screen(), 80)).splitlines()
    assert len(rows) <= 22  # with the prompt and the status bar below it
    named = set(re.findall(r"/[a-z]+", commands.HELP_TEXT))
    assert set(commands.COMMANDS) <= named  # /help too, with a command to help with


def test_the_words_of_each_command_in_the_help_begin_in_one_column() -> None:
    """Trial 56: "/send [NAME] PATH" and "/join ROOM [HOST:PORT]" pushed their words right."""
    for row in commands.HELP_TEXT.splitlines()[1:-1]:
        form, words = row[: commands.HELP_COLUMN], row[commands.HELP_COLUMN :]
        assert form.endswith(" ") and not words.startswith(" "), row
        assert ui.INDENT + len(row) <= 80, row  # a row each at 80 columns


def test_a_room_with_a_secret_says_so_where_one_looks() -> None:
    """A user trial: a private room and an open one looked the same on screen."""
    screen = ui.Screen()
    ready = Ready(ALICE, "tracker", "dev", private=True)
    assert to_plain_text(ui.format_line(("dev", ready), NOW, screen)).startswith(
        "13:04:05 * you are alice at 127.0.0.1:4000 in the room dev (tracker, a room with a secret)"
    )
    screen.apply("dev", ready)
    assert to_plain_text(ui.screen_toolbar(screen)).startswith(" alice | room dev (private) |")
    assert ready.as_json()["private"] is True
    screen.apply("dev", Ready(ALICE, "tracker", ""))
    assert "private" not in to_plain_text(ui.screen_toolbar(screen))


def test_a_typed_line_the_disk_refuses_is_kept_for_the_up_arrow_without_an_error() -> None:
    """Tried by hand on a full disk: each line typed put prompt_toolkit's traceback on the
    screen. (/dev/full refuses every write with "No space left on device".)"""
    history = ui._InputHistory("/dev/full")
    history.append_string("hello there")  # no exception
    assert list(history.get_strings()) == ["hello there"]


def test_private_lines_are_kept_for_this_run_only_and_the_file_for_the_user_only(
    tmp_path: Path,
) -> None:
    """Trial 58: ``/msg`` lines were in the input history file, readable by all."""
    kept = tmp_path / "input_history"
    kept.write_bytes(  # as earlier versions kept them, /msg lines too
        b"\n# 2026-12-06 01:50:00\n+an earlier line\n"
        b"\n# 2026-12-06 01:50:01\n+/msg bob an earlier secret\n"
        b"\n# 2026-12-06 01:50:02\n+a pasted block\n+/m bob its secret\n"
        b"\n# 2026-12-06 01:50:03\n+two lines\n+of the room\n"
    )
    kept.chmod(0o644)
    ui._trim_history_file(kept, 1 << 20)  # as at each start
    typed = ["hello room", "/msg bob the password is swordfish", "/m bob x", "/q bob y"]
    typed.append("hello all\n/msg bob the password, pasted")  # (review 60)
    typed.append("the wrong clipboard\nssh-ed25519 AAAA")  # (trial 59: dropped, yet kept)
    history = ui._InputHistory(str(kept))
    for line in typed:
        history.append_string(line)
    history.keep_for_this_run("half typed, then Ctrl-C")  # (trial 59: back with Up, not on disk)
    assert list(history.get_strings())[-7:] == [*typed, "half typed, then Ctrl-C"]
    assert kept.stat().st_mode & 0o777 == 0o600
    again = ui._InputHistory(str(kept))
    assert list(again.load_history_strings()) == ["hello room", "an earlier line"]  # (and
    # no pasted block, trial 59's dropped by Ctrl-C, the wrong clipboard)
    assert not [
        word for word in (b"secret", b"password", b"clipboard") if word in kept.read_bytes()
    ]
    fresh = tmp_path / "new_history"
    ui._InputHistory(str(fresh)).append_string("first")
    assert fresh.stat().st_mode & 0o777 == 0o600


def test_trimming_the_input_history_leaves_it_whole_if_the_shorter_copy_fails(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "input_history"
    entries = b"".join(b"\n# 2026-12-06 01:50:%02d\n+line %d\n" % (i, i) for i in range(50))
    kept.write_bytes(entries)
    (tmp_path / "input_history.new").mkdir()  # where the shorter copy would go: refused
    ui._trim_history_file(kept, 200)
    assert kept.read_bytes() == entries
    (tmp_path / "input_history.new").rmdir()
    ui._trim_history_file(kept, 200)
    assert entries.endswith(kept.read_bytes()) and 0 < len(kept.read_bytes()) <= 200
    assert kept.read_bytes().startswith(b"# 2026") and not (tmp_path / "input_history.new").exists()


def test_a_rooms_chatter_is_kept_in_its_window_and_what_is_for_you_is_shown_at_once() -> None:
    """Trials 52-55 read two rooms' chatter interleaved on one screen (``windows``): a room's
    lines, joins and offers are kept in its window; of them a private line or offer, a line
    naming you and your own are shown at once from behind too; errors are every window's."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    screen.apply("ops", Ready(ALICE, "peer", "ops"))

    def kept(event: Any) -> tuple[bool, bool]:
        composed = ui.compose(("ops", event), NOW, screen)
        assert composed.of == "ops"
        return composed.chatter, composed.urgent

    assert kept(message(BOB, "hi all")) == (True, False)
    assert kept(PeerJoined(CAROL)) == (True, False)
    assert kept(PeerGone(CAROL)) == (True, False)  # as its drop was (a check by hand)
    assert kept(message(BOB, "alice: look")) == (True, True)  # names you
    assert kept(dataclasses.replace(message(BOB, "psst"), to=ALICE)) == (True, True)
    assert kept(message(ALICE, "mine", own=True)) == (True, True)  # (typed just before Ctrl-X)
    assert kept(message(ALICE, "alice says so", own=True)) == (True, True)
    earlier = dataclasses.replace(message(ALICE, "mine before", own=True), history=True)
    assert kept(earlier) == (True, False)  # (trial 59: a restart's history, over dev's own)
    assert kept(FileOffered(BOB, 3, "x.bin", 10, to=ALICE)) == (True, True)
    assert kept(FileOffered(BOB, 3, "x.bin", 10)) == (True, False)
    assert kept(Error("cannot offer x: No such file")) == (False, False)


def test_a_line_to_you_alone_or_naming_you_rings_and_no_other() -> None:
    """Trial 69: nothing rang on a private line or a highlight, as irssi's does."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))

    def rings(event: Any) -> bool:
        return ui.compose(("dev", event), NOW, screen).rings

    assert rings(dataclasses.replace(message(BOB, "psst"), to=ALICE))
    assert rings(message(BOB, "alice: look"))
    assert not rings(message(BOB, "hi all"))
    assert not rings(message(ALICE, "alice says so", own=True))
    assert not rings(dataclasses.replace(message(BOB, "alice, earlier"), history=True))
    assert not rings(dataclasses.replace(message(BOB, "psst"), to=ALICE, history=True))
    assert not rings(FileOffered(BOB, 3, "x.bin", 10, to=ALICE))


def test_lines_are_written_with_the_terminals_own_wrapping_off() -> None:
    """A row wider than measured is cut at the edge, never carried on at the left edge of the
    next row, where it read as a line of its own (attack round 44's forged "<carol>")."""
    from prompt_toolkit.output.vt100 import Vt100_Output

    written = io.StringIO()
    output = Vt100_Output(written, lambda: Size(rows=24, columns=80), term="xterm")
    ui.print_block(ui.format_line(("", message(BOB, "hi")), NOW, ui.Screen(), 80), output)
    text = written.getvalue()
    said = text.index("hi")  # (prompt_toolkit turns it on first: then off, till after)
    assert text.rindex("\x1b[?7h", 0, said) < text.rindex("\x1b[?7l", 0, said)
    assert "\x1b[?7h" in text[said:]


def ready_screen() -> tuple[ui.Screen, float]:
    """A screen of one room that alice is in, and when (monotonic)."""
    screen, start = ui.Screen(), time.monotonic()
    ui.render_batch([(start, ("", Ready(ALICE, "peer")))], screen)
    return screen, start


def throwaway(n: int, name: str) -> Member:
    """The ``n``-th of many keys, as a wave of them would come."""
    return dataclasses.replace(BOB, node_id=f"{n:032x}", username=name)


def test_a_member_that_keeps_dropping_out_is_told_three_times_then_not_while_it_goes_on() -> None:
    """Attack round 44: one key that linked and cut, again and again, put "dropped out" and
    "is back" on every screen 2.4 times a second."""
    screen, start = ready_screen()
    shown = []
    for n in range(10):
        at = start + n
        drop = (at, ("", PeerLeft(BOB, "connection lost", dialled=True)))
        back = (at + 0.5, ("", PeerJoined(BOB, back=True)))
        shown += to_plain_text(ui.render_batch([drop, back], screen)).splitlines()
    drops = [row for row in shown if "bob dropped out (connection lost)" in row]
    assert len(drops) == 3 and len([row for row in shown if "bob is back" in row]) == 2
    unsaid = "bob dropped out 3 times in a minute: not told again while it goes on (/who:"
    unsaid += " whether they are in)"
    assert shown[-1].endswith(unsaid)
    # Nor are the room's lines that missed it, each cut (trial 63), but a private one is.
    lines = [Undelivered(ALICE, 7, (BOB,)), Unconfirmed(BOB, 2), Delivered(BOB, 2)]
    assert not to_plain_text(ui.render_batch([(at, ("", e)) for e in lines], screen)).strip()
    private = Undelivered(ALICE, 1, (BOB,), private="psst")
    assert "bob" in to_plain_text(ui.render_batch([(at, ("", private))], screen))
    assert "carol" in to_plain_text(
        ui.render_batch([(at, ("", Undelivered(ALICE, 8, (CAROL,))))], screen)
    )
    assert "carol" in to_plain_text(ui.render_batch([(at, ("", PeerJoined(CAROL)))], screen))
    # Taken to have quit, then back: told (trial 75: its return went unsaid, as a flap's)
    quit_ = [(at + 0.7, ("", PeerLeft(BOB, "connection lost", dialled=True)))]
    quit_ += [(at + 0.8, ("", PeerGone(BOB))), (at + 0.9, ("", PeerJoined(BOB, back=True)))]
    assert "bob is back" in to_plain_text(ui.render_batch(quit_, screen))
    gone = (at + 1, ("", PeerLeft(BOB, "quit", said=True)))
    assert "bob left (quit)" in to_plain_text(ui.render_batch([gone], screen))  # always told
    # Back under another name: always told too (trial 63 read "<xena> hello", unannounced)
    drop = (at + 2, ("", PeerLeft(CAROL, "connection lost", dialled=True)))
    for n in range(3):
        ui.render_batch([(at + 2 + n, drop[1])], screen)
    xena = dataclasses.replace(CAROL, username="xena")
    back = to_plain_text(ui.render_batch([(at + 6, ("", PeerJoined(xena, "carol", True)))], screen))
    assert "xena is back" in back and "was carol" in back


def test_a_room_behind_keeps_its_own_lines_of_being_joined_in_its_window() -> None:
    """Trial 62: at a restart in two rooms, "[ops] looking for the room ops" and "[ops] you
    are alice ... (tracker)" were in dev's window; its errors still show in front."""
    from peerchat.windows import shown_now

    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer", "dev"))
    now = time.monotonic()
    lines = [(now, ("ops", event)) for event in (Looking("ops"), Ready(ALICE, "tracker", "ops"))]
    lines.append((now, ("ops", Error("cannot reach 10.0.0.7:5000"))))
    composed = ui.compose_batch(lines, screen)
    assert screen.current == "dev" and [c.of for c in composed] == ["ops"] * 3
    assert [shown_now(c, "dev", screen.rooms) for c in composed] == [False, False, True]


def test_a_long_line_from_another_day_goes_on_under_its_words_beside_its_room() -> None:
    """Review 62: a history line of another day ("2026-12-04 05:39 [ops] <bob> ...") went on
    at column 15, under its room's tag, not under its words."""
    screen = ui.Screen()
    screen.apply("dev", Ready(ALICE, "peer"))
    screen.apply("ops", Ready(ALICE, "peer"))
    old = dataclasses.replace(message(BOB, "word " * 20), history=True, time=NOW - 3 * 86400)
    rows = to_plain_text(ui.format_line(("ops", old), NOW, screen, 60)).splitlines()
    rows = rows[next(n for n, row in enumerate(rows) if "<bob>" in row) :]  # (past the header)
    head = rows[0].index("<bob>")
    assert rows[0][head - 6 : head] == "[ops] " and len(rows) > 1
    assert all(row[:head].isspace() and row[head] == "w" for row in rows[1:])


def test_rooms_joined_again_at_a_start_keep_the_numbers_they_had() -> None:
    """Trial 63 F8: at a restart in three rooms, their numbers (Alt-N, /window N) followed
    the order they came back in."""
    screen = ui.Screen(order=("dev", "ops", "qa"))
    for label in ("dev", "qa", "elsewhere", "ops"):  # (one typed meanwhile, with /join)
        screen.room(label)
    assert list(screen.rooms) == ["dev", "ops", "elsewhere", "qa"]
    assert screen.current == "dev"


def test_the_helps_rows_go_on_under_their_words_and_the_others_under_the_text() -> None:
    """Trial 64: at 50 columns the help's last row went on at column 24, as a command's."""
    parts = ui.help_parts(commands.HELP_TEXT)
    assert [indent for _, indent in parts] == [9, 9 + commands.HELP_COLUMN, 9]
    assert parts[-1][0].startswith("Tab completes") and "  /msg" in parts[1][0]
    assert ui.help_parts("/quit [MSG]\n    more words\n    and more") == [
        ("/quit [MSG]", 9),
        ("    more words and more", 13),  # (one paragraph: trial 65)
    ]


def test_a_wave_of_joins_and_leaves_is_told_at_a_pace_and_the_rest_counted() -> None:
    """Attack round 46: 295 throwaway keys that joined and dropped out from one address put
    590 lines on a screen in 15 s, and the chat among them went by unread. Review 64: one join
    every 9 s after such a wave hid every real join and leave for as long as it went on."""
    screen, start = ready_screen()
    wave = []
    for n in range(100):
        member = throwaway(n, f"m{n}")
        wave.append((start + n / 10, ("", PeerJoined(member))))
        wave.append((start + n / 10, ("", PeerLeft(member, "quit", said=True))))
    wave.append((start + 5, ("", message(CAROL, "still here"))))
    shown = to_plain_text(ui.render_batch(wave, screen)).splitlines()
    told = [row for row in shown if " joined (" in row or " left (" in row]
    assert member_lines.AT_ONCE < len(told) < member_lines.AT_ONCE + 15, len(told)
    assert len([row for row in shown if "not told one by one" in row]) == 1
    assert any("still here" in row for row in shown)
    for n, at in enumerate((30, 39, 48)):  # a trickle after it: each told
        dave = dataclasses.replace(BOB, node_id=f"d{n:031x}", username=f"dave{n}")
        after = to_plain_text(ui.render_batch([(start + at, ("", PeerJoined(dave)))], screen))
        assert f"dave{n} joined" in after
        shown += after.splitlines()
    counted = [
        re.search(r"\* (\d+) more joined, left or were renamed meanwhile, untold", row)
        for row in shown
    ]
    assert sum(int(found[1]) for found in counted if found) == 200 - len(told)  # all of them
    assert "dave0" in {m.username for m in screen.room("").others.values()}
    # Names back with other keys in a wave are in it too (trial 65: 22 warnings past its word)
    back = []
    for n in range(30):
        again = dataclasses.replace(BOB, node_id=f"e{n:031x}", username=f"m{n}")
        back += [
            (start + 60, ("", NewKey(again, f"{n:032x}"))),
            (start + 60, ("", PeerJoined(again))),
        ]
    shown = to_plain_text(ui.render_batch(back, screen)).splitlines()
    assert len([row for row in shown if "another key" in row]) <= member_lines.AT_ONCE // 2 + 1
    # And those taken to have quit, 15 s after a wave of drops (trial 74: now on the screen)
    gone = [(start + 120, ("", PeerGone(throwaway(n, f"g{n}")))) for n in range(100)]
    shown = to_plain_text(ui.render_batch(gone, screen)).splitlines()
    assert (
        0 < len([row for row in shown if "seems to have quit" in row]) <= member_lines.AT_ONCE + 1
    )


def test_others_renames_are_told_at_a_waves_pace_ones_own_always() -> None:
    """Attack round 48: 60 keys of one address, each renamed once a second (the pace a node
    allows a member), put 58 lines a second on a screen, and a friend's line stayed 0.6 s."""
    screen, start = ready_screen()
    renames = []
    for n in range(60):
        member = throwaway(n, f"k{n}x1")
        renames.append((start + n / 60, ("", Renamed(member, f"k{n}x0"))))
    renames.append(
        (start + 1, ("", Renamed(dataclasses.replace(ALICE, username="alicia"), "alice")))
    )
    shown = to_plain_text(ui.render_batch(renames, screen)).splitlines()
    told = [row for row in shown if " is now known as " in row]
    assert len(told) <= member_lines.AT_ONCE + 2, len(told)
    assert any("you are now known as alicia" in row for row in shown)


def test_a_waves_untold_count_is_said_once_it_is_over_not_only_beside_a_later_join() -> None:
    """Trial 65 F4: the joins and leaves a wave left untold were counted only beside the next
    one told, which may come minutes later."""
    lines = member_lines.MemberLines()
    for _ in range(member_lines.AT_ONCE + 5):
        lines.tell(100.0)
    assert lines.settles_at() == 100.0 + member_lines.QUIET
    assert lines.settle(100.0 + member_lines.QUIET - 0.1) == 0  # not over yet
    assert lines.settle(100.0 + member_lines.QUIET) == 4  # (the first past the pace warns)
    assert lines.settles_at() is None and lines.settle(200.0) == 0  # said once
    for _ in range(10):  # more untold: counted no sooner than SUMMED_EVERY after the last count
        lines.tell(103.5)
    assert lines.settles_at() == 100.0 + member_lines.QUIET + member_lines.SUMMED_EVERY


def test_a_tracker_change_held_back_by_the_pace_is_said_once_the_pace_allows() -> None:
    """Trial 66: after an 8 s cut, a screen's last line said "you are the tracker now" while
    the status bar said carol: the change back came within 10 s of the one before, and was
    never said."""
    screen = ui.Screen()
    now = time.monotonic()
    ui.render_batch([(now, ("", Ready(ALICE, "peer"))), (now, ("", TrackerChanged(BOB)))], screen)
    said = to_plain_text(ui.render_batch([(now + 20, ("", TrackerChanged(ALICE)))], screen))
    assert "you are the tracker now" in said
    assert to_plain_text(ui.render_batch([(now + 25, ("", TrackerChanged(CAROL)))], screen)) == ""
    assert ui.owed_in(screen, now + 25) == pytest.approx(5.0)
    assert ui.owed_lines(screen, now + 29) == []
    (owed,) = ui.owed_lines(screen, now + 30)
    assert "tracker is now carol" in to_plain_text(owed.laid_out())
    assert ui.owed_in(screen, now + 30) is None and ui.owed_lines(screen, now + 60) == []


def test_a_room_left_in_a_wave_owes_no_count() -> None:
    """Review 65 R1: a room left with a wave's count owed was never settled, and the printer,
    waiting for it, woke at once for ever."""
    screen = ui.Screen()
    now = time.monotonic()
    ui.render_batch([(now, ("dev", Ready(ALICE, "peer")))], screen)
    wave = [(now, ("dev", PeerJoined(throwaway(n, f"m{n}")))) for n in range(40)]
    ui.render_batch(wave, screen)
    assert ui.owed_in(screen, now) is not None
    ui.render_batch([(now, ("dev", RoomLeft("dev")))], screen)
    assert ui.owed_in(screen, now + 60) is None
    assert ui.owed_lines(screen, now + 60) == []


async def test_the_prompt_counts_a_waves_untold_joins_when_it_is_over(
    monkeypatch, quiet_terminal
) -> None:
    monkeypatch.setattr(member_lines, "QUIET", 0.3)
    recorder = PrintRecorder(trio.lowlevel.current_trio_token())
    monkeypatch.setattr(ui, "print_block", recorder)
    front = ui.PromptUI()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(front.drive, RecordingRooms(RecordingNode()))
            front.show(Ready(ALICE, "tracker"))
            await recorder.wait_for("you are alice")
            for n in range(60):
                front.show(PeerJoined(throwaway(n, f"m{n}")))
            await recorder.wait_for("more joined, left or were renamed meanwhile, untold")
            quiet_terminal.send_text("\x04")
    printed = "\n".join(recorder.blocks)
    told = len(re.findall(r"m\d+ joined", printed))
    counted = re.findall(r"\* (\d+) more joined, left or were renamed meanwhile, untold", printed)
    assert told < 60 and [int(c) for c in counted] == [60 - told], (told, counted)


def test_history_older_than_a_joins_first_run_come_late_is_not_shown_below_it() -> None:
    """Trial 74: a newcomer read 90 lines of history, then a second run of older ones, from
    a slower link, below them: they are counted instead. Lines said later than the run's
    first, kept here (/history), or come after a live line, a return or 10 s (review 70: a
    part of the room met later, its sender's clock behind), or live lines before any
    history, are shown."""
    screen, start = ready_screen()

    def said(text: str, at: float, **kind: bool) -> MessageReceived:
        return dataclasses.replace(message(BOB, text), time=NOW + at, history=True, **kind)

    def shown(*lines: events.Event, after: float = 0) -> str:
        return to_plain_text(ui.render_batch([(start + after, ("", e)) for e in lines], screen))

    first = shown(said("flood 1", 100), said("flood 2", 101), HistoryEnd(2))
    assert "flood 1" in first and "flood 2" in first
    late = shown(said("typed right after fg", 10), said("fg again", 11), said("between", 100.5))
    assert "typed right after fg" not in late and "between" in late
    assert late.endswith(ui.late_text(2)[2:])
    assert ui.late_text(1).startswith("* 1 earlier line came late")
    assert "typed right after fg" in shown(said("typed right after fg", 10, kept=True))
    assert "a while later" in shown(said("a while later", 10), after=ui.WINDOW_OPEN + 1)
    for closes in (message(CAROL, "live"), PeerJoined(CAROL, back=True)):
        screen, start = ready_screen()
        shown(said("flood 1", 100), HistoryEnd(1), closes)
        assert "do not merge" in shown(said("do not merge", 10))  # (a slow clock's)
    # A room whose join showed no history first: nothing is held back
    screen, start = ready_screen()
    assert "live" in shown(message(BOB, "live"))
    assert "old" in shown(said("old", 10), HistoryEnd(1))


def test_a_line_missed_in_a_freeze_claims_no_name_now_till_the_room_is_back() -> None:
    """Trial 64: alice took the name alicia while carol was frozen, and carol's screen read
    "<alicia (now alice)>": its member list was the one from before the freeze."""
    screen = ui.Screen()
    now = time.monotonic()
    ui.render_batch([(now, ("", Ready(CAROL, "peer"))), (now, ("", InRoom((ALICE,))))], screen)
    alicia = dataclasses.replace(ALICE, username="alicia")
    said = dataclasses.replace(message(alicia, "alicia speaking"), history=True)
    lines = [(now, ("", Unresponsive(10.6))), (now, ("", said))]
    shown = to_plain_text(ui.render_batch(lines, screen))
    assert "<alicia> alicia speaking" in shown and "(now" not in shown, shown
    later = [(now, ("", Rejoined())), (now, ("", said))]  # (as /history shows it, once back)
    assert "<alicia (now alice)>" in to_plain_text(ui.render_batch(later, screen))
