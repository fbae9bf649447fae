"""The line interface: a prompt_toolkit input line at the bottom, node events printed above it.

Two event loops meet here, and each piece of state belongs to one of them:

- The node lives in trio. It calls `PromptUI.show` for every event and `PromptUI.stop` when it
  has finished on its own (SIGTERM). `drive` is awaited in trio too.
- The prompt lives in ONE worker thread (`trio.to_thread.run_sync`) that runs its own asyncio
  loop with a `PromptSession.prompt_async()` loop. No other thread is started: no `patch_stdout`.

Crossing over:

- trio -> prompt: `show` puts the event into a `Backlog` (peerchat/backlog.py) under a lock and
  wakes the asyncio loop with `call_soon_threadsafe` only when the backlog was empty: one wakeup
  per batch, not per event, and no formatting in the node's thread. A printer task there takes
  a batch (at most about a thousand lines), formats just those, and prints them as one block
  where the input line was, erased first, then draws the line again below them with the
  half-typed text intact (not with `run_in_terminal`: that puts the terminal in its line mode,
  echo on, while it prints, and keys typed meanwhile were echoed by the terminal into the lines
  printed). When the screen falls more than a second behind, the backlog shows the newest messages
  and sums up the older ones per sender ("... 18,000 more messages from mallory"); joins, leaves,
  tracker changes, member lists and errors are never skipped. Events that come before the loop
  exists wait in the backlog; events after it ended are printed straight away.
- prompt -> trio: each typed line is parsed with `commands.parse_line`; messages and /who go to
  the node through `trio.from_thread.run_sync`. Quitting ends the thread, and `drive` calls
  `node.quit()` back in trio.

Text from the network goes through `safe_text.visible` on its way to the screen: control,
format (bidi) and line-separator characters are replaced by U+FFFD, never sent to the terminal.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import functools
import itertools
import math
import os
import re
import shutil
import signal
import stat
import sys
import termios
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio
from prompt_toolkit import PromptSession, print_formatted_text, renderer
from prompt_toolkit.application import Application, get_app, run_in_terminal
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition, emacs_insert_mode, vi_insert_mode
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.formatted_text.utils import split_lines
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.key_binding.bindings.basic import if_no_repeat
from prompt_toolkit.key_binding.bindings.named_commands import get_by_name
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout.dimension import Dimension, to_dimension
from prompt_toolkit.output import Output
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from peerchat import commands, member_lines
from peerchat.addresses import is_loopback, is_wildcard
from peerchat.backlog import Backlog, Skipped
from peerchat.events import (
    AWAY_SAID,
    CHANGED,
    LEFT,
    SAVED_ELSEWHERE,
    Away,
    Connecting,
    Delivered,
    Error,
    Event,
    FileDone,
    FileFetched,
    FileList,
    FileOffered,
    FileProgress,
    FileReading,
    FileWaiting,
    Found,
    HistoryEnd,
    Ignoring,
    InRoom,
    Looking,
    MessageReceived,
    NewKey,
    NickRefused,
    NotDelivered,
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
from peerchat.flaps import FLAPS_TOLD, Flaps, Told
from peerchat.foreground import in_front
from peerchat.member_lines import MemberLines
from peerchat.membership import Member
from peerchat.names import FINGERPRINT, marked, shown_name
from peerchat.safe_text import visible
from peerchat.time_left import TimeLeft
from peerchat.transfer import size_text
from peerchat.typed_lines import Held, TypedLines, commands_apart, pasted
from peerchat.windows import Windows, shown_now
from peerchat.wrap import INDENT, cells, wrap

# ---------------------------------------------------------------------------------------------
# Formatting: pure functions from events to prompt_toolkit FormattedText.

# Sender colours. Red is kept for errors, so nobody's name looks like one.
PALETTE: tuple[str, ...] = (
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)

TIME_STYLE = "ansibrightblack"
HISTORY_STYLE = "ansibrightblack"  # messages from before: dimmed, with their original time
INPUT_HISTORY_LIMIT = 256 * 1024  # bytes of typed lines kept across runs (up-arrow)
MOST_FILES = 1000  # files that Tab after /send offers at most
HISTORY_MARKED = 10  # history shown at once, in messages, whose end a line marks
TRACKER_TOLD_EVERY = 10.0  # seconds between "tracker is now" lines of a room, at least
NAMED_AT_END = 8  # members named by that line at most (more: how many)
MAX_TAB_OFFERS = 1_000  # offer numbers kept for Tab, per room: as many as a node keeps
REDRAWN_LINES = 500  # the latest lines printed, kept for Ctrl-L to draw the screen anew
NOTICE_STYLE = "ansibrightblack"
ERROR_STYLE = "ansired bold"
PRIVATE_STYLE = "ansimagenta"
MENTION_STYLE = "bold ansiyellow"  # a live message that names you
TOOLBAR_STYLE = "reverse"
TYPING_SHOWN = 5.0  # seconds "bob is typing" stays after bob's last keystroke notice
CLEARED_SHOWN = 3.0  # seconds the toolbar says a second Ctrl-C quits, after one cleared a line
# Seconds after a join in front ended unjoined (given up, or failed) in which Ctrl-C on an empty
# line does not quit at once: trial 66 pressed it twice to give a /join up, as the screen had
# said to, and the second left every room.
JOIN_ENDED_GRACE = 10.0
SCROLL_SHOWN = 4.0  # seconds the toolbar says how to scroll back, after PageUp or PageDown
QUIT_AGAIN = 10.0  # seconds in which a second quit leaves, though members fetch from this node
TYPING_EVERY = 3.0  # seconds between this node's own typing notices while the line changes
BEHIND_POLL = 0.25  # seconds between two looks at whether the program is in front again
# Seconds between two redraws at least: lines that come one by one (notices in a storm of
# joins and leaves) share a redraw, which costs a few ms, instead of one each (a core, at 300
# a second). A person does not see 10 ms.
REDRAW_EVERY = 0.01
BELL_EVERY = 2.0  # seconds between two rings of the terminal's bell, at least
STANDALONE = "the standalone tracker"  # `peerchat tracker`: not a person, never named as one


# Seconds past which a private message shown now says when it was said: it waited for its
# reader's return (a user found 11 s unmarked). A sender's clock further behind marks each of
# its lines, with that clock's time: a mark too many, never a wrong time.
LATE_AFTER = 5.0
LAST_SECOND = 253_402_300_799.0  # 9999-12-31 23:59:59 UTC: later times overflow the C library


def clock(now: float) -> str:
    """Local wall-clock time as HH:MM:SS."""
    return _clock_at(int(now))


@functools.lru_cache(maxsize=8)
def _clock_at(second: int) -> str:
    # A batch of a thousand lines shares a handful of seconds: format each second once.
    return time.strftime("%H:%M:%S", time.localtime(second))


def name_style(username: str) -> str:
    """The colour of one sender, the same in every process and every run (unlike `hash`)."""
    return PALETTE[zlib.crc32(username.encode("utf-8", "replace")) % len(PALETTE)] + " bold"


def _line(now: float, *parts: tuple[str, str]) -> list[tuple[str, str]]:
    return [(TIME_STYLE, clock(now)), ("", " "), *parts]


def _timed(line: list[tuple[str, str]]) -> bool:
    """Whether ``line`` begins with its time, then a space on its own (``_line``, and a line
    from history): a room's tag goes after them (``Composed``)."""
    return len(line) > 1 and line[0][0] in (TIME_STYLE, HISTORY_STYLE) and line[1][1] == " "


def _join_lines(lines: Iterable[list[tuple[str, str]]]) -> FormattedText:
    out: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        if i:
            out.append(("", "\n"))
        out.extend(line)
    return FormattedText(out)


def _name(member: Member) -> tuple[str, str]:
    if not member.chat:
        return (NOTICE_STYLE, STANDALONE)
    return (name_style(member.username), who(member))


def who(member: Member) -> str:
    """A member's name as the screen shows it anywhere: escaped, and with its key's
    fingerprint where the name could pass for another."""
    return visible(shown_name(member.username, member.node_id))


def _whose(name: str, node_id: str) -> str:
    """``who`` of a member known by name and id alone (a file's sender): trial 66 read
    "big60.bin from 爱丽丝" among lines that marked her 爱丽丝~76ccdf."""
    return visible(shown_name(name, node_id) if node_id else name)


def address(member: Member) -> str:
    """Where a member is reached. This node's own, when it listens on every interface, is
    told apart: each member reaches it at the address it dialled (a user read "0.0.0.0")."""
    if is_wildcard(member.host):
        return f"port {member.port} on every interface"
    return visible(member.addr)


def format_notice(text: str, now: float, style: str = NOTICE_STYLE) -> FormattedText:
    """Local text (help, hints), each line stamped with the time."""
    return _join_lines(_line(now, (style, line)) for line in text.splitlines() or [""])


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` as a word of its own, in any case ("bob: hi", "hi
    Bob!"), not inside another ("bobby")."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def format_message(
    event: MessageReceived, now: float, me: str = "", now_called: str = ""
) -> FormattedText:
    """A message; a live one from someone else that names ``me`` stands out. One from history
    whose author goes by another name now says which (``now_called``, as the screen shows it):
    a trial read a member's lines before and after a /nick as two people's."""
    sender = event.sender
    text = visible(event.text, message=True)
    style = MENTION_STYLE if me and not event.own and mentions(event.text, me) else ""
    if event.history:
        name = who(sender) + (f" (now {now_called})" if now_called else "")
        said = f"* {name} {text}" if event.action else f"<{name}> {text}"
        return FormattedText(
            [(HISTORY_STYLE, said_at(event.time, now)), (HISTORY_STYLE, " "), (HISTORY_STYLE, said)]
        )
    if event.to is not None:
        other = event.to if event.own else sender
        way = "to" if event.own else "from"
        # One that waited for its reader to come back says when it was said.
        late = f", said {said_at(event.time, now)}" if _late_private(event, now) else ""
        return _join_lines(
            [
                _line(
                    now,
                    (PRIVATE_STYLE, f"[private {way} "),
                    _name(other),
                    (PRIVATE_STYLE, f"{late}] "),
                    (style, text),
                )
            ]
        )
    if event.action:
        return _join_lines([_line(now, ("", "* "), _name(sender), (style, f" {text}"))])
    return _join_lines([_line(now, ("", "<"), _name(sender), ("", "> "), (style, text))])


def said_at(when: float, now: float) -> str:
    """The author's clock, as it claims: the time, with the date when not today."""
    when = min(max(when, 0.0), LAST_SECOND)
    layout = "%H:%M:%S" if _same_day(when, now) else "%Y-%m-%d %H:%M"
    return time.strftime(layout, time.localtime(when))


def _same_day(then: float, now: float) -> bool:
    return time.localtime(then)[:3] == time.localtime(now)[:3]


def format_who(event: Who, now: float) -> FormattedText:
    # People, as the status bar counts them: the standalone tracker is listed, not counted.
    count = sum(m.chat for m in event.members)
    head = _line(now, (NOTICE_STYLE, f"* {count} {'member' if count == 1 else 'members'}:"))
    rows = []
    for m in sorted(event.members, key=lambda m: (m.username.casefold(), m.username)):
        marks = ""
        if m.node_id == event.tracker_id:
            marks += " (tracker)"
        if m.node_id == event.me_id:
            marks += " (you)"
        if not m.chat:
            marks += " (not chatting)"
        if m.node_id in event.ignored:  # (a trial: nothing said who was)
            marks += " (ignored)"
        rows.append(
            _line(now, ("", "    "), _name(m), (NOTICE_STYLE, f" {address(m)}"), ("bold", marks))
        )
    if event.away:  # a user trial: bob, cut off and awaited, was in no list at all
        names = ", ".join(who(m) for m in event.away)
        rows.append(_line(now, (NOTICE_STYLE, f"  unreachable, being reconnected: {names}")))
    return _join_lines([head, *rows])


def format_whois(event: Whois, now: float) -> FormattedText:
    """The member's address, and its key's fingerprint to compare with theirs (by phone, in
    person): the same digits on both screens, and nobody else answers to the name."""
    m = event.member
    marks = " (tracker)" * event.tracker + " (you)" * event.you + " (unreachable)" * event.away
    fingerprint = " ".join(m.node_id[i : i + 4] for i in range(0, len(m.node_id), 4))
    name = visible(m.username)
    whose = f"another's /whois {name}" if event.you else f"{name}'s own /whois {name}"
    if event.room:  # a person has a key in each room (a user compared two rooms' keys)
        whose += f" in the room {visible(event.room)}"
    where = (NOTICE_STYLE, f" at {address(m)}{marks}")
    return _join_lines(
        [
            _line(now, (NOTICE_STYLE, "* "), _name(m), where),
            _line(now, (NOTICE_STYLE, f"    key {fingerprint}: {whose} must show the same")),
        ]
    )


FILES_HEAD = "* files (/get ID fetches one; /cancel ID gives up a fetch or withdraws yours):"
# Another room's list this soon after one (seconds): one /files answered by several rooms
FILES_TOGETHER = 1.0


def format_files(event: FileList, now: float, *, brief: bool = False) -> FormattedText:
    """``/files``; ``brief``: the list of a room after another's, which said how to use it."""
    if not event.files:
        return format_notice("* no files are offered here", now)
    lines = ["* files:" if brief else FILES_HEAD]
    for f in event.files:
        what = f"{visible(f.name)} ({size_text(f.size)})"
        if f.own:
            whom = visible(f.to) if f.to else "one member" if f.private else "the room"
            fetching = ", ".join(f"{visible(name)} {share}%" for name, share in f.fetched_by)
            lines.append(
                f"    {f.id}  {what}, yours, to {whom}"
                + (f"; fetching: {fetching}" if fetching else "")
            )
            continue
        state = ""
        if f.received is not None:
            state = f": {_percent(f.received, f.size)} fetched"
            state += ", waiting for the sender" if f.waiting else ""
        elif f.saved:
            state = f": saved as {visible(f.saved)}"
        elif f.kept:
            state = f": {_percent(f.kept, f.size)} fetched before, /get goes on from there"
        alone = " to you alone" if f.private else ""
        lines.append(f"    {f.id}  {what} from {_whose(f.sender, f.sender_id)}{alone}{state}")
    return format_notice("\n".join(lines), now)


def _about(member: Member, text: str, now: float) -> FormattedText:
    """``* bob`` and what happened: a notice about a member, the name in the member's colour."""
    return _join_lines([_line(now, (NOTICE_STYLE, "* "), _name(member), (NOTICE_STYLE, text))])


ALONE_ON_LOOPBACK = (
    "* this room is on this computer only: others here get in with the same command; for "
    "people on your network, /list shows their rooms and /join NAME joins one by its name"
)


def alone_named(room: str) -> str:
    """The hint of a room with a name joined at an address of this computer."""
    name = visible(room)
    return (
        f"* this room {name} is on this computer only, joined at an address of it: a room "
        f"{name} of your network is another (/part {name}, then /join {name} finds that one)"
    )


OFFERED_ALONE = "* nobody else is in the room yet: whoever comes is offered it"


def format_ready(event: Ready, now: float, *, hint: bool = True) -> FormattedText:
    """Who and where this node is; with the pointer to /help unless the screen showed it."""
    where = f" in the room {event.room}" if event.room else ""
    kind = ", a room with a secret" if event.private else ""
    lines = [
        _line(
            now,
            (NOTICE_STYLE, "* you are "),
            _name(event.me),
            (NOTICE_STYLE, f" at {address(event.me)}{where} ({event.role}{kind})"),
        )
    ]
    if event.was:
        was = (
            NOTICE_STYLE,
            f"* you went by {visible(event.was)} here last (/nick to take it again)",
        )
        lines.append(_line(now, was))
    if hint:
        lines.append(_line(now, (NOTICE_STYLE, "* type /help for commands")))
    return _join_lines(lines)


def format_event(event: Event, now: float) -> FormattedText:
    """How one node event reads on screen, `now` being the local time it is shown."""
    match event:
        case MessageReceived():
            return format_message(event, now)
        case Ready():
            return format_ready(event, now)
        case TrackerChanged(tracker=t):
            return _join_lines(
                [
                    _line(
                        now,
                        (NOTICE_STYLE, "* tracker is now "),
                        _name(t),
                        (NOTICE_STYLE, f" ({address(t)})"),
                    )
                ]
            )
        case InRoom(members=members):
            people = [m for m in members if m.chat]
            if not people:
                return format_notice("* nobody else is in the room yet", now)
            return _names_line(people, "* in the room: ", now)
        case FileOffered():
            return format_offer(event, now)
        case FileList():
            return format_files(event, now)
        case Away(message=message, changed=changed):
            return format_notice(away_text(message, changed=changed), now)
        case Found(text=text, shown=shown, matched=matched):
            return format_notice(found_head(text, shown, matched), now)
        case FileReading(name=name, size=size, behind=behind):
            what = f"{visible(name)} ({size_text(size)})"
            if not behind:
                return format_notice(f"* you offer {what} once it is read for its checksum", now)
            before = "the file before it is" if behind == 1 else f"the {behind} before it are"
            return format_notice(f"* you offer {what} once {before} read", now)
        case FileProgress(name=name, received=0, resumed=True):  # (noted every 8 MiB: a
            # user trial read "going on from 0%, fetched before" of a fetch killed at 37%)
            return format_notice(f"* {visible(name)}: fetching it again from the start", now)
        case FileProgress(name=name, received=received, size=size, resumed=True):
            share = received * 100 // max(size, 1)
            return format_notice(f"* {visible(name)}: going on from {share}%, fetched before", now)
        case FileDone(name=name, path=path, ok=True, sender=sender, sender_id=sender_id):
            # (whose: a trial's two offers of same.bin, saved as same.bin and same (2).bin)
            whose = f" from {_whose(sender, sender_id)}" if sender else ""
            return format_notice(f"* {visible(name)}{whose} saved as {visible(path)}", now)
        case FileDone(name=name, reason="cancelled"):  # as asked: no error (trial 54)
            return format_notice(f"* {visible(name)} not fetched: cancelled", now)
        case FileDone(name=name, reason=why, sender=s, sender_id=s_id) if why == SAVED_ELSEWHERE:
            whose = f" from {_whose(s, s_id)}" if s else ""
            said = f"* {visible(name)}{whose} is no longer fetched: the same file is saved"
            return format_notice(said, now)
        case FileDone(name=name, reason=reason):
            failed = f"! {visible(name)} not saved: {visible(reason)}"
            return format_notice(failed, now, ERROR_STYLE)
        case FileWaiting(id=id, name=name, sender=sender, again_in=None, sender_id=sender_id):
            away = _whose(sender, sender_id)
            waits = f"* {visible(name)} waits: {away} is unreachable; the fetch goes on when"
            return format_notice(
                f"{waits} they are back and still offer it (/cancel {id} gives up)", now
            )
        case FileWaiting(id=id, name=name, sender=sender, again_in=again_in, sender_id=sender_id):
            busy = f"{_whose(sender, sender_id)} serves all the fetches it can"
            return format_notice(
                f"* {visible(name)} waits: {busy}; asked again in {again_in:.0f} s, going on "
                f"from where it was (/cancel {id} gives up)",
                now,
            )
        case FileFetched(name=name, by=by):
            return _about(by, f" has your file {visible(name)}", now)
        case OfferWithdrawn(name=name, sender=None, reason=reason) if reason:
            # A user changed, deleted or locked a file once offered: every fetch of it failed,
            # unsaid to them. Only a changed one can be offered again as it is (trial 49).
            why = visible(reason)
            if reason.startswith(("it changed", "it shrank")):
                why += "; /send it again to offer it as it is now"
            return format_notice(f"! you no longer offer {visible(name)}: {why}", now, ERROR_STYLE)
        case OfferWithdrawn(id=id, name=name, sender=None):
            return format_notice(f"* you no longer offer {visible(name)} (offer {id})", now)
        case OfferWithdrawn(id=id, name=name, sender=sender, reason=reason):
            # The offer's number tells two of one file apart (a trial read two like lines).
            why = ": it changed since it was offered" if reason == CHANGED else ""
            return _about(sender, f" no longer offers {visible(name)} (offer {id}){why}", now)
        case RoomLeft(room=room, moved_to=moved_to) if moved_to:
            return format_notice(
                f"* you left this room {visible(room)} for the one of its name at {moved_to}", now
            )
        case RoomLeft(room=room, alone=True):
            return format_notice(f"* you left the room {visible(room)}, where nobody else was", now)
        case RoomLeft(room=room, joined=True, failed=False):
            return format_notice(f"* you left the room {visible(room)}", now)
        case RoomLeft(room=room, joined=False, failed=True):  # not "gave up" (a user trial)
            return format_notice(f"* you are not in the room {visible(room)}", now)
        case RoomLeft(room=room, failed=True):
            return format_notice(f"* you are no longer in the room {visible(room)}", now)
        case RoomLeft(room=room):  # a user read "you left" of a room a /join never got into
            return format_notice(f"* gave up joining the room {visible(room)}", now)
        case RoomsFound(rooms=[]):
            why = "a room is found by name only where its members are on this network"
            return format_notice(f"* no room answered on the local network: {why}", now)
        case RoomsFound(new=new) if new:
            return format_notice(beside_new_room(new, event), now)
        case RoomsFound():
            listed = rooms_listed(event)
            return format_notice(f"* rooms on the local network: {listed}; /join NAME", now)
        case Connecting(addr=addr):
            return format_notice(f"* connecting to {visible(addr)} ...", now)
        case Looking(room=room):
            return format_notice(
                f"* looking for the room {visible(room)} on the local network", now
            )
        case Renamed(member=m, old=old):
            was = visible(shown_name(old, m.node_id))  # a look-alike name keeps its mark
            return _join_lines([_line(now, (NOTICE_STYLE, f"* {was} is now known as "), _name(m))])
        case NickRefused(member=m, username=name, also=also):
            by = _listed([who(m), *(who(other) for other in also)])
            was = (
                f"! {by} still show{'' if also else 's'} you by your former name: {visible(name)}"
                " is another key's there (one who took it first, or may come back to it); /nick"
                " again to go by one name"
            )
            return format_notice(was, now, ERROR_STYLE)
        case PeerJoined(member=m, was=was, back=back):  # back: it had dropped out (trial 59
            # read "carol joined" after "carol dropped out: trying to reach them again")
            where = f"{visible(m.addr)}; was {visible(was)}" if was else visible(m.addr)
            return _about(m, f" is back ({where})" if back else f" joined ({where})", now)
        case PeerLeft(member=m, reason=reason, dialled=True):  # and told when back (trial 58
            # read "left" as gone for good, then lines "not yet delivered" to him)
            return _about(m, f" dropped out ({visible(reason)}): trying to reach them again", now)
        case PeerLeft(member=m, reason=reason):
            return _about(m, f" left ({visible(reason)})", now)
        case PeerGone(member=m):  # (trials 73 and 74: gone from /who, and nothing said)
            return _about(m, f" seems to have quit: nothing listens at {address(m)} any more", now)
        case Who():
            return format_who(event, now)
        case Whois():
            return format_whois(event, now)
        case Ignoring():
            return format_notice(ignoring_text(event), now)
        case Error(message=message) | Unresponsive(message=message):
            return format_notice(f"! {visible(message)}", now, ERROR_STYLE)
        case Saving(path=path, trouble=trouble) if trouble:
            said = (
                f"! cannot save messages in {visible(path)}: {visible(trouble)}; the chat goes"
                " on, and what is said waits in memory until the disk takes it"
            )
            return format_notice(said, now, ERROR_STYLE)
        case Saving(lost=lost):
            gone = f", but not the {lost} said meanwhile that did not fit in memory" if lost else ""
            return format_notice(f"* messages are saved again{gone}", now)
        case NewKey(
            member=m, old_node_id=old, old_here_as=here_as, old_username=like, renamed_from=by
        ):
            name, was, now_id = who(m), old[:FINGERPRINT], m.node_id[:FINGERPRINT]
            if by:  # (review 74: said of a rename too, not only at a refused /msg)
                where = f"now {visible(here_as)}" if here_as else "not here now"
                said = (
                    f"{name}, was {visible(by)}, is another key ({now_id}) than the"
                    f" {visible(like or m.username)} you knew ({was}, {where}): someone else,"
                    " maybe"
                )
            elif here_as:  # (a user trial read "is back" of a member who had never left)
                said = (
                    f"{name} is another key now ({now_id}), while the key that went by it ({was})"
                    f" is here as {visible(here_as)}: a second program, its owner's or someone"
                    " else's"
                )
            elif like:  # (trial 76 read "Robert is back" of a name never here)
                said = (
                    f"{name} is a new key ({now_id}) under a name like {visible(like)}'s ({was},"
                    " not here now): the same person on a new computer, or someone else"
                )
            else:
                said = (
                    f"{name} is back with another key ({now_id}, was {was}): the same person on"
                    " a new computer, or someone else using the name"
                )
            return format_notice(f"! {said}", now, ERROR_STYLE)
        case Undelivered() | Unconfirmed() | Delivered() | NotDelivered():
            return format_notice(delivery_text(event), now)
        case Rejoined():
            return format_notice(BACK_IN, now)
    raise TypeError(f"not a node event: {event!r}")


def ignoring_text(event: Ignoring) -> str:
    """What ``/ignore`` and ``/unignore`` are answered with."""
    listed = ", ".join(map(visible, event.names))
    name = visible(event.name)
    if not event.name:
        return f"* ignored here: {listed}" if listed else "* nobody is ignored here"
    if not event.on:
        return f"* you hear {name} again" + (f" (still ignored: {listed})" if listed else "")
    return (
        f"* {name} is ignored here: their lines, private messages and offers are not shown, "
        f"from now on and after a restart (/unignore {name})"
    )


def format_offer(event: FileOffered, now: float) -> FormattedText:
    what = f"{visible(event.name)} ({size_text(event.size)})"
    to = event.to
    if event.own:
        whom = f"to {who(to)}" if to else "to the room"
        if event.away:
            whom += ", who is unreachable now: offered on their return"
        return format_notice(f"* you offer {what} {whom} (/cancel {event.id} withdraws it)", now)
    private = " to you alone" if to else ""
    if event.saved:  # fetched before (three user trials were offered theirs anew)
        tail = [(NOTICE_STYLE, f" offers {what}{private}, which you have: {visible(event.saved)}")]
    else:
        tail = [(NOTICE_STYLE, f" offers {what}{private}: "), ("bold", f"/get {event.id}")]
        if event.kept:  # (trial 53: a fetch killed at 49% read as anew once offered again)
            tail.append((NOTICE_STYLE, f" goes on from {_percent(event.kept, event.size)}"))
    return _join_lines([_line(now, (NOTICE_STYLE, "* "), _name(event.sender), *tail)])


def delivery_text(event: Undelivered | Unconfirmed | Delivered | NotDelivered) -> str:
    """What became of this node's messages to members it could not reach."""
    match event:
        case Undelivered(waiting=(m,), private=str() as text, away=away):
            quoted = visible(text if len(text) <= 30 else text[:29] + "…")
            if away:  # (trial 53 read "may not have" of a member known gone)
                said = f"your private message “{quoted}” goes on their return"
                return f"  · {who(m)} is unreachable: {said}"
            again = "sent again on their return"
            return f"  · {who(m)} may not have your private message “{quoted}” ({again})"
        case Undelivered(waiting=waiting):
            names = ", ".join(who(m) for m in waiting)
            return f"  · not yet delivered to {names}"
        case Unconfirmed(member=m, count=count):
            last = "your last message" if count == 1 else f"your last {count} messages"
            return f"  · {who(m)} may not have {last} (fetched on their return)"
        case Delivered(member=m, count=count, private=private):
            kind = "private message" if private else "message"
            mine = f"your {kind}" if count == 1 else f"your {count} {kind}s"
            return f"  ✓ {who(m)} now has {mine} they missed"
    assert isinstance(event, NotDelivered)
    kind = "private message" if event.private else "message"
    last = f"your last {kind}" if event.count == 1 else f"your last {event.count} {kind}s"
    return f"* gave up on reaching {who(event.member)}: {last} did not reach them"


@dataclass(frozen=True, slots=True)
class Notice:
    """Local text for the screen (help, hints): it queues with the node's events."""

    text: str
    style: str = NOTICE_STYLE
    indent: int = INDENT  # where the rows a long line is broken into begin


# One line of the screen's backlog, as it waits: an event with the room it is from, or local
# text; Skipped stands for messages not shown.
Line = tuple[str, Event] | Notice


def format_skipped(skipped: Skipped, now: float) -> FormattedText:
    """The summary of messages the screen could not keep up with."""
    count = skipped.count
    noun = "message" if count == 1 else "messages"
    return _join_lines(
        [
            _line(
                now,
                (NOTICE_STYLE, f"\u2026 {count:,} more {noun} from "),
                (name_style(skipped.sender), visible(skipped.sender)),
            )
        ]
    )


EARLIER = "* earlier messages, each at the time it was said:"
BACK_IN = "* back in the room"


@dataclass(frozen=True)
class Composed:
    """A line of the backlog as formatted, before it is broken to a width: Ctrl-L lays it out
    again at the width of the moment (a narrower window had kept rows of the old width)."""

    text: FormattedText
    room: str = ""  # with several rooms open, each row begins with it
    indent: int = INDENT  # where the rows a long line is broken into begin
    of: str = ""  # the room it is of ("": the program's)
    chatter: bool = False  # kept in its room's window alone, once there are several (windows)
    urgent: bool = False  # of that chatter, shown at once from behind too
    rings: bool = False  # another's line said to you alone, or naming you: the bell rings

    def laid_out(self, width: int = 0) -> FormattedText:
        """Broken to ``width`` columns if given, each line's room after its time, as in
        weechat's merged buffers (trials 58 and 59 looked for the times in one column)."""
        if not self.room:
            return _wrapped(self.text, width, self.indent)
        tag = ("bold", f"[{visible(self.room)}] ")
        rows: list[tuple[str, str]] = []
        for line in split_lines(self.text):  # each line says its room; a line broken in
            # rows goes on under its words, not under the room again (trials 58 and 59), past
            # a time with its date too (review 62)
            line = [part for part in line if part[1]]  # (a line after another begins with "")
            at = 2 if _timed(line) else 0
            dated = cells(line[0][1]) + 1 if at else 0
            indent = max(self.indent, dated) + cells(tag[1])
            rows += [("", "\n")] if rows else []
            rows += _wrapped(FormattedText([*line[:at], tag, *line[at:]]), width, indent)
        return FormattedText(rows)


def format_line(line: Line | Skipped, now: float, screen: Screen, width: int = 0) -> FormattedText:
    """Any line of the backlog, formatted only when it is about to be printed, and broken to
    ``width`` columns if given; with several rooms open, each row of an event's line begins
    with its room."""
    return compose(line, now, screen).laid_out(width)


def compose(line: Line | Skipped, now: float, screen: Screen) -> Composed:
    """``format_line`` but for the width."""
    if isinstance(line, Notice):
        screen.earlier = None  # history after it is headed anew (a user read it as repeats)
        return Composed(format_notice(line.text, now, line.style), indent=line.indent)
    if isinstance(line, Skipped):
        return Composed(format_skipped(line, now))
    room, event = line
    texts = []
    earlier = type(event) is MessageReceived and event.history
    if earlier and screen.earlier != room:  # (a room's run after another's: a trial)
        # Their times are when they were said, before the lines just above: say so once.
        texts.append(format_notice(EARLIER, now))
    # A late private line says its own time (a trial read a second header after it), an
    # offer told on a join is no break in the history around it (trial 56 read two runs); a
    # /lastlog's answer has its own head (trial 70 F6)
    if not _late_private(event, now) and type(event) is not FileOffered:
        found = type(event) is Found and event.matched  # (an empty one: no run follows)
        screen.earlier = room if earlier or found else None
    front = screen.rooms.get(room)
    me = front.me if front is not None else None
    if type(event) is MessageReceived and me is not None:
        # Back from a freeze, the room's names are not known till it is in again (trial 64's
        # "<alicia (now alice)>" of alice, renamed meanwhile)
        now_called = "" if room in screen.back_unsaid else _now_called(event, front)
        texts.append(format_message(event, now, me.username, now_called))
    elif type(event) is Ready:  # the pointer to /help once, not again for each /join
        texts.append(format_ready(event, now, hint=not screen.helped))
        screen.helped = True
        if screen.kept_in == room:  # (a user trial's looked sent, and sat there 8 s)
            screen.kept_in = None
            texts.append(format_notice("* in now: Enter sends the line you typed", now))
    elif type(event) is HistoryEnd:
        texts.append(format_history_end(event, front, now))
    elif type(event) is FileList:  # (trial 72: the same head for each room with offers)
        brief = bool(event.files) and now - screen.files_listed_at < FILES_TOGETHER
        texts.append(format_files(event, now, brief=brief))
        if event.files:
            screen.files_listed_at = now
    elif (word := _reachable_word(front, event)) is not None:
        texts.append(format_event(event, now))
        texts.append(format_notice(word, now))
    elif type(event) is Away and event.message is None and event.changed:
        texts.append(format_notice(back_text(screen.heard_away, screen.heard_known), now))
        screen.heard_away.clear()
    elif type(event) is Rejoined and screen.kept_in == room:
        screen.kept_in = None
        texts.append(format_notice(f"{BACK_IN}: Enter sends the line you typed", now))
    elif type(event) is Unresponsive and len(screen.rooms) > 1:  # the program's, not a room's
        said = event.said("this program", "its rooms")
        return Composed(format_notice(f"! {said}", now, ERROR_STYLE))
    elif type(event) is TrackerChanged and me is not None and event.tracker.node_id == me.node_id:
        texts.append(format_notice("* you are the tracker now", now))  # (not "... is now carol")
    elif type(event) is Renamed and me is not None and event.member.node_id == me.node_id:
        texts.append(
            _join_lines([_line(now, (NOTICE_STYLE, "* you are now known as "), _name(me))])
        )
        kept = [  # a name is a room's: a user trial's took /nick for the program's
            f"{visible(other.me.username)} in {visible(label)}"
            for label, other in screen.rooms.items()
            if label != room and other.me is not None and other.me.username != me.username
        ]
        if kept:
            still = f"* in this room only: you are still {', '.join(kept)} (/nick there too)"
            texts.append(format_notice(still, now))
    else:
        texts.append(format_event(event, now))
    offered_alone = type(event) is FileOffered and event.own and event.to is None
    if offered_alone and front is not None and not front.people():  # a user trial wondered
        texts.append(format_notice(OFFERED_ALONE, now))
    alone_here = type(event) is InRoom and not any(m.chat for m in event.members)
    if alone_here and front is not None and me and is_loopback(me.host):
        # On this computer only (a user on a LAN waited there, alone; a trial's "/join ops
        # localhost" founded an "ops" of its own beside the network's, unsaid).
        texts.append(
            format_notice(ALONE_ON_LOOPBACK if not front.name else alone_named(front.name), now)
        )
    # A user trial: say so; but not as a /join that failed goes: its error and "you are not in
    # the room" say it, and to another trial the line was one more, of nothing changed
    if type(event) is RoomLeft and not event.failed and screen.refronted in screen.rooms:
        where = f"* lines you type go to the room {visible(screen.refronted or '')} now"
        texts.append(format_notice(where, now))
    screen.refronted = None
    # Only a room one is in: a /join that failed named its room in its lines, as one never
    # entered (a user trial read "[qa] ! cannot join the room qa", then the rest untagged).
    if type(event) is RoomsFound and not event.new or type(event) is Away:  # the network's, or
        return Composed(_join_lines(texts))  # the program's, not a room's (trial 57 read "[ops]
    # * rooms on the local network")
    # (A join's own lines, as it looks for its room or connects, say which room too: trials
    # 58 and 59 read "* looking for the room ops" untagged among tagged lines.)
    joining = type(event) in (Looking, Connecting) and len(screen.rooms) > 1
    shown_as = room if joining or _among_several(screen, room) else ""
    chatter = type(event) in _CHATTER
    rings = type(event) is MessageReceived and (_names_you(event, me) or _private_to_you(event))
    return Composed(
        _join_lines(texts),
        shown_as,
        of=room,
        chatter=chatter,
        urgent=_for_you(event, me),
        rings=rings,
    )


ALL_DROPPED = (
    "* nobody else is reachable, all dropped out at once: the trouble may be your own "
    "network; this program goes on trying to reach them"
)


ALL_DROPPED_AT_LEAST = 2  # others that dropped out within ALL_DROPPED_WITHIN s, for it
ALL_DROPPED_WITHIN = 10.0
WINDOW_OPEN = 10.0  # seconds after a join's first run of history that older lines are held


def in_touch_text(member: Member) -> str:
    """What the first back after ``ALL_DROPPED`` adds: the network works again."""
    return f"* back in touch: {who(member)} answers again"


def _reachable_word(room: Room | None, event: Event) -> str | None:
    """What ``room`` adds after ``event`` (just applied) of whether the others are reachable:
    all dropped out at once, or the first of them back."""
    if room is not None and type(event) is PeerLeft and room.all_dropped:
        return ALL_DROPPED
    if room is not None and type(event) is PeerJoined and room.in_touch_again:
        return in_touch_text(event.member)
    return None


def _private_to_you(event: MessageReceived) -> bool:
    """Another's private line to you, said now (not one that came back late after an
    absence of yours, which its "said at" line tells)."""
    return event.to is not None and not event.own and not event.history


# A room's chatter, kept in its own window (``windows``): not answers to commands, nor errors.
# A room's own lines as it is joined are its too (trial 62: at a restart in two rooms, "[ops]
# looking for the room ops" and "[ops] you are alice ..." were in dev's window).
_CHATTER = (
    Looking,
    Connecting,
    Ready,
    MessageReceived,
    HistoryEnd,
    FileOffered,
    PeerJoined,
    PeerLeft,
    PeerGone,
    Renamed,
    TrackerChanged,
    InRoom,
    OfferWithdrawn,
    Rejoined,
)


def _for_you(event: Event, me: Member | None) -> bool:
    """Whether ``event`` is for you, to be seen at once from a room behind too: a private line
    or offer, a line naming you, your own said now (a review's line typed just before Ctrl-X
    was gone to a room behind, unseen; trial 59's restart in three rooms printed the others'
    history of its own lines over the room in front's)."""
    if type(event) is MessageReceived:
        own = event.own and not event.history
        return own or event.to is not None or _names_you(event, me)
    return type(event) is FileOffered and (event.to is not None or event.own)


def _names_you(event: MessageReceived, me: Member | None) -> bool:
    """Another's line said now (not history) with your name in it (trial 57's own lines
    that said "alice" went to every window)."""
    live = not event.history and not event.own
    return live and me is not None and mentions(event.text, me.username)


def _now_called(event: MessageReceived, room: Room | None) -> str:
    """The name the author of a line from history goes by in ``room`` now, as shown, if it
    said the line under another; else ""."""
    if not event.history or room is None:
        return ""
    author = event.sender.node_id
    now = room.me if room.me is not None and room.me.node_id == author else room.others.get(author)
    # (its name then, but for the key's mark it had among two of that name: trial 77 read
    # "<dave~78e88f7cfc (now dave)>")
    then = event.sender.username.removesuffix(marked("", author))
    return who(now) if now is not None and now.username not in (event.sender.username, then) else ""


def _late_private(event: Event, now: float) -> bool:
    """A private message that waited for its reader, said with the time it was said."""
    late = type(event) is MessageReceived and event.to is not None and not event.history
    return late and now - event.time > LATE_AFTER


def _among_several(screen: Screen, room: str) -> bool:
    """Whether ``room`` is one of several this program is in (one being joined is none), or
    is behind one being joined (a trial read "you are the tracker now" of the room a /join
    was connecting to, which the status bar showed in front)."""
    if len(screen.rooms) < 2:  # (most lines: one room)
        return False
    joined = [label for label, each in screen.rooms.items() if each.me is not None]
    return room in joined and (len(joined) > 1 or room != screen.current)


def _wrapped(text: FormattedText, width: int, indent: int = INDENT) -> FormattedText:
    return FormattedText(wrap(text, width, indent)) if width else text


TYPO_LIKENESS = 0.6  # how like a room's name one must be to read as a typo of it


def _names_line(people: Iterable[Member], lead: str, now: float) -> FormattedText:
    """``lead``, then the names of ``people``, each in its colour."""
    parts: list[tuple[str, str]] = [(NOTICE_STYLE, lead)]
    for i, m in enumerate(sorted(people, key=lambda m: m.username.casefold())):
        parts += [(NOTICE_STYLE, ", ")] if i else []
        parts.append(_name(m))
    return _join_lines([_line(now, *parts)])


def back_text(heard: collections.Counter[str], known: Collection[str] = ()) -> str:
    """What a return from ``/away`` is answered with: the lines ``heard`` meanwhile that were
    for you, private or naming you, by sender (irssi's awaylog; trial 72 had to look for
    them). Senders ``known`` (in a room at ``/away``) come first: attack round 55's throwaway
    keys, two lines each, pushed a friend's one line into "and 1 more"."""
    if not heard:
        return "* you are back"
    lines = sum(heard.values())
    ranked = sorted(heard.items(), key=lambda item: (item[0] not in known, -item[1]))
    whose = ", ".join(f"{name} ({n})" if n > 1 else name for name, n in ranked[:5])
    more = f" and {len(heard) - 5} more" if len(heard) > 5 else ""
    said = "line" if lines == 1 else "lines"
    return (
        f"* you are back; while you were away, {lines} {said} to you or naming you came: "
        f"from {whose}{more}"
    )


def away_text(message: str | None, *, changed: bool = True) -> str:
    """What ``/away`` is answered with."""
    if message is not None:
        return (
            f"* you are away: {visible(message)}; a private line to you is answered so, once "
            "from each member (/away alone when you are back)"
        )
    if changed:
        return back_text(collections.Counter())
    return "* you are not away: /away MESSAGE says why you are"


def found_head(text: str, shown: int, matched: int) -> str:
    """The head of ``/lastlog``'s answer: what it looked for, and how many it shows."""
    said = f"'{visible(text)}'"
    if not matched:
        return f"* no message kept here says {said}"
    count = f"{shown:,}" if shown == matched else f"the last {shown:,} of {matched:,}"
    return f"* messages kept here that say {said} ({count}), each at the time it was said:"


def format_history_end(event: HistoryEnd, room: Room | None, now: float) -> FormattedText:
    """Where a long run of history ends, and who is in the room now (trial 59's newcomer had
    90 dimmed lines on screen, the lines saying who was there scrolled off above them); a
    ``/lastlog``'s, what it looked for."""
    above = f"({event.messages:,} above, PageUp for them)"
    if event.found is not None:
        return format_notice(f"* messages that say '{visible(event.found)}' end here {above}", now)
    lead = f"* earlier messages end here {above}; "
    people = room.people() if room is not None else []
    if not people:
        return format_notice(f"{lead}nobody else is in the room", now)
    if len(people) > NAMED_AT_END:
        return format_notice(f"{lead}{len(people)} others in the room (/who)", now)
    return _names_line(people, f"{lead}in the room: ", now)


def typo_of(new: str, found: tuple[tuple[str, int], ...]) -> str:
    """The room of ``found`` (name, members) whose name ``new`` looks like a typo of, or ""."""
    import difflib  # (not loaded at start: ``test_dirs``)

    found = tuple(rc for rc in found if not _numbered_apart(new, rc[0]))
    likeness = {room: difflib.SequenceMatcher(None, new, room).ratio() for room, _ in found}
    # Of those alike, the most like it, and of those the most populous (a user trial's "deb"
    # was as like "dve", a typo's room of one, as "dev" with three)
    near = max(found, key=lambda rc: (round(likeness[rc[0]], 3), rc[1]))[0] if found else ""
    return near if near and likeness[near] >= TYPO_LIKENESS else ""


_UNNUMBERED = re.compile(r"[-_]?[0-9]+$")


def _numbered_apart(one: str, other: str) -> bool:
    """Whether two room names differ only by a number at the end (``sim`` and ``sim2``,
    ``team-1`` and ``team-2``): names chosen so, not a typo (trial 71: "did you mean sim?")."""
    return one != other and _UNNUMBERED.sub("", one) == _UNNUMBERED.sub("", other)


def rooms_listed(found: RoomsFound) -> str:
    """Rooms found on the network, each with its members and whether it has a secret."""
    return ", ".join(
        f"{visible(room)} ({count}{', secret' if private else ''})"
        for room, count, private in found.listed()
    )


def beside_new_room(new: str, beside: RoomsFound) -> str:
    """What a room just founded by name has beside it on the network: the one its name looks
    like a typo of, if any (trial 65: the rooms said without the secret marks /list gives)."""
    listed, found = rooms_listed(beside), beside.rooms
    near = typo_of(new, found)
    if near:
        return (
            f"* nobody else on the local network is in {visible(new)}; it has {listed}: did "
            f"you mean {visible(near)}? /join {visible(near)}, then /part {visible(new)}"
        )
    # ("nobody else ... is in": of a room this program was in before, "a new room" read oddly
    # above its history, trial 74)
    said = f"* nobody else on the local network is in {visible(new)}; it has {listed}"
    return f"{said}: /join NAME for one"


def unknown_hint(name: str) -> str:
    return visible(commands.unknown(name))


# ---------------------------------------------------------------------------------------------
# The bottom toolbar: who I am, how many are here, who tracks. Updated in the prompt's thread.


@dataclass
class Room:
    me: Member | None = None
    name: str = ""  # the room's name, if it has one
    private: bool = False  # it has a secret
    tracker: Member | None = None
    others: dict[str, Member] = field(default_factory=dict)  # node id -> member
    connecting: str | None = None  # the address a slow join is trying
    rejoining: bool = False  # back from a freeze, not yet in again: lines typed are kept
    typing: dict[str, float] = field(default_factory=dict)  # node id -> shown until (monotonic)
    # offer id -> how far, or whom it waits for
    fetching: dict[int, FileProgress | FileWaiting] = field(default_factory=dict)
    offers: dict[int, str] = field(default_factory=dict)  # offer id -> name and whose, for Tab
    mine: set[int] = field(default_factory=set)  # of those, this node's own
    # (own offer id, fetcher's node id) -> how far that member's fetch of it is
    uploads: dict[tuple[int, str], Uploading] = field(default_factory=dict)
    # how fast each fetch (offer id) and upload (as ``uploads``) went lately, for its time left
    paces: dict[int | tuple[int, str], TimeLeft] = field(default_factory=dict)
    # Others that dropped out in the last ALL_DROPPED_WITHIN s: when (arrival, monotonic)
    dropped: dict[str, float] = field(default_factory=dict)
    # The last of the others just dropped out, two or more of them within seconds: trial 73's
    # own link went down, and her screen blamed each of the others in turn (``ALL_DROPPED``)
    all_dropped: bool = False
    cut_off: frozenset[str] = frozenset()  # those ``ALL_DROPPED`` was said of, none back since
    # The first back after it: trial 76's own link flapped, the others' returns went unsaid
    # (flapping), and "nobody else is reachable" was the last word long after the heal
    in_touch_again: bool = False
    # The history a join shows: the oldest line of its first run (its window of the room's
    # past), once that run has ended; inf while it is shown; None before, with none shown
    # before a live line, or once a live line or a return came after it. History older than
    # it, come late, is not shown (``before_the_window``) till ``window_until`` (arrival)
    window_from: float | None = None
    window_until: float = -math.inf
    _oldest_in_window: float = math.inf

    def _mark_window(self, event: Event, arrived: float | None) -> None:
        """``window_from``, as a join's first run of history is shown. Closed by what may
        come before history that was never shown here (review 70: a part of the room met
        after the join, its lines older than the window by their senders' clocks)."""
        live = type(event) is MessageReceived and not event.history
        if type(event) is Ready:
            self.window_from = self._oldest_in_window = math.inf
        elif self.window_from is None:
            return
        elif self.window_from != math.inf:
            back = type(event) is PeerJoined and event.back or type(event) is Rejoined
            if live or back:
                self.window_from = None
        elif type(event) is MessageReceived and event.history:
            self._oldest_in_window = min(self._oldest_in_window, event.time)
        elif live:  # a live line first
            self.window_from = None
        elif type(event) is HistoryEnd:
            self.window_from = self._oldest_in_window
            self.window_until = (time.monotonic() if arrived is None else arrived) + WINDOW_OPEN

    def apply(self, event: Event, arrived: float | None = None) -> None:
        """``event``, which came at ``arrived`` (monotonic; now if not given)."""
        self.all_dropped = self.in_touch_again = False
        if type(event) in (Ready, InRoom, Rejoined):  # (its own word of the room: review 72
            self.cut_off = frozenset()  # read "back in touch" of a newcomer an hour later)
        self._mark_window(event, arrived)
        match event:
            case Ready(me=me, role=role, room=name, private=private):
                self.me, self.name, self.private = me, name, private
                if role == "tracker":
                    self.tracker = me
            case Connecting(addr=addr):
                self.connecting = addr
            case Unresponsive() | Rejoined():
                self.rejoining = type(event) is Unresponsive
            case TrackerChanged(tracker=t):
                self.tracker = t
            case InRoom(members=members):
                self.others.update((m.node_id, m) for m in members)
            case PeerJoined(member=m):
                self.others[m.node_id] = m
                self.in_touch_again = m.node_id in self.cut_off
                if self.in_touch_again:
                    self.cut_off = frozenset()
            case PeerLeft(member=m, dialled=dialled):
                at = time.monotonic() if arrived is None else arrived
                recent = {i: t for i, t in self.dropped.items() if at - t < ALL_DROPPED_WITHIN}
                self.dropped = {**recent, m.node_id: at} if dialled else {}
                self.others.pop(m.node_id, None)
                # (Not while a standalone tracker answers: review 69)
                self.all_dropped = not self.others and len(self.dropped) >= ALL_DROPPED_AT_LEAST
                if self.all_dropped:
                    self.cut_off = frozenset(self.dropped)
                self.typing.pop(m.node_id, None)
                self.uploads = {k: u for k, u in self.uploads.items() if k[1] != m.node_id}
            case PeerGone(member=m):  # (taken to have quit: its return an hour later is no
                self.cut_off -= {m.node_id}  # word of the network's, review 73)
            case Renamed(member=m):
                if self.me is not None and m.node_id == self.me.node_id:
                    self.me = m
                elif m.node_id in self.others:
                    self.others[m.node_id] = m
                if self.tracker is not None and self.tracker.node_id == m.node_id:
                    self.tracker = m
            case Typing(member=m, done=True):
                self.typing.pop(m.node_id, None)
            case Typing(member=m):
                self.typing[m.node_id] = time.monotonic() + TYPING_SHOWN
            case FileOffered(sender=m, saved=saved) if saved:  # not one to /get
                self.typing.pop(m.node_id, None)
            case FileOffered(id=id, name=name, sender=m, to=to, own=own):
                self.typing.pop(m.node_id, None)  # typed a /send: done typing (a user trial)
                # Told apart in Tab's menu: a user trial's two "my notes.txt" looked alike.
                whose = f" to {who(to)}" if own and to else "" if own else f" from {who(m)}"
                self.offers[id] = name + whose
                if own:
                    self.mine.add(id)
                if len(self.offers) > MAX_TAB_OFFERS:  # offers can end unsaid (a goodbye)
                    oldest = min(self.offers)
                    del self.offers[oldest]
                    self.mine.discard(oldest)
            case OfferWithdrawn(id=id):
                self.offers.pop(id, None)
                self.mine.discard(id)
                self.uploads = {k: u for k, u in self.uploads.items() if k[0] != id}
                kept = self.uploads
                self.paces = {k: p for k, p in self.paces.items() if type(k) is int or k in kept}
            case Uploading(id=id, to=m, over=True):
                self.uploads.pop((id, m.node_id), None)
                self.paces.pop((id, m.node_id), None)
            case Uploading(id=id, to=m, acked=done):
                self.uploads[(id, m.node_id)] = event
                self.paces.setdefault((id, m.node_id), TimeLeft()).note(time.monotonic(), done)
            case FileProgress(id=id, received=done):
                self.fetching[id] = event
                self.paces.setdefault(id, TimeLeft()).note(time.monotonic(), done)
            case FileWaiting(id=id):
                self.fetching[id] = event
                self.paces.pop(id, None)  # (its pace before the wait is no guide)
            case FileDone(id=id, ok=saved):
                self.fetching.pop(id, None)
                self.paces.pop(id, None)
                if saved:  # not one to /get again (trial 48: Tab offered files saved already)
                    self.offers.pop(id, None)
            case MessageReceived(sender=m):
                self.typing.pop(m.node_id, None)  # said it: no longer typing
            case Who(members=members, tracker_id=tracker_id):
                me_id = self.me.node_id if self.me else None
                self.others = {m.node_id: m for m in members if m.node_id != me_id}
                self.tracker = next((m for m in members if m.node_id == tracker_id), self.tracker)

    def people(self) -> list[Member]:
        """The others who chat (a standalone tracker is not a person)."""
        return [m for m in self.others.values() if m.chat]

    def typists(self, now: float) -> list[str]:
        """Who is typing, by name as the screen shows it."""
        for node_id in [n for n, until in self.typing.items() if until <= now]:
            del self.typing[node_id]
        return sorted(who(m) for n in self.typing if (m := self.others.get(n)) is not None)


@dataclass
class Screen:
    """The rooms this program is in, each with what its toolbar shows, and the one in front:
    typed lines go there (prompt thread)."""

    rooms: dict[str, Room] = field(default_factory=dict)
    current: str = ""
    fronted: list[str] = field(default_factory=list)  # rooms that were in front, latest last
    earlier: str | None = None  # the room of the last line printed, if it was from history
    helped: bool = False  # "type /help for commands" was printed
    cleared_at: float = -math.inf  # when Ctrl-C last threw a half-typed line away (monotonic)
    cleared_says: str = ""  # what the toolbar says of that Ctrl-C
    join_ended_at: float = -math.inf  # when a join in front ended unjoined (monotonic)
    paged_at: float = -math.inf  # when PageUp or PageDown was last pressed (monotonic)
    scrolled: int = 0  # rows of the window in front scrolled back with PageUp; 0: its end
    newer: bool = False  # lines came below while it was scrolled back
    oldest: bool = False  # PageUp went as far back as the window keeps
    scroll_keys: str = field(default_factory=lambda: scroll_keys(os.environ))  # how to scroll
    asked: int = 0  # lines of a pasted block in the input line that Enter would send
    asked_said: str = ""  # what Enter would do with them
    kept_in: str | None = None  # the room joining when a line typed was kept for Enter
    refronted: str | None = None  # brought to the front as the one there was left: say so
    # Rooms behind with lines not seen in front: "*", or "!" for a line that names you (irssi's
    # activity marks; a user missed what a room behind said).
    unseen: dict[str, str] = field(default_factory=dict)
    unresponsive_at: float = -math.inf  # when a freeze was last told (arrival, monotonic)
    back_unsaid: frozenset[str] = frozenset()  # rooms not yet back from a freeze told
    found: tuple[str, ...] = ()  # the rooms the last /list found, for Tab after /join
    away: bool = False  # /away, in every room
    heard_away: collections.Counter[str] = field(default_factory=collections.Counter)  # private
    # lines while away, by sender
    away_known: frozenset[str] = frozenset()  # the others in a room at /away, by node id
    heard_known: set[str] = field(default_factory=set)  # of ``heard_away``, those (as shown)
    files_listed_at: float = -math.inf  # when a /files list was last shown (wall clock)
    # room -> when its last "tracker is now" line was printed (arrival, monotonic)
    tracker_told_at: dict[str, float] = field(default_factory=dict)
    tracker_said: dict[str, str] = field(default_factory=dict)  # room -> the tracker last named
    failed: tuple[str, ...] = ()  # rooms failed since their windows were last let go
    flaps: Flaps = field(default_factory=Flaps)  # members' drops, each (room, node id)'s
    member_lines: dict[str, MemberLines] = field(default_factory=dict)  # joins told, by room
    # The rooms the program starts in, in the order they were joined in its last run: their
    # windows are numbered so, whichever is in first (trial 63: the order they came back in).
    order: tuple[str, ...] = ()

    def before_the_window(self, label: str, event: Event, arrived: float) -> bool:
        """Whether ``event`` is history older than any a join of ``label`` showed, come late
        (at ``arrived``) from a slower link: it would be a second run of earlier messages,
        below those shown first (trial 74's newcomer: 90 lines, then older ones). A line
        says how many (``late_text``); ``/history`` shows them (from the store: ``kept``), and
        headless mode reports them."""
        room = self.rooms.get(label)
        if room is None or type(event) is not MessageReceived or not event.history or event.kept:
            return False
        shown = room.window_from  # (inf: the join's own run, being shown)
        open_ = shown is not None and shown != math.inf and arrived < room.window_until
        return open_ and event.time < shown

    def room(self, label: str) -> Room:
        room = self.rooms.get(label)
        if room is None:
            room = self.rooms[label] = Room()
            self.current = self.current or label
            if label in self.order:
                self._put_in_order()
        return room

    def _put_in_order(self) -> None:
        """Each window of ``order`` where its place is among them, the others where they are."""
        placed = iter(sorted((r for r in self.rooms if r in self.order), key=self.order.index))
        for label in [next(placed) if r in self.order else r for r in self.rooms]:
            self.rooms[label] = self.rooms.pop(label)

    @property
    def front(self) -> Room:
        """The room in front; an empty one before any room has reported (not kept)."""
        return self.rooms.get(self.current) or Room()

    def apply(self, label: str, event: Event, arrived: float | None = None) -> None:
        """``event`` of the room ``label``, which came at ``arrived`` (monotonic; now if not
        given)."""
        if isinstance(event, RoomsFound) and not event.new:
            self.found = tuple(name for name, _ in event.rooms)
        if isinstance(event, Away):  # the program's, not a room's
            if event.message is not None and not self.away:
                self.heard_away.clear()
                self.heard_known = set()
                self.away_known = frozenset(i for room in self.rooms.values() for i in room.others)
            self.away = event.message is not None
            return
        if self.away and type(event) is MessageReceived and not _away_answer(event):
            me = self.rooms[label].me if label in self.rooms else None
            if _private_to_you(event) or _names_you(event, me):  # told on the return, as
                self.heard_away[who(event.sender)] += 1  # irssi's awaylog (trial 73: both)
                if event.sender.node_id in self.away_known:  # (by key: review 70)
                    self.heard_known.add(who(event.sender))
        if label != self.current and isinstance(event, MessageReceived | FileOffered):
            self._note_news(label, event)
        if isinstance(event, RoomLeft) and event.moved_to:  # the room anew, where it was
            self.rooms[label] = Room()
            return
        if isinstance(event, RoomLeft):
            self.unseen.pop(label, None)
            self.rooms.pop(label, None)
            self.member_lines.pop(label, None)  # (its count owed kept the printer awake: R1)
            self.tracker_said.pop(label, None)
            if event.failed:  # its window's errors go on in the one in front (``windows``)
                self.failed = (*self.failed, label)
            self.fronted = [r for r in self.fronted if r != label]
            if self.current == label and not event.joined:
                self.join_ended_at = time.monotonic()
            if self.current == label:  # back to the room in front before it, as it was left
                self.current = self.fronted[-1] if self.fronted else next(iter(self.rooms), "")
                self.refronted = self.current
                self.unseen.pop(self.current, None)
            return
        self.room(label).apply(event, arrived)

    def _note_news(self, label: str, event: MessageReceived | FileOffered) -> None:
        """A line or an offer in a room behind marks it: "!" for a line naming you, or for you
        alone (a user trial's private message marked its room "*", as chatter), one you missed
        too (trial 63: said while you were stopped with Ctrl-Z, it marked "*"); a line kept
        here from before, which a start shows again, none (review 64: the lines kept from the
        last run marked a room "!" at each start; trial 65, "*")."""
        if event.own or isinstance(event, MessageReceived) and event.kept:
            return
        me = self.rooms[label].me if label in self.rooms else None
        named = (
            isinstance(event, MessageReceived)
            and me is not None
            and (event.to is not None or mentions(event.text, me.username))
        )
        self.unseen[label] = "!" if named or self.unseen.get(label) == "!" else "*"

    def cycle(self, step: int = 1) -> str:
        """Bring the next room to the front (Ctrl-X, Alt-Right; the one before with ``step``
        -1, Alt-Left), and say which is in front now."""
        labels = list(self.rooms)
        if len(labels) < 2:
            only = f"only in the room {visible(self.current)}; " if self.current else ""
            return f"{only}/join NAME opens another"
        return self.go_to(labels[(labels.index(self.current) + step) % len(labels)])

    def nth(self, n: int) -> str:
        """Bring the ``n``-th room to the front (Alt-n), and say which is in front now ("" if
        it was already)."""
        labels = list(self.rooms)
        if not 1 <= n <= len(labels):
            rooms = "1 room" if len(labels) == 1 else f"{len(labels)} rooms"
            return f"no room {n}: you are in {rooms} (/rooms lists them)"
        return "" if labels[n - 1] == self.current else self.go_to(labels[n - 1])

    def label_of(self, typed: str) -> str:
        """The room a user means by ``typed``: its label, or the name a room joined at an
        address learnt as it got in (a trial's status bar said "room dev", and ``/part dev``
        was "not in a room dev": the room went by its address)."""
        if typed in self.rooms:
            return typed
        return next((label for label, room in self.rooms.items() if room.name == typed), typed)

    def go_to(self, label: str) -> str:
        """Bring ``label`` to the front (``/room``); what to tell the user."""
        label = self.label_of(label)
        if label not in self.rooms and label.isdecimal() and len(label) < 3:  # /window 2
            return self.nth(int(label)) or f"the room {visible(self.current)} is in front already"
        if label not in self.rooms and label in _STEPS:  # irssi's (trial 57's) /window next
            return self.cycle(_STEPS[label])
        if label not in self.rooms:
            return f"not in a room {visible(label)}; /join {visible(label)}?"
        self.bring(label)
        return f"lines you type go to the room {visible(label)} now"

    def bring(self, label: str) -> None:
        """``label`` to the front; the one there before is where a failed join goes back."""
        if self.current and self.current != label:
            self.fronted = [r for r in self.fronted if r != self.current] + [self.current]
        self.current = label
        self.unseen.pop(label, None)


Progress = FileProgress | FileWaiting | Uploading
_STEPS = {"next": 1, "prev": -1, "previous": -1}  # /window next, /window prev


def progress_bar(progress: Progress, width: int = 10) -> str:
    """``report.pdf [####------] 42%``, ``report.pdf waits for bob``, or ``report.pdf to bob
    [##--------] 20%`` (a fetch from this node): one fetch, for the toolbar. With ``width`` 0,
    no bar: ``report.pdf 42%``."""
    name = visible(progress.name)
    name = name if len(name) <= 20 else name[:19] + "…"
    match progress:
        case FileWaiting(sender=sender, sender_id=sender_id):
            return f"{name} waits for {_whose(sender, sender_id)}"
        case Uploading(to=to, acked=done, size=size):
            name = f"{name} to {who(to)}"
        case FileProgress(received=done, size=size):
            pass
    filled = done * width // size if size else width  # full at 100% only (a trial's, at 95%)
    bar = f" [{'#' * filled}{'-' * (width - filled)}]" if width else ""
    return f"{name}{bar} {_percent(done, size)}"


def _percent(received: int, size: int) -> str:
    """How far, in whole percents down, as every line says it (a trial read one fetch as 19%,
    20% and 19%: ``/files`` rounded)."""
    return f"{received * 100 // size if size else 100}%"


# What a narrow status bar gives up first (the lowest): the help hint, the tracker, the count,
# the list of rooms; then files' progress; the rooms' count and news, the list's shorter forms
# (trial 52: a sender of files at 110 columns could not see that a room behind had news); who
# is typing (a user's 60 columns cut off just that); that one is away; the word that a second
# Ctrl-C quits last.
(
    _HELP,
    _TRACKER,
    _COUNT,
    _ROOMS,
    _PROGRESS,
    _ROOMS_SHORT,
    _TYPING,
    _AWAY,
    _SCROLL,
    _CLEARED,
    _ASKED,
    _ME,
) = range(12)


def scroll_keys(environ: Mapping[str, str]) -> str:
    """How the terminal this runs in scrolls back: tmux and screen keep their own scrollback,
    which Shift-PageUp does not reach (trial 47)."""
    if environ.get("TMUX"):
        return "Ctrl-B [ (tmux)"
    if environ.get("STY"):
        return "Ctrl-A Esc (screen)"
    return "Shift-PageUp"


def screen_toolbar(screen: Screen, width: int = 0, now: float | None = None) -> FormattedText:
    """The room in front's toolbar; with several rooms, their names, the front one marked.
    Fitted to ``width`` columns, if given."""
    now = time.monotonic() if now is None else now
    behind = [  # a fetch in a room behind shows too (a user trial saw no sign of one)
        (f"{visible(label)}: ", progress)
        for label, room in screen.rooms.items()
        if label != screen.current
        for progress in [*room.fetching.values(), *room.uploads.values()]
    ]
    parts = _toolbar_parts(screen.front, now, behind=behind)
    if screen.away and screen.front.me is not None:  # (/away: as irssi's status bar says)
        parts.insert(1, (_AWAY, "| away "))
    if now - screen.cleared_at < CLEARED_SHOWN:  # a user quit unwarned with a second Ctrl-C
        parts.insert(1, (_CLEARED, f"| {screen.cleared_says} "))
    if screen.scrolled:  # (trial 57: a room's lines past a screen were for /history only)
        newer = "new lines below, " if screen.newer else ""
        oldest = "the oldest kept: /history N for more, " if screen.oldest else ""
        parts[1:1] = [  # and shorter (trial 58's 100 columns lost "new lines below")
            (_SCROLL, f"| scrolled back: {oldest}{newer}PageDown for newer "),
            (_SCROLL, f"| scrolled back: {newer}PageDown for newer "),
            (_SCROLL, f"| {'new lines below' if newer else 'scrolled back'}: PageDown "),
        ]
    elif now - screen.paged_at < SCROLL_SHOWN and screen.oldest:
        older = f"| nothing older here: /history N, or the terminal's {screen.scroll_keys} "
        parts.insert(1, (_SCROLL, older))
    elif now - screen.paged_at < SCROLL_SHOWN:
        parts.insert(1, (_SCROLL, "| the newest lines "))
    if screen.asked:  # a paste taller than the window hid the notice above it (a user trial),
        # in a shorter form where it does not fit (a trial's window of 60 columns dropped it)
        parts[1:1] = [
            (_ASKED, f"| {screen.asked_said or pasted(screen.asked)} "),
            (_ASKED, f"| {screen.asked} lines: Enter sends, Ctrl-C drops "),
        ]
    if len(screen.rooms) >= 2:
        names = " ".join(
            f"[{visible(name)}]"
            if name == screen.current
            else visible(name) + screen.unseen.get(name, "")
            for name in screen.rooms
        )
        parts.append((_ROOMS, f"| rooms: {names} (Ctrl-X) "))
        marked = "".join(f", {visible(r)}{mark}" for r, mark in screen.unseen.items())
        short = f"| {len(screen.rooms)} rooms{marked} (Ctrl-X) "  # where those do not fit
        parts.append((_ROOMS_SHORT, short))
        if screen.unseen:  # and at least which have news (a trial's 40 columns lost "dev!")
            parts.append(
                (
                    _ROOMS_SHORT,
                    "| " + " ".join(f"{visible(r)}{m}" for r, m in screen.unseen.items()) + " ",
                )
            )
    return _fitted(parts, width)


def toolbar_text(room: Room, now: float | None = None) -> FormattedText:
    return _fitted(_toolbar_parts(room, now), 0)


def _toolbar_parts(
    room: Room, now: float | None = None, behind: list[tuple[str, Progress]] | None = None
) -> list[tuple[int, str]]:
    """The parts of the room's toolbar; ``behind``: fetches of rooms behind, after its own,
    each with its room's name."""
    if room.me is None:
        where = f"connecting to {visible(room.connecting)}" if room.connecting else "joining"
        return [(_ME, f" {where}... ")]
    count = len(room.people()) + 1
    t = room.tracker
    tracker = "unknown" if t is None else who(t) if t.chat else "standalone"
    name = f" | room {room.name}" if room.name else " | room" if room.private else ""
    name += " (private)" if room.private else ""
    out = [
        (_ME, f" {visible(room.me.username)}{name} "),
        (_COUNT, f"| {count} in the room "),
        (_TRACKER, f"| tracker {tracker} "),
        (_HELP, "| /help "),
    ]
    transfers = [("", p) for p in [*room.fetching.values(), *room.uploads.values()]]
    transfers += behind or []
    bars = [where + progress_bar(progress) for where, progress in transfers]
    left = _time_left(room, transfers[0][1], now) if len(transfers) == 1 else ""
    if left:  # (trial 53 waited on "big.bin [###-------] 25%" of 381 MiB, not knowing how long)
        out.append((_PROGRESS, f"| {bars[0]}, {left} "))
    if bars:  # one part and its shorter forms (``_fitted``)
        more = f"(+{len(bars) - 2}) " if len(bars) > 2 else ""  # (a trial saw 2 of 5)
        out.append((_PROGRESS, "".join(f"| {bar} " for bar in bars[:2]) + more))
        others = f"(+{len(bars) - 1}) " if len(bars) > 1 else ""
        if others:  # where two do not fit, one (a user trial's 80 columns showed none)
            out.append((_PROGRESS, f"| {bars[0]} {others}"))
        where, first = transfers[0]  # and without its bar (a trial's 40 columns showed none)
        out.append((_PROGRESS, f"| {where}{progress_bar(first, 0)} {others}"))
    typists = room.typists(time.monotonic() if now is None else now)
    if typists:
        shown = ", ".join(typists[:3])
        more = f" and {len(typists) - 3} more" if len(typists) > 3 else ""
        verb = "is" if len(typists) == 1 else "are"
        out.append((_TYPING, f"| {shown}{more} {verb} typing "))
    return out


def _time_left(room: Room, progress: Progress, now: float | None) -> str:
    """How long ``progress``, a transfer in ``room``, has left, if known."""
    match progress:
        case FileProgress(id=id, size=size):
            pace = room.paces.get(id)
        case Uploading(id=id, to=to, size=size):
            pace = room.paces.get((id, to.node_id))
        case _:
            return ""
    return pace.said(size, time.monotonic() if now is None else now) if pace else ""


def _fitted(parts: list[tuple[int, str]], width: int) -> FormattedText:
    """The parts in their order; those ranked lowest give way while they do not fit in
    ``width`` columns (0: any), but the first (who and where). Parts of one rank in a row are
    one and its shorter forms, each shown only when the one before it gave way, and so are the
    rooms' shorter forms after their list, which rank higher once shown."""
    kept: list[tuple[int, str]] = []
    shorter: list[list[tuple[int, str]]] = []  # each kept part's shorter forms
    for i, (rank, text) in enumerate(parts):
        before = parts[i - 1][0] if i else None
        if i and (rank == before or (before, rank) == (_ROOMS, _ROOMS_SHORT)):
            shorter[-1].append((rank, text))
        else:
            kept.append((rank, text))
            shorter.append([])
    while width and len(kept) > 1 and sum(get_cwidth(text) for _, text in kept) > width:
        at = kept.index(min(kept[1:], key=lambda part: part[0]))
        if shorter[at]:
            kept[at] = shorter[at].pop(0)
        else:
            del kept[at], shorter[at]
    return FormattedText([(TOOLBAR_STYLE, text) for _, text in kept])


# ---------------------------------------------------------------------------------------------
# The front end.


class Node(commands.RoomNode, Protocol):
    def say(self, text: str, *, action: bool = False) -> None: ...
    async def wait_sendable(self) -> None: ...
    def typing(self, *, done: bool = False) -> None: ...


class Rooms(Protocol):
    """The rooms this program is in (``peerchat.rooms``), as the prompt drives them."""

    first: str  # the room the program started in
    rejoining: tuple[str, ...]  # the rooms of the last run it joins again, in their order

    def get(self, room: str) -> Node | None: ...
    def join(self, room: str, addr: tuple[str, int] | None, typed_in: str) -> None: ...
    def part(self, room: str, message: str = "") -> None: ...
    def find(self, typed_in: str) -> None: ...
    def uploads(self, room: str = "") -> list[tuple[Member, str, int]]: ...
    def fetching(self, room: str = "") -> list[tuple[str, int]]: ...
    def fetched_now(self, id: int) -> list[tuple[str, int]]: ...
    def quit(self, message: str = "") -> None: ...
    def rooms_for(self, room: str, command: commands.Command) -> list[str]: ...


def render_batch(
    lines: list[tuple[float, Line | Skipped]], screen: Screen, width: int = 0
) -> FormattedText:
    """One batch from the backlog as one block of text, broken to ``width`` columns if
    given."""
    return laid_out(compose_batch(lines, screen), width)


def compose_batch(lines: list[tuple[float, Line | Skipped]], screen: Screen) -> list[Composed]:
    """One batch from the backlog, each line stamped with the wall-clock time it arrived
    (arrival times are monotonic). Every event also updates its room's toolbar: joins, leaves
    and tracker changes are never skipped, so it misses none."""
    wall = time.time() - time.monotonic()
    out = []
    late: collections.Counter[str] = collections.Counter()  # lines held back, by room
    for arrived, line in _refusals_together(lines):
        told, wave = Told.SAID, member_lines.TOLD
        if isinstance(line, tuple) and screen.before_the_window(*line, arrived):
            late[line[0]] += 1
            continue  # (nor news of a room behind: review 70)
        if isinstance(line, tuple):
            told = _flapping(screen, arrived, *line)
            if told is not Told.UNSAID:
                wave = _in_a_wave(screen, arrived, *line)
            said_already = (
                told is Told.UNSAID
                or not wave.said
                or _tracker_as_shown(screen, *line)
                or _tracker_churns(screen, arrived, *line)
                or _freeze_told(screen, arrived, *line)
                or _back_unsaid(screen, *line)
            )
            screen.apply(*line, arrived)
            gone = screen.rooms.get(line[0])
            if said_already and (word := _reachable_word(gone, line[1])) is not None:
                # (its leave or return paced or a flap's, unsaid: review 69)
                out.append(_notice_in(line[0], word, arrived + wall, screen))
            if said_already or _forgotten_unsaid(line[1]):  # Tab forgets it
                continue
            if type(line[1]) is HistoryEnd and line[1].messages < HISTORY_MARKED:
                continue  # (a few lines: the end is in sight)
            beside = line[1]
            if type(beside) is RoomsFound and beside.new:  # (not those this program is in)
                beside = dataclasses.replace(beside, rooms=_not_joined(screen, beside.rooms))
                near = typo_of(beside.new, beside.rooms)
                if not near and (mine := _typo_of_mine(screen, beside.new)):
                    out.append(compose(Notice(mine), arrived + wall, screen))
                    continue
                # A room /joined beside others is no mistake unless its name looks like one
                # (trial 53 read the list after each /join qa as noise)
                if not beside.rooms or len(screen.rooms) > 1 and not near:
                    continue
                line = (line[0], beside)
        composed = compose(line, arrived + wall, screen)
        before, after = [], []
        if wave.untold_before:
            count = wave.untold_before
            before.append(untold_text(count))
        if told is Told.LAST and isinstance(line, tuple) and isinstance(line[1], PeerLeft):
            unsaid = f"  · {who(line[1].member)} dropped out {FLAPS_TOLD} times in a minute:"
            after.append(f"{unsaid} not told again while it goes on (/who: whether they are in)")
        if wave.warn:  # (and a member's flapping line beside it: review 64 R4)
            after.append(
                f"  · members join, leave and rename faster than {member_lines.AT_ONCE} at once and"
                f" one a second: the rest are counted, not told one by one (/who: who is in)"
            )
        if before or after:
            texts = [format_notice(more, arrived + wall) for more in before]
            texts += [composed.text, *(format_notice(more, arrived + wall) for more in after)]
            composed = dataclasses.replace(composed, text=_join_lines(texts))
        out.append(composed)
    for room, count in late.items():
        out.append(_notice_in(room, late_text(count), time.time(), screen))
    return out


def late_text(count: int) -> str:
    """Of history held back (``Screen.before_the_window``)."""
    lines = "line" if count == 1 else "lines"
    return f"* {count} earlier {lines} came late, older than those shown: /history shows them"


def _away_answer(event: MessageReceived) -> bool:
    """Whether ``event`` is another's answer from ``/away``: not a line for you that came (a
    room line may begin alike, and name you: review 69)."""
    return event.to is not None and event.text.startswith(AWAY_SAID)


def _notice_in(room: str, text: str, now: float, screen: Screen) -> Composed:
    """A notice of ``room``'s, tagged as its lines are (``ALL_DROPPED`` of a leave not
    shown)."""
    notice = compose(Notice(text), now, screen)
    return dataclasses.replace(notice, room=room if _among_several(screen, room) else "", of=room)


def untold_text(count: int) -> str:
    return f"* {count} more joined, left or were renamed meanwhile, untold (/who: who is in)"


def owed_lines(screen: Screen, mono: float) -> list[Composed]:
    """Lines a room owes now that nothing else would bring: the count of the joins and leaves
    a wave that is over left untold (the next one told says it, but one may not come for long:
    trial 65 read it minutes late), and the tracker, where it changed since the last said and
    the room's pace of such lines allows one (trial 66's last line was "you are the tracker
    now", while the status bar said carol)."""
    wall = time.time() - time.monotonic()
    out = []
    for room, lines in screen.member_lines.items():
        if room in screen.rooms and (count := lines.settle(mono)):
            shown_as = room if _among_several(screen, room) else ""
            text = format_notice(untold_text(count), mono + wall)
            out.append(Composed(text, shown_as, of=room, chatter=True))
    for room in _tracker_owed(screen):
        if mono >= screen.tracker_told_at.get(room, -math.inf) + TRACKER_TOLD_EVERY:
            tracker = screen.rooms[room].tracker
            assert tracker is not None
            screen.tracker_told_at[room], screen.tracker_said[room] = mono, tracker.node_id
            out.append(compose((room, TrackerChanged(tracker)), mono + wall, screen))
    return out


def owed_in(screen: Screen, mono: float) -> float | None:
    """Seconds until a room owes a line (``owed_lines``); None: none will."""
    due = [
        at
        for room, lines in screen.member_lines.items()
        if room in screen.rooms and (at := lines.settles_at()) is not None
    ]
    due += [
        screen.tracker_told_at.get(room, -math.inf) + TRACKER_TOLD_EVERY
        for room in _tracker_owed(screen)
    ]
    return max(0.0, min(due) - mono) if due else None


def _tracker_owed(screen: Screen) -> list[str]:
    """The rooms whose tracker is not the one their last line about it named."""
    return [
        room
        for room, front in screen.rooms.items()
        if front.tracker is not None
        and (said := screen.tracker_said.get(room)) is not None
        and said != front.tracker.node_id
    ]


def _refusals_together(
    lines: list[tuple[float, Line | Skipped]],
) -> list[tuple[float, Line | Skipped]]:
    """The refusals of one rename in one batch as one, where the first was (trial 57: a room
    of many that had seen the name's other key gave a line each)."""
    told: dict[tuple[str, str], tuple[int, NickRefused]] = {}  # -> where, and all of it
    out: list[tuple[float, Line | Skipped]] = []
    for arrived, line in lines:
        if isinstance(line, tuple) and isinstance(event := line[1], NickRefused):
            key = (line[0], event.username)
            if key in told:
                at, first = told[key]
                ids = {m.node_id for m in (first.member, *first.also)}
                if event.member.node_id not in ids:  # (review 61: "bob and bob")
                    also = (*first.also, event.member)
                    told[key] = at, dataclasses.replace(first, also=also)
                continue
            told[key] = len(out), event
        out.append((arrived, line))
    for (room, _), (at, event) in told.items():
        out[at] = (out[at][0], (room, event))
    return out


def _listed(names: list[str]) -> str:
    """ "bob", "bob and carol", "bob, carol and 3 others"."""
    if len(names) > 3:
        return f"{names[0]}, {names[1]} and {len(names) - 2} others"
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def laid_out(lines: Iterable[Composed], width: int) -> FormattedText:
    """``lines`` as one block of text ``width`` columns wide."""
    out: list[tuple[str, str]] = []
    for line in lines:
        if out:
            out.append(("", "\n"))
        out.extend(line.laid_out(width))
    return FormattedText(out)


class PromptUI:
    """Front end for a person at a terminal. See the module docstring for the threading rules."""

    leaves_lone_first = True  # a /join moves a person on from a default room they are alone in

    def __init__(self, message: str = "> ") -> None:
        self._message = message
        self._input_history: History = InMemoryHistory()
        self._rang_at = -math.inf  # (``_ring``)
        self._echo: Echo | None = None  # the terminal's modes as found (``hush``)
        self._lock = threading.Lock()  # guards the hand-over state below, touched by both threads
        self._backlog: Backlog[Line] = Backlog()  # what the screen has yet to show
        self._loop: asyncio.AbstractEventLoop | None = None  # set while the printer can be woken
        self._wake: asyncio.Event | None = None  # set: the backlog has something for the printer
        self._task: asyncio.Task[Any] | None = None
        self._stopped = False  # stop() was called
        self._finished = False  # the prompt loop has ended
        self._screen = Screen()  # prompt thread only
        self._told_waiting: frozenset[str] = frozenset()  # trio thread: the last "not yet" shown
        self._session: PromptSession[str] | None = None  # prompt thread only
        self._suspension: Suspension | None = None  # set in the prompt thread, once
        self._farewell = ""  # /quit MESSAGE: set in the prompt thread, read once it ended
        self._farewell_at = -math.inf  # when (monotonic): a quit long after leaves it out
        self._terminal_gone = False  # (so set too): its window or SSH session closed
        # When a quit (""), a /part of a room (its name), of the only room (None), or a
        # withdrawal of an offer (its number) was held back to be asked again (prompt thread).
        self._asked_at: dict[str | int | None, float] = {}
        self._printed: Windows[Composed] = Windows(REDRAWN_LINES)  # prompt thread
        self._front_drawn = ""  # the room whose window the screen shows (prompt thread)
        self._to_end = False  # Enter was pressed while scrolled back: the window's end again

    def hush(self) -> None:
        """From now on the terminal echoes nothing typed: keys typed as the program starts,
        before the prompt is drawn, were echoed raw at the top of the screen, and then shown
        again in the input line, which had them too (trial 58). Not from behind the shell,
        whose terminal this job may not change."""
        self._echo = Echo(sys.stdin)
        if in_front(sys.stdin.fileno()):
            self._echo.off()

    def unhush(self) -> None:
        """The terminal's modes as ``hush`` found them."""
        if self._echo is not None:
            self._echo.restore()

    def keep_input_history(self, path: Path) -> None:
        """Typed lines survive restarts (up-arrow), in ``path``, trimmed to the latest."""
        _trim_history_file(path, INPUT_HISTORY_LIMIT)
        self._input_history = _InputHistory(str(path))

    # -- called in the trio thread -------------------------------------------------------------

    def show(self, event: Event, room: str | None = None) -> None:
        """Queue the event (from ``room``) for the screen: no formatting here, and one wakeup
        of the prompt's loop per batch (when the backlog was empty), not one per event."""
        if not self._worth_telling(event):
            return
        if type(event) in _TOOLBAR_ONLY and not getattr(event, "resumed", False):
            with self._lock, contextlib.suppress(RuntimeError):  # the loop closed: no toolbar
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._on_toolbar_event, room, event)
            return
        if type(event) is MessageReceived:
            sender: str | None = event.sender.username
            size = len(event.text)
        elif type(event) is FileOffered or (type(event) is OfferWithdrawn and event.sender):
            # A flood of offers, or of their withdrawals, is summed up like one of messages.
            sender, size = event.sender.username, len(event.name)
        else:
            sender, size = None, 0
        with self._lock:
            if not self._finished:
                line = (room or "", event)
                was_empty = self._backlog.add(line, time.monotonic(), sender=sender, size=size)
                if was_empty and self._loop is not None and self._wake is not None:
                    self._loop.call_soon_threadsafe(self._wake.set)
                return
        with contextlib.suppress(OSError):  # the terminal is gone (``_print_the_rest``)
            print_formatted_text(
                _in_rows(_wrapped(format_event(event, time.time()), self._columns()))
            )

    def _worth_telling(self, event: Event) -> bool:
        """ "Not delivered yet to bob" once per absence, not under every message said meanwhile
        (headless mode reports each)."""
        if type(event) is Undelivered and event.private is None:
            waiting = frozenset(m.node_id for m in event.waiting)
            told, self._told_waiting = self._told_waiting, waiting
            return waiting != told
        if type(event) in (Delivered, NotDelivered):
            self._told_waiting = frozenset()
        return True

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._loop is not None:
                # RuntimeError: the loop already closed, so there is nothing left to stop.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._cancel_prompt)

    async def drive(self, rooms: Rooms) -> None:
        token = trio.lowlevel.current_trio_token()
        self._screen.order = (rooms.first, *rooms.rejoining)  # (before the prompt's thread)
        async with trio.open_nursery() as nursery:
            # If drive() itself is cancelled, the thread cannot be: stop the prompt so it ends.
            nursery.start_soon(self._stop_on_exit)
            nursery.start_soon(self._pass_on_continues)
            user_quit = await trio.to_thread.run_sync(self._run_prompt, token, rooms)
            nursery.cancel_scope.cancel()
        if user_quit:
            recent = time.monotonic() - self._farewell_at < QUIT_AGAIN
            rooms.quit(self._farewell if recent else "", keep_rooms=self._terminal_gone)

    async def _pass_on_continues(self) -> None:
        """SIGCONT comes to trio's thread (``Suspension.on_continue``); the prompt's draws the
        chat anew (``Suspension.continued``)."""
        if not hasattr(signal, "SIGCONT"):
            return
        with trio.open_signal_receiver(signal.SIGCONT) as continues:
            async for _ in continues:
                suspension = self._suspension
                if suspension is None or not suspension.on_continue():
                    continue
                with self._lock, contextlib.suppress(RuntimeError):  # the loop closed
                    if self._loop is not None:
                        self._loop.call_soon_threadsafe(suspension.continued)

    async def _stop_on_exit(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.stop()

    # -- the prompt's worker thread ------------------------------------------------------------

    def _run_prompt(self, token: trio.lowlevel.TrioToken, rooms: Rooms) -> bool:
        """Thread body; True when the user asked to quit, False when stopped from outside."""
        return asyncio.run(self._prompt_main(token, rooms))

    async def _prompt_main(self, token: trio.lowlevel.TrioToken, rooms: Rooms) -> bool:
        with self._lock:
            stopped = self._stopped
            if stopped:
                self._finished = True
            else:
                self._loop = asyncio.get_running_loop()
                self._wake = asyncio.Event()
                self._wake.set()  # events shown before the loop existed are waiting
                self._task = asyncio.current_task()
        if stopped:
            self._print_the_rest()
            return False
        printer = asyncio.create_task(self._print_forever())
        try:
            echo = self._echo or Echo(sys.stdin)  # (the modes found before any were changed)
            try:
                return await self._read_lines(token, rooms, echo)
            finally:
                echo.restore()
        except asyncio.CancelledError:  # stop(): the node is gone, leave quietly
            return False
        finally:
            printer.cancel()
            await asyncio.gather(printer, return_exceptions=True)
            with self._lock:
                self._loop = None  # from now on show() prints straight away
                self._finished = True
            self._print_the_rest()

    def _cancel_prompt(self) -> None:
        # Not once the prompt is winding down on its own (self._loop is cleared first thing).
        if self._loop is not None and self._task is not None and not self._task.done():
            self._task.cancel()

    def _notice(
        self, text: str, mark: str = "* ", style: str = NOTICE_STYLE, indent: int = INDENT
    ) -> None:
        """Local text, queued behind the node's events (prompt thread), marked as the node's
        are ("*"; "!" for ``_refuse``): a user trial found "usage: ..." and "rooms: ..." the
        only lines without a mark."""
        with self._lock:
            was_empty = self._backlog.add(Notice(mark + text, style, indent), time.monotonic())
        if was_empty and self._wake is not None:
            self._wake.set()

    def _refuse(self, text: str) -> None:
        """A typed line that cannot be done, said as the node's errors are."""
        self._notice(text, "! ", ERROR_STYLE)

    async def _read_lines(self, token: trio.lowlevel.TrioToken, rooms: Rooms, echo: Echo) -> bool:
        screen = self._screen
        suspension = self._suspension = Suspension(token, self._draw_anew)
        session: PromptSession[str] = PromptSession(
            self._message,
            # A pasted block's rows, and a long line's, under the text, not under the prompt
            # (trial 72)
            prompt_continuation=" " * get_cwidth(self._message),
            output=_Terminal.from_pty(sys.stdout, term=os.environ.get("TERM")),
            erase_when_done=True,  # the line comes back as our own message, formatted
            bottom_toolbar=lambda: screen_toolbar(screen, get_app().output.get_size().columns),
            history=self._input_history,
            key_bindings=merge_key_bindings(
                [
                    _KEYS,
                    _clear_key(screen),
                    suspension.keys(),
                    _room_keys(screen, self._notice),
                    self._redraw_key(),
                ]
            ),
            completer=RoomCompleter(screen),
            complete_while_typing=False,  # a menu only on Tab: none pops up over the chat
            refresh_interval=1.0,  # "bob is typing" goes away on its own
        )
        self._session = session
        session.app.ttimeoutlen = session.app.timeoutlen = ESCAPE_ALONE_AFTER
        _input_rows_capped(session)
        session.app.before_render += _menu_space(session)  # (first: the next one measures)
        session.app.before_render += _drawn_anew_when_needed(self._draw_anew)
        session.app.before_render += self._window_in_front
        session.app.after_render += suspension.remember
        typed_at, typed_in = -math.inf, ""  # the last typing notice: when, and to which room

        def typing(buffer: Buffer) -> None:
            """Tell the room, at most every ``TYPING_EVERY`` s; not for a command, and not for
            a line brought back by Up or Down (a user trial's "is typing" while reading them).
            A line cleared while the room reads "is typing" says it is done."""
            nonlocal typed_at, typed_in
            now = time.monotonic()
            if not buffer.text or buffer.text.startswith("/"):
                if now - typed_at < TYPING_SHOWN:
                    typed_at = -math.inf
                    tell_typing(done=True)
                return
            if now - typed_at < TYPING_EVERY:
                return
            if not _recalled(buffer):  # (last: it looks through the whole history)
                typed_at, typed_in = now, screen.current
                tell_typing(done=False)

        def tell_typing(*, done: bool) -> None:
            act = functools.partial(
                _in_room, rooms, typed_in, functools.partial(_typing, done=done)
            )
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(act)

        entry = TypedLines()

        def changed(buffer: Buffer) -> None:
            """Any edit (a paste again too, after Ctrl-C cleared it) is asked about anew; the
            text a prompt begins with is no edit."""
            entry.edited()
            screen.asked = 0
            if buffer.text:  # a second Ctrl-C would clear this, not quit
                screen.cleared_at = -math.inf
            typing(buffer)

        session.default_buffer.on_text_changed += changed
        while True:
            echo.off()
            try:
                line = entry.next_line()
                if line is None:
                    line = await session.prompt_async(default=entry.kept, pre_run=suspension.resume)
            except KeyboardInterrupt:
                if screen.front.me is None and len(screen.rooms) > 1:
                    line = "/part"  # gives up a /join still connecting; the other rooms go on
                else:
                    if screen.front.me is None:  # not a silent end (a user trial)
                        where = screen.front.connecting or screen.current  # (trial 72 read
                        # "* gave up" of a room looked for by name)
                        self._notice(f"gave up joining {visible(where)}" if where else "gave up")
                    elif not self._may_leave(token, rooms):
                        continue
                    return True
            except EOFError:
                if not self._may_leave(token, rooms):
                    continue
                return True
            except OSError as exc:  # the terminal is gone (its window closed): leave, as on
                if exc.errno != errno.EIO:  # SIGHUP, keeping the rooms for the next start
                    raise
                self._terminal_gone = True
                return True
            self._to_end = screen.scrolled > 0  # Enter goes back to the newest lines
            # Sent: the next keystroke is news again. (Held instead, the room still reads "is
            # typing": a trial's dropped paste left it there 4 s.)
            was_typed_at, typed_at = typed_at, -math.inf
            front, several = screen.front, len(screen.rooms) > 1
            joined = front.me is not None and not front.rejoining
            took = entry.take(
                line, joined=joined, room=screen.current, several=several, back=front.rejoining
            )
            if isinstance(took, Held):
                typed_at = was_typed_at
                if took.asked:
                    screen.asked, screen.asked_said = took.asked, took.notice
                elif not joined:
                    screen.kept_in = screen.current
                self._notice(took.notice)
                continue
            command = took.command
            screen.asked, screen.kept_in = 0, None  # (a private paste's question stayed in the
            # status bar: a trial)
            room = screen.current  # the room in front when the line was sent
            if isinstance(command, commands.History | commands.Lastlog):
                screen.earlier = None  # each /history is headed, the second in a row too
            action: Callable[[], None]
            match command:
                case commands.Say(text=text, action=is_action):
                    lines = commands.said_lines(text)
                    try:
                        trio.from_thread.run(
                            _say_each, rooms, room, lines, is_action, trio_token=token
                        )
                    except trio.RunFinishedError:
                        return False
                    continue
                case commands.JoinRoom(room=name, addr=None) if name in screen.rooms:
                    self._notice(f"already in {visible(name)}: " + screen.go_to(name))
                    continue
                case commands.JoinRoom(room=name, addr=addr) if name in screen.rooms:
                    screen.bring(name)  # there, or another room of its name there (``join``)
                    action = functools.partial(rooms.join, name, addr, room)
                case commands.JoinRoom(room=name, addr=addr):
                    screen.room(name)
                    screen.bring(name)
                    action = functools.partial(rooms.join, name, addr, room)
                case commands.PartRoom(window=True) if len(screen.rooms) < 2:
                    self._refuse("your only room: /quit leaves it, and the program")
                    continue
                case commands.PartRoom(room=name) as part:
                    if name:
                        part = dataclasses.replace(part, room=screen.label_of(name))
                    if (part := part.among(screen.rooms)) is None:
                        self._refuse(f"not in a room {visible(name)}; {_part_usage(screen)}")
                        continue
                    if not self._may_part_the_last() or not self._may_leave(
                        token, rooms, part.room or room
                    ):
                        continue
                    action = functools.partial(rooms.part, part.room or room, part.message)
                case commands.ListRooms():
                    self._notice("rooms: " + ", ".join(_room_list(screen)))
                    continue
                case commands.Away(message=message):
                    action = functools.partial(rooms.set_away, message, room)
                case commands.FindRooms():
                    seconds = commands.FIND_ROOMS_SECONDS
                    self._notice(f"looking for rooms on the local network ({seconds:g} s)")
                    action = functools.partial(rooms.find, room)
                case commands.GoToRoom(room=name):
                    self._notice(screen.go_to(name))
                    continue
                case commands.Usage(text=text):
                    self._refuse(text)
                    continue
                case commands.Help(text=text):
                    for rows, indent in help_parts(text):
                        self._notice(rows, mark="", indent=indent)
                    continue
                case commands.Clear():  # and nothing for Ctrl-L to draw again
                    self._printed.clear(screen.current)
                    output = session.app.output
                    output.erase_screen()
                    output.cursor_goto(0, 0)
                    output.flush()
                    continue
                case commands.Unknown(name=name):
                    self._refuse(unknown_hint(name))
                    continue
                case commands.Quit(message=message):
                    if message:  # (kept for the quit that confirms it, a Ctrl-C too: a
                        # user trial's "bye all" was lost so)
                        self._farewell, self._farewell_at = message, time.monotonic()
                    if not self._may_leave(token, rooms):
                        continue
                    return True
                case commands.Nothing():
                    continue
                case commands.CancelFile(id=id) if not self._may_withdraw(token, rooms, id):
                    continue
                case _ if (act := commands.room_action(command)) is not None:
                    action = functools.partial(_command_in_room, rooms, room, command, act)
                case _:
                    raise TypeError(f"a command nobody carries out: {command!r}")
            try:
                trio.from_thread.run_sync(action, trio_token=token)
            except trio.RunFinishedError:
                return False

    def _may_withdraw(self, token: trio.lowlevel.TrioToken, rooms: Rooms, id: int) -> bool:
        """Withdrawing an offer of one's own stops its fetches: the first ``/cancel`` of it
        says who fetches it and stays (trial 70: one withdrew the wrong file, at 60%, unasked,
        where a /quit asks); another within ``QUIT_AGAIN`` s withdraws it."""
        if self._asked_just_now(id):
            return True
        try:
            fetching = trio.from_thread.run_sync(rooms.fetched_now, id, trio_token=token)
        except trio.RunFinishedError:
            return True
        if not fetching:
            return True
        self._asked_at[id] = time.monotonic()
        who = ", ".join(f"{visible(name)} ({share}%)" for name, share in fetching)
        self._refuse(
            f"fetching it from you now: {who}; /cancel {id} again within {QUIT_AGAIN:g} s "
            "withdraws it all the same"
        )
        return False

    def _asked_just_now(self, what: str | int | None) -> bool:
        """Whether leaving or withdrawing ``what`` was held back to be asked again less than
        ``QUIT_AGAIN`` s ago: the second time goes ahead."""
        return time.monotonic() - self._asked_at.get(what, -math.inf) < QUIT_AGAIN

    def _may_part_the_last(self) -> bool:
        """Leaving the only room ends the program: the first ``/part`` there says so and stays
        (trial 69: irssi's never exits, and a /part ended it unasked); another within
        ``QUIT_AGAIN`` s leaves, as ``/quit`` does at once."""
        if len(self._screen.rooms) > 1:
            return True
        if self._asked_just_now(None):
            return True
        self._asked_at[None] = time.monotonic()
        self._refuse(
            f"your only room: leaving it ends the program. /part again within {QUIT_AGAIN:g} s "
            "to leave, or /join another room first"
        )
        return False

    def _may_leave(self, token: trio.lowlevel.TrioToken, rooms: Rooms, room: str = "") -> bool:
        """Leaving stops the fetches this program serves: the first quit (or ``/part`` of
        ``room``) says so and stays (a user trial's /quit cut a member's fetch at 16%, unasked,
        and another's /part at 44%); another within ``QUIT_AGAIN`` s leaves."""
        if self._asked_just_now(room):
            return True
        try:
            uploads = trio.from_thread.run_sync(rooms.uploads, room, trio_token=token)
            downloads = trio.from_thread.run_sync(rooms.fetching, room, trio_token=token)
        except trio.RunFinishedError:
            return True
        if not uploads and not downloads:
            return True
        self._asked_at[room] = time.monotonic()
        self._screen.cleared_at = -math.inf  # "Ctrl-C again quits" was not so (a user trial)
        said = []
        if uploads:
            said += (  # (a user trial read "fetching from you: carol big.bin (16%)" oddly)
                f"{who(member)} is fetching {visible(name)} from you ({share}%)"
                for member, name, share in uploads
            )
        if downloads:  # (a user trial's Ctrl-D dropped its own fetch at 8%, unasked)
            fetching = (f"{visible(name)} ({share}%)" for name, share in downloads)
            said.append("you are fetching " + ", ".join(fetching))
        again = f"{'/part' if room else 'quit'} again within {QUIT_AGAIN:g} s to leave"
        self._refuse(f"{'; '.join(said)}. Leaving stops it; {again}")
        return False

    def _on_toolbar_event(self, room: str, event: Typing | FileProgress | Uploading) -> None:
        """Who is typing, how far a fetch is: the toolbar says so (prompt thread)."""
        if room in self._screen.rooms:
            self._screen.rooms[room].apply(event)
        if self._session is not None:
            self._session.app.invalidate()

    async def _print_forever(self) -> None:
        """Print the backlog a batch at a time, one redraw per batch and ``REDRAW_EVERY`` at
        most, for as long as it has lines; then sleep until show() wakes the loop again, or a
        room owes a line (``owed_lines``)."""
        assert self._wake is not None
        while True:
            self._wake.clear()
            app = self._session.app if self._session is not None else None
            if app is not None and _in_front(app) is False:
                # Behind the shell (continued by ``kill -CONT``, about to stop again): the
                # lines wait for ``fg`` (a trial saw a notice written over the shell's prompt).
                await asyncio.sleep(BEHIND_POLL)
                continue
            with self._lock:
                lines = self._backlog.take(time.monotonic())
            if not lines:
                if owed := owed_lines(self._screen, time.monotonic()):
                    await self._cursor_known()
                    self._print_above_prompt(owed)
                    continue
                await self._wait_for_lines()
                continue
            await self._cursor_known()
            self._print_above_prompt(compose_batch(lines, self._screen))
            await asyncio.sleep(REDRAW_EVERY)

    async def _wait_for_lines(self) -> None:
        """Until show() wakes the loop, or a room owes a line (``owed_lines``)."""
        assert self._wake is not None
        due = owed_in(self._screen, time.monotonic())
        if due is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), due)

    async def _cursor_known(self) -> None:
        """Until the terminal has said where its cursor is (asked as the prompt is drawn, and
        after each block), the prompt's height on screen is a guess: erasing it then can leave
        it above the block, as ``run_in_terminal``, which waits so too, never did."""
        app = self._session.app if self._session is not None else None
        if app is not None and app.is_running and app.output.responds_to_cpr:
            await app.renderer.wait_for_cpr_responses()

    def _ring(self) -> None:
        """The terminal's bell, for a line to you alone or naming you, as irssi's (trial 69:
        tmux's and screen's alerts never came); once in ``BELL_EVERY`` at most, as anyone in an
        open room may name you (review 66)."""
        now = time.monotonic()
        if self._session is None or now - self._rang_at < BELL_EVERY:
            return
        self._rang_at = now
        self._session.app.output.bell()

    def _print_above_prompt(self, lines: list[Composed]) -> None:
        """Print ``lines`` where the input line is, and draw the line again below it (prompt
        thread). Between two prompts the line is not on screen, and they are just printed.
        A room's chatter behind another waits in its window (``windows``)."""
        screen = self._screen
        for line in lines:
            self._printed.add(line, screen.current)
        self._keep_windows()
        lines = [line for line in lines if shown_now(line, screen.current, screen.rooms)]
        if not lines:  # a batch with nothing to print
            return
        rings = any(line.rings for line in lines)
        if screen.scrolled and self._session is not None:  # kept for PageDown (and Enter)
            screen.newer = True
            if rings:
                self._ring()
            self._session.app.invalidate()
            return
        text = laid_out(lines, self._columns())
        if self._session is None:  # no prompt yet
            print_formatted_text(_in_rows(text))
            return
        app = self._session.app
        drawn = app.is_running  # (also once the line is sent, until the prompt has erased it)
        if drawn:
            app.renderer.erase()  # the cursor goes back to where the input line began
        print_block(text, app.output)
        if rings:
            self._ring()
        if drawn:
            app.renderer.request_absolute_cursor_position()  # as after run_in_terminal
            app.invalidate()  # drawn anew from the cursor, below the text

    def _window_in_front(self, app: Application[Any]) -> None:
        """A room brought to the front (a key, ``/room``, a ``/join``, the room in front left)
        shows its window: the screen drawn anew with its lines (prompt thread)."""
        front = self._screen.current
        if app.is_done or (front == self._front_drawn and not self._to_end):  # (done: the next
            return  # prompt draws it; a review's Ctrl-X, Enter at once kept the other's lines)
        before, self._front_drawn, self._to_end = self._front_drawn, front, False
        if before:
            self._screen.scrolled = 0  # at the new window's end (or the end, after Enter)
            self._draw_anew(app)

    def _redraw_key(self) -> KeyBindings:
        keys = KeyBindings()

        @keys.add("c-l")
        def _redraw(event: KeyPressEvent) -> None:
            """Ctrl-L draws the screen anew, as irssi's does (prompt_toolkit's own only cleared
            it, and a user lost the conversation from view)."""
            self._draw_anew(event.app)

        @keys.add("pageup")
        @keys.add("pagedown")
        def _page(event: KeyPressEvent) -> None:
            """PageUp and PageDown scroll the window in front by a page, as irssi's do, through
            the lines it keeps (trial 57's room had its first 20 of 50 lines out of reach, and
            the terminal's own scrollback jumbled with the windows drawn anew). prompt_toolkit's
            own went through the lines typed, which a trial took for the chat."""
            screen = self._screen
            page = max(event.app.output.get_size().rows - 3, 1)
            step = page if event.key_sequence[0].key == Keys.PageUp else -page
            before, screen.paged_at = screen.scrolled, time.monotonic()
            screen.scrolled = max(before + step, 0)
            if screen.scrolled != before:
                self._draw_anew(event.app)

        return keys

    def _keep_windows(self) -> None:
        """The windows of the rooms one is in, and of those alone (``Windows.keep_only``)."""
        screen = self._screen
        self._printed.keep_only(screen.rooms, screen.failed, screen.current)
        screen.failed = ()

    def _draw_anew(self, app: Application[Any]) -> None:
        """The latest rows drawn again from the top of the screen, and the prompt below them
        (prompt thread). Each row is written over the one there, and only what is below the
        last is erased: a terminal such as tmux keeps a screen cleared whole in its scrollback,
        and each resize put another copy there (a trial)."""
        output = app.output
        size = output.get_size()
        room = max(size.rows - 2, 1)  # rows left by the input line and the toolbar
        screen = self._screen
        self._keep_windows()  # a room just joined begins its window here (a
        # /join draws it before anything of it is printed: review 60)
        rows: list[StyleAndTextTuples] = []
        several = len(screen.rooms) > 1
        kept = self._printed.view(screen.current, scrollback=screen.scrolled > 0)
        for line in reversed(kept):  # (the width changes)
            if several and line.of in screen.rooms and not line.room:  # (printed alone)
                line = dataclasses.replace(line, room=line.of)  # (trial 56 read them untagged)
            rows[:0] = split_lines(line.laid_out(size.columns))
            if len(rows) > room + screen.scrolled:  # (one row more: not the oldest)
                break
        screen.oldest = screen.scrolled > 0 and len(rows) <= room + screen.scrolled
        screen.scrolled = min(screen.scrolled, max(len(rows) - room, 0))
        screen.newer = screen.newer and screen.scrolled > 0
        end = len(rows) - screen.scrolled
        latest = rows[max(end - room, 0) : end]
        app.renderer.erase()
        output.cursor_goto(0, 0)
        if latest:
            over = [[(_RAW, _ERASE_LINE), *row] for row in latest[-room:]]
            print_block(_join_lines(over), output)
        output.erase_down()
        output.flush()
        app.renderer.request_absolute_cursor_position()
        app.invalidate()

    def _print_the_rest(self) -> None:
        """After the prompt: what is still waiting, printed plainly (prompt thread). Not on
        a terminal that is gone (closed, hung up): a trial's closed pane ended the program with
        "internal error (OSError)" as it said goodbye."""
        while True:
            with self._lock:
                lines = self._backlog.take(time.monotonic())
            if not lines:
                return
            if text := render_batch(lines, self._screen, self._columns()):  # (none: all silent)
                try:
                    print_formatted_text(_in_rows(text))
                except OSError:  # nothing to show them on
                    return

    def _columns(self) -> int:
        """The terminal's width now (prompt thread): lines are broken to it."""
        if self._session is not None:
            return self._session.app.output.get_size().columns
        return shutil.get_terminal_size().columns


_NO_STYLE = Style([])  # the lines' styles are inline ("ansired bold"), none by class


_RAW = "[ZeroWidthEscape]"  # a fragment written as it is
_ERASE_LINE = "\x1b[2K"
_AUTOWRAP_OFF, _AUTOWRAP_ON = "\x1b[?7l", "\x1b[?7h"


def print_block(text: FormattedText, output: Output) -> None:
    """``text`` and a newline, written to ``output`` at once (prompt thread): prompt_toolkit's
    print_formatted_text would leave them to a run_in_terminal while a prompt runs."""
    renderer.print_formatted_text(output, _in_rows(FormattedText([*text, ("", "\n")])), _NO_STYLE)


def _in_rows(text: FormattedText) -> FormattedText:
    """``text`` written with the terminal's own wrapping off (DECAWM): a row wider than it was
    measured is cut at the edge, not carried on at the left edge of the next row, where it
    read as a line of its own (attack round 44 forged "<carol> ..." so, behind letters that
    draw wider than prompt_toolkit counts them; ``wrap.cells`` counts wider now too)."""
    return FormattedText([(_RAW, _AUTOWRAP_OFF), *text, (_RAW, _AUTOWRAP_ON)])


class _InputHistory(FileHistory):
    """Typed lines in a file, readable by the user alone; one the disk refuses (a full one) is
    missing from the file only: the up-arrow has it for this run (tried by hand: prompt_toolkit's
    error and a traceback covered the screen at each line typed). A private message is never
    written there (trial 58 found ``/msg`` lines in it, readable by all, where private messages
    are said to be never stored), nor a pasted block (sent or dropped, it may hold anything):
    the up-arrow has them for this run alone."""

    def __init__(self, filename: str) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):  # (made 0644 by earlier versions)
                    os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        super().__init__(filename)

    _run_only = False  # (``keep_for_this_run``)

    def keep_for_this_run(self, line: str) -> None:
        """``line`` for the up-arrow of this run, never on disk."""
        self._run_only = True
        try:
            self.append_string(line)
        finally:
            self._run_only = False

    def store_string(self, string: str) -> None:
        if self._run_only or _unkept(string):  # (trial 59: a paste dropped with Ctrl-C, the
            return  # wrong clipboard, was kept)
        with contextlib.suppress(OSError):
            super().store_string(string)


def _keep_for_this_run(history: History, line: str) -> None:
    """A half-typed line Ctrl-C threw away comes back with the up-arrow, in this run only
    (trial 59: an irssi user lost one for good; it may be anything: never on disk)."""
    if isinstance(history, _InputHistory):
        history.keep_for_this_run(line)
    else:
        history.append_string(line)


def _unkept(typed: str) -> bool:
    """Whether ``typed`` stays out of the input history file (``_InputHistory``)."""
    return "\n" in typed or _private(typed)


def _private(typed: str) -> bool:
    """Whether ``typed`` (a line, or a pasted block of them) says anything privately: a
    block's ``/msg`` among other lines went into the file (review 60)."""
    pieces = commands_apart(typed) or [typed]
    return any(isinstance(commands.parse_line(piece), commands.Private) for piece in pieces)


def _trim_history_file(path: Path, limit: int) -> None:
    """Keep the latest entries of a prompt_toolkit history file under ``limit`` bytes, and
    none that says something privately (earlier versions kept them); the file is replaced
    whole, so that a disk too full for the shorter copy leaves it as it was."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    entries = re.split(rb"\n(?=# )", b"\n" + data)  # an entry begins with a "# time" line
    kept = [entry for entry in entries if not _unkept(_entry_text(entry))]
    if len(data) <= limit and len(kept) == len(entries):
        return
    tail = b"\n".join(kept)[-limit:]
    start = tail.find(b"\n#")
    if start < 0:
        tail, start = b"", -1
    shorter = path.with_name(path.name + ".new")
    try:
        shorter.write_bytes(tail[start + 1 :])
        shorter.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            shorter.unlink()  # (half of one, if any)


def _entry_text(entry: bytes) -> str:
    """The text of one entry of a prompt_toolkit history file (its "+" lines)."""
    rows = entry.decode("utf-8", "replace").split("\n")
    return "\n".join(row[1:] for row in rows if row.startswith("+"))


async def _say_each(rooms: Rooms, room: str, lines: list[str], action: bool) -> None:
    for line in lines:
        node = rooms.get(room)
        if node is None:
            return  # left meanwhile
        node.say(line, action=action)
        await node.wait_sendable()  # a long paste must not overrun the peers' queues


def _clear_key(screen: Screen) -> KeyBindings:
    keys = KeyBindings()

    @keys.add("c-c")
    def _clear_or_quit(event: KeyPressEvent) -> None:
        """Ctrl-C throws away a half-typed line (and the toolbar says a second one quits); on
        an empty line it quits, as Ctrl-D does, but just after a join in front ended unjoined
        (``JOIN_ENDED_GRACE``), when it says so first."""
        buffer = event.app.current_buffer
        if buffer.text:
            _keep_for_this_run(buffer.history, buffer.text)
            buffer.reset()
            buffer.on_text_changed.fire()  # (reset tells no one: the room read "is typing")
            screen.kept_in = None  # no line kept for Enter now
            if screen.front.me is not None:  # (while joining, Ctrl-C gives the join up)
                now = time.monotonic()
                # (Trial 68: just after a join ended, "again quits" was one Ctrl-C short.)
                more = "twice more" if now - screen.join_ended_at < JOIN_ENDED_GRACE else "again"
                screen.cleared_at, screen.cleared_says = now, f"line cleared: Ctrl-C {more} quits"
        elif time.monotonic() - screen.join_ended_at < JOIN_ENDED_GRACE:
            screen.join_ended_at = -math.inf  # the next one quits, as the toolbar says
            screen.cleared_at = time.monotonic()
            screen.cleared_says = "not joined: Ctrl-C again quits"
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return keys


def _room_keys(screen: Screen, notice: Callable[[str], None]) -> KeyBindings:
    """Keys that bring a room to the front. The status bar shows which, as irssi's does: a
    line at each switch filled two user trials' screens. Only a key that moved nothing says
    why (one room only, no room 9)."""
    keys = KeyBindings()

    def switch(to: Callable[[], str]) -> None:
        before = screen.current
        said = to()
        if said and screen.current == before:
            notice(said)

    @keys.add("c-x", eager=True)  # not the first key of Emacs's C-x chords: no wait
    def _next_room(event: KeyPressEvent) -> None:
        switch(screen.cycle)

    for key, step in (("right", 1), ("left", -1)):  # Alt-Right and Alt-Left, as in weechat

        @keys.add("escape", key, eager=True)
        def _room_beside(event: KeyPressEvent, step: int = step) -> None:
            switch(functools.partial(screen.cycle, step))

    for n in range(1, 10):  # Alt-1 ... Alt-9 bring the n-th room to the front, as in irssi

        @keys.add("escape", str(n), eager=True)
        def _nth_room(event: KeyPressEvent, n: int = n) -> None:
            switch(functools.partial(screen.nth, n))

    return keys


def help_parts(text: str) -> list[tuple[str, int]]:
    """The help's rows, each run with the indent its long rows go on at: a command's under its
    words (a trial's went on under the time), the others' under the text (trial 64's last row
    at 50 columns went on at column 24)."""
    runs = itertools.groupby(text.split("\n"), key=_help_indent)
    return [(_help_rows(list(rows), indent), indent) for indent, rows in runs]


def _help_rows(rows: list[str], indent: int) -> str:
    """A run of the help's rows as shown: a command's more words (indented) as one paragraph,
    broken to the terminal's width (trial 65 read each of "/help quit"'s rows stamped with the
    time, and at 40 columns broken again mid-sentence); others row by row."""
    if indent in (INDENT, INDENT + commands.HELP_COLUMN):
        return "\n".join(rows)
    return " " * (indent - INDENT) + " ".join(row.strip() for row in rows)


def _help_indent(row: str) -> int:
    """Where a row of the help goes on: a command's under its words, another's under its own
    text, as far in as it begins (review 64: "/help quit"'s rows began at column 13 and went
    on at 9)."""
    if row.startswith("  /"):
        return INDENT + commands.HELP_COLUMN
    return INDENT + len(row) - len(row.lstrip(" "))


def _in_room(rooms: Rooms, room: str, act: Callable[[Node], None]) -> None:
    """Do ``act`` on the node of ``room``, if the program is still in it (trio thread)."""
    node = rooms.get(room)
    if node is not None:
        act(node)


def _typo_of_mine(screen: Screen, new: str) -> str:
    """What to say of a room just founded by a name like that of a room this program is in
    (trial 59's /join dve in dev founded a room, unsaid), or ""."""
    mine = tuple((label, 0) for label in screen.rooms if label and label != new)
    near = typo_of(new, mine)
    if not near:
        return ""
    return (
        f"* nobody else on the local network is in {visible(new)}, and you are in "
        f"{visible(near)}: did you mean it? /part {visible(new)} goes back to it"
    )


def _not_joined(screen: Screen, rooms: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """Those of ``rooms`` this program is not in: a room founded by name was told of the
    rooms beside it, the user's own among them (a user trial)."""
    mine = {name for label, room in screen.rooms.items() for name in (label, room.name)}
    return tuple(found for found in rooms if found[0] not in mine)


def _tracker_as_shown(screen: Screen, room: str, event: Event) -> bool:
    """A tracker change to the tracker the room shows already, or the first one a room hears
    as it joins: "tracker is now alice" right under "you are bob ... (peer)" read as a change
    (user trials), and the status bar names the tracker."""
    if type(event) is not TrackerChanged or room not in screen.rooms:
        return False
    shown = screen.rooms[room].tracker  # None: the first word of it, under "you are ...":
    if shown is None:  # the status bar says it
        screen.tracker_said[room] = event.tracker.node_id
        return True
    return shown.node_id == event.tracker.node_id


def _tracker_churns(screen: Screen, arrived: float, room: str, event: Event) -> bool:
    """A tracker change within ``TRACKER_TOLD_EVERY`` of the last one printed for the room:
    the status bar says it (attack round 43: a key that claimed the role and left, again and
    again, put "tracker is now" on every screen five times a second)."""
    if type(event) is not TrackerChanged:
        return False
    told = screen.tracker_told_at.get(room, -math.inf)
    if arrived - told < TRACKER_TOLD_EVERY:
        return True  # (said once the pace allows, if it is still news then: ``owed_lines``)
    screen.tracker_told_at[room], screen.tracker_said[room] = arrived, event.tracker.node_id
    return False


def _flapping(screen: Screen, arrived: float, room: str, event: Event) -> Told:
    """Whether a member's drop or return is told (``flaps``), and what the room's lines missed
    it on its drops (trial 63: after "not told again while it goes on", "not yet delivered to
    bob" and "bob now has your message" still came at each cut); any other event is. Of
    private lines, each is told."""
    if type(event) is PeerLeft and event.dialled:
        return screen.flaps.dropped((room, event.member.node_id), arrived)
    if type(event) is PeerGone:
        screen.flaps.gone((room, event.member.node_id))
        return Told.SAID
    if type(event) is PeerJoined and event.back and not event.was:  # (a rename is said:
        about = (event.member,)  # trial 63)
    elif type(event) is Undelivered and event.private is None:
        about = event.waiting
    elif type(event) is Unconfirmed or type(event) is Delivered and not event.private:
        about = (event.member,)
    else:
        return Told.SAID
    unsaid = all(screen.flaps.unsaid((room, m.node_id), arrived) for m in about)
    return Told.UNSAID if unsaid else Told.SAID


def _in_a_wave(screen: Screen, arrived: float, room: str, event: Event) -> member_lines.Verdict:
    """Whether a join, leave (or one taken to have quit) or return is told (``member_lines``),
    a name back with another key (trial 65: 25 throwaway keys back under names just left put
    22 warnings on a screen, past the wave's word), or another's rename (attack round 48: 60
    keys of one address, each renamed once a second, put 58 lines a second on a screen); any
    other event is."""
    if type(event) not in (PeerJoined, PeerLeft, PeerGone, NewKey, Renamed):
        return member_lines.TOLD
    me = screen.rooms[room].me if room in screen.rooms else None
    if type(event) is Renamed and me is not None and event.member.node_id == me.node_id:
        return member_lines.TOLD  # one's own, always
    lines = screen.member_lines.get(room)
    if lines is None:
        lines = screen.member_lines[room] = member_lines.MemberLines()
    return lines.tell(arrived)


_TOOLBAR_ONLY = (Typing, FileProgress, Uploading)  # events only the status bar shows


FREEZE_TOLD_FOR = 10.0  # seconds: each room's word of one freeze after the first goes unsaid


def _freeze_told(screen: Screen, arrived: float, room: str, event: Event) -> bool:
    """A freeze told already, by another room: it is the program's (a user trial read three
    like notices of one, one per room). Each room it was told of says when it is back."""
    if type(event) is not Unresponsive:
        return False
    told, screen.unresponsive_at = arrived - screen.unresponsive_at < FREEZE_TOLD_FOR, arrived
    screen.back_unsaid |= {room}
    return told


def _back_unsaid(screen: Screen, room: str, event: Event) -> bool:
    """Back in a room after a freeze, unsaid: said once in each room's window for a freeze
    told (the freeze was said once for the program: a room alone through it, in front, would
    have left it unsaid, review 57; trial 62 read "[team] back in the room" in dev's window,
    and dev never said it), and for a room a line was kept for; a rejoin nobody was told of
    (a room of one) is not said either."""
    if type(event) is not Rejoined:
        return False
    if screen.kept_in != room and room not in screen.back_unsaid:
        return True
    screen.back_unsaid -= {room}
    return False


def _forgotten_unsaid(event: Event) -> bool:
    """An offer withdrawn that Tab forgets and the screen need not tell: its sender left ("bob
    left" says it), or the user need not hear it (``OfferWithdrawn.unsaid``)."""
    return type(event) is OfferWithdrawn and (
        event.unsaid or (event.sender is not None and event.reason == LEFT)
    )


def _recalled(buffer: Buffer) -> bool:
    """Whether the input shows a line of the input history as it was: the buffer's working
    lines are the history's, then the new line."""
    lines = buffer.history.get_strings()
    return buffer.working_index < len(lines) and buffer.text == lines[buffer.working_index]


def _typing(node: Node, *, done: bool) -> None:
    node.typing(done=done)


def _command_in_room(
    rooms: Rooms, room: str, command: commands.Command, act: Callable[[Node], None]
) -> None:
    """Carry out ``command`` (``act``), typed with ``room`` in front, in the rooms it is for
    (trio thread)."""
    for target in rooms.rooms_for(room, command):
        _in_room(rooms, target, act)


def _part_usage(screen: Screen) -> str:
    """How ``/part`` is used, for one who named a room they are not in."""
    if len(screen.rooms) == 1:
        (only,) = map(visible, screen.rooms)
        return f"/part alone leaves {only}, and /part {only} MESSAGE says MESSAGE as you go"
    return f"your rooms: {', '.join(map(visible, screen.rooms))} (/part ROOM [MESSAGE])"


def _room_list(screen: Screen) -> list[str]:
    """The rooms for ``/rooms``, marked as in the status bar (a narrow one drops them), each
    with the number Alt-N and ``/window N`` bring it by (trial 57 counted them by hand)."""
    return [
        f"{n} {visible(label)}{screen.unseen.get(label, '')}"
        f"{' (in front)' if label == screen.current else ''}"
        for n, label in enumerate(screen.rooms, 1)
    ]


class _Terminal(Vt100_Output):
    """The terminal, never asked where its cursor is.

    prompt_toolkit asks (a cursor position request) after every block printed above the
    prompt, to place its bottom toolbar; the terminal's answer, sent just as Ctrl-Z stopped
    the program, went to the shell instead (";1R" at the shell prompt, then a syntax error),
    and one sent after ``fg`` was echoed on screen. Saying there is one row below the cursor
    lets the prompt and the toolbar be drawn right below the last line, without asking.
    """

    def get_rows_below_cursor_position(self) -> int:
        return 1

    def flush(self) -> None:
        """Nothing is drawn behind the shell: a job continued there (``kill -CONT``) stops
        again, but a redraw of its status bar ("bob is typing") got out first, over the
        shell's lines (a user trial, 3 of 3). After ``fg`` all is drawn anew."""
        if in_front(self.fileno()) is False:
            self._buffer = []  # (prompt_toolkit's: what this flush would have written)
            return
        super().flush()


MENU_ROWS = 8  # at most, the input line's among them (prompt_toolkit keeps 8 always)


def input_rows(rows: int) -> int:
    """The most rows the input line takes in a window of ``rows``: a third of it, up to
    ``MENU_ROWS``, so the chat stays in sight above a long paste."""
    return max(1, min(MENU_ROWS, rows // 3))


def _input_rows_capped(session: PromptSession[str]) -> None:
    """The input line grows with what is typed up to ``input_rows``, then scrolls with the
    cursor. prompt_toolkit's grew past the window: a paste of 2,500 characters scrolled the
    whole chat away, and the redraw after it wrote over a line just received before it reached
    the scrollback (a user trial)."""
    window = session.layout.current_window  # the input line's: the layout's focus
    grown = window.height

    def height() -> Dimension:
        cap = input_rows(get_app().output.get_size().rows)
        wanted = to_dimension(grown)
        return Dimension(min=min(wanted.min, cap), max=cap)

    window.height = height


def _menu_space(session: PromptSession[str]) -> Callable[[Application[Any]], None]:
    """Rows below the input line for as many choices as Tab's menu has, up to ``MENU_ROWS``:
    prompt_toolkit keeps room for seven whatever the menu holds, and a menu of one name stood
    over six blank rows above the toolbar (a user trial)."""

    def before_render(_: Application[Any]) -> None:
        state = session.default_buffer.complete_state
        shown = len(state.completions) if state is not None else MENU_ROWS
        session.reserve_space_for_menu = min(shown + 1, MENU_ROWS)

    return before_render


def _drawn_anew_when_needed(
    draw_anew: Callable[[Application[Any]], None],
) -> Callable[[Application[Any]], None]:
    """prompt_toolkit never draws the prompt lower than it last drew it within one run: once a
    Tab menu closed, or Ctrl-C dropped a pasted block of lines, blank rows stayed between the
    input line and the toolbar until the next message (two user trials). When the prompt's own
    height shrinks, it is erased and drawn again at that height; after one that filled the
    window (the chat scrolled away above it), the chat is drawn again too (``draw_anew``). So
    it is after the window changed size: the terminal had moved the rows of a long input line
    about, and prompt_toolkit, erasing the rows it had drawn, left copies of them (a trial)."""
    drawn, size_drawn = 0, None

    def before_render(app: Application[Any]) -> None:
        nonlocal drawn, size_drawn
        size = app.output.get_size()
        height = app.layout.container.preferred_height(size.columns, size.rows).preferred
        if not app.is_done and size_drawn is not None and size != size_drawn:
            draw_anew(app)
        elif height < drawn and not app.is_done:
            if drawn >= size.rows:
                draw_anew(app)
            else:
                app.renderer.erase()
                app.renderer.request_absolute_cursor_position()
        drawn, size_drawn = height, size

    return before_render


_KEYS = KeyBindings()
SETTLE = 2.0  # seconds after a resume in which the shell may still set the modes it keeps
SETTLE_CHECK = 0.02  # how often they are checked meanwhile


class Suspension:
    """Ctrl-Z, as in any terminal program (the node notices the pause: ``_watch_stall``); on
    ``fg`` the chat is drawn anew as Ctrl-L draws it, as a full-screen program's is, in place of
    the shell's lines (a user trial found the conversation out of sight after ``fg``).

    The shell sets the modes it keeps for a stopped job (line mode, echo) as it wakes the job,
    racing the prompt's own, and may come last, later on a loaded machine: for ``SETTLE``
    seconds after ``fg`` the prompt's modes are checked and set again whenever they differ, and
    only then is the prompt drawn anew, over whatever the terminal echoed meanwhile (not a
    second time below it). A line sent ends one prompt run and its tasks: the next run goes
    on checking (``resume``) until the time is up.
    """

    def __init__(
        self, token: trio.lowlevel.TrioToken, draw_anew: Callable[[Application[Any]], None]
    ) -> None:
        self._token = token
        self._draw_anew = draw_anew
        self._modes: list[Any] | None = None
        self._until = -math.inf
        self._app: Application[Any] | None = None
        self._stopping = False  # Ctrl-Z's own stop is under way: it sees to the resume

    def remember(self, app: Application[Any]) -> None:
        """The prompt's modes, once it has drawn (``after_render``): a stop from outside (a
        SIGSTOP) gives no key to take them at."""
        self._app = app
        if self._modes is None:
            with contextlib.suppress(termios.error):
                modes = termios.tcgetattr(app.input.fileno())
                if not modes[3] & termios.ICANON:  # the prompt's own, not the line mode
                    self._modes = modes

    def on_continue(self) -> bool:
        """SIGCONT, in trio's thread: the prompt's may be blocked in a read the shell's line
        mode holds until Enter (a user trial's Ctrl-C then quit, and Enter sent a line typed
        before the stop). Continued behind the shell (``kill -CONT``), the job stops again,
        as a terminal program does that would draw over the shell and read its keys (``fg``
        continues it in front). In front, the prompt's modes are set at once, from this
        thread. Returns whether the prompt's thread is to draw the chat anew."""
        app = self._app
        front = None if app is None else _in_front(app)
        if front is False:
            os.kill(0, signal.SIGTTOU)
        elif front and app is not None and self._modes is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(app.input.fileno(), termios.TCSANOW, self._modes)
        return bool(front)

    def continued(self) -> None:
        """After a stop from outside and ``fg`` (prompt thread): the chat drawn anew, and the
        prompt's modes kept for ``SETTLE`` s, as after Ctrl-Z."""
        app = self._app
        if self._stopping or app is None or not app.is_running:
            return
        self._draw_anew(app)
        self._until = time.monotonic() + SETTLE
        app.create_background_task(self._settle(app))

    def keys(self) -> KeyBindings:
        keys = KeyBindings()

        @keys.add("c-z", filter=Condition(lambda: hasattr(signal, "SIGTSTP")))
        async def _suspend(event: KeyPressEvent) -> None:
            self._modes = termios.tcgetattr(event.app.input.fileno())
            self._stopping = True
            try:
                await run_in_terminal(functools.partial(stop_this_job, self._token))
            finally:
                self._stopping = False
            self._draw_anew(event.app)  # the chat again, in place of the shell's lines
            self._until = time.monotonic() + SETTLE
            await self._settle(event.app)

        return keys

    def resume(self) -> None:
        """A new prompt run: it goes on checking, if a resume was less than ``SETTLE`` ago."""
        if time.monotonic() < self._until:
            app = get_app()
            app.create_background_task(self._settle(app))

    async def _settle(self, app: Application[Any]) -> None:
        fd = app.input.fileno()
        while time.monotonic() < self._until:
            with contextlib.suppress(termios.error):
                if self._modes is not None and termios.tcgetattr(fd) != self._modes:
                    termios.tcsetattr(fd, termios.TCSANOW, self._modes)
                    await run_in_terminal(_nothing)  # erased and drawn again where it was
            await asyncio.sleep(SETTLE_CHECK)


class Echo:
    """The terminal echoes nothing itself while the prompt is in use: between two runs of the
    prompt (a line sent, the next not drawn yet) it would echo what is typed, and a user's
    fast typing left a stray copy of a line on the screen. Each run sets its own modes and
    goes back to these. Turned off again before each run: a Ctrl-Z the terminal itself took
    between two runs gave the shell's modes back on ``fg``."""

    def __init__(self, stream: Any) -> None:
        self._fd: int | None = None
        self._modes: list[Any] | None = None
        try:
            self._fd = stream.fileno()
            self._modes = termios.tcgetattr(self._fd)
        except (AttributeError, OSError, ValueError, termios.error):  # no terminal: no echo
            self._fd = None

    def off(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(termios.error):  # the terminal is gone: the prompt says so
            modes = termios.tcgetattr(self._fd)
            if modes[3] & termios.ECHO:
                modes[3] &= ~termios.ECHO
                termios.tcsetattr(self._fd, termios.TCSANOW, modes)

    def restore(self) -> None:
        """The terminal's own modes, as the program found them; not from behind the shell,
        which a change would stop (review 61: ``peerchat &`` that failed at once stopped as it
        ended), and whose own modes the shell set when it took the terminal back."""
        if self._fd is not None and self._modes is not None and in_front(self._fd) is not False:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._fd, termios.TCSANOW, self._modes)


def stop_this_job(token: trio.lowlevel.TrioToken) -> None:
    """Stop the job, as the terminal's Ctrl-Z does (its whole process group), and return once
    it goes on. The kernel hands the signal to the main thread, trio's: sent from this thread,
    this one ran on until that one stopped, and set the prompt's modes before the stop; a stop
    that came late outlasted ``SETTLE``, and after ``fg`` the shell's line mode stayed (a user
    trial). Sent from trio's thread, that thread stops as it returns, and this one waits."""
    with contextlib.suppress(trio.RunFinishedError):  # the program is ending: no stop
        trio.from_thread.run_sync(os.kill, 0, signal.SIGTSTP, trio_token=token)


def _in_front(app: Application[Any]) -> bool | None:
    """Whether this program is the terminal's foreground job; None without a terminal."""
    return in_front(app.input.fileno())


def _nothing() -> None:
    pass


@_KEYS.add("tab")
def _complete(event: KeyPressEvent) -> None:
    """Tab puts the first completion in at once, and each Tab after it the next, as irssi's and
    weechat's do (with only the common part put in, "/part " Tab Enter parted the room in
    front, not the one in the menu: a user trial); a second Tab after the one completion there
    was keeps it (it went back to the text typed: "hey Carol2" became "hey ca" again)."""
    buffer = event.current_buffer
    state = buffer.complete_state
    if state is None:
        buffer.start_completion(select_first=True)
    elif len(state.completions) == 1 and state.complete_index == 0:
        buffer.complete_state = None  # taken: what comes next is typed after it
    elif state.complete_index == len(state.completions) - 1:
        buffer.go_to_completion(0)  # round to the first, never back to the bare text (a trial)
    else:
        buffer.complete_next()


@_KEYS.add(Keys.Any, filter=vi_insert_mode | emacs_insert_mode, save_before=if_no_repeat)
def _typed(event: KeyPressEvent) -> None:
    """What is typed goes into the line; a key the prompt has no use for, which comes as an
    escape sequence (Shift-PageUp, F5), does not: prompt_toolkit's own put "^[[5;2~" there, and
    a user trial's Enter sent it to the room."""
    if not event.data.startswith("\x1b"):
        _SELF_INSERT.call(event)


_SELF_INSERT = get_by_name("self-insert")


@_KEYS.add("escape", "/", filter=vi_insert_mode | emacs_insert_mode)
def _slash_after_escape(event: KeyPressEvent) -> None:
    """Esc and then "/" begin a command, as "/" alone does: as Emacs's Alt-/ (completion) the
    "/" was taken, and trial 64's Esc and "/msg carol the pin is 4711" within a second sent
    "msg carol the pin is 4711" to the room. Tab completes."""
    event.current_buffer.insert_text("/")


# An Esc is a key of its own once this long has passed with nothing after it, as in Vim's
# ttimeoutlen: a terminal sends Alt-2 (Esc and "2") in one write, and a person who pressed Esc
# and typed on within a second had the next key taken with it (trial 64), as Alt and the key.
ESCAPE_ALONE_AFTER = 0.05  # seconds (prompt_toolkit waits 0.5, and then 1 for a chord)


@_KEYS.add("c-u")
def _discard_line(event: KeyPressEvent) -> None:
    """Ctrl-U takes back the whole input, as irssi's does, every row and what is after the
    cursor too: a line kept while joining has a row after it, and Ctrl-U only took the line
    break back (a user's next line was glued to the kept one and sent); with the cursor moved
    back, what was after it was glued to the next line ("are you there?bc")."""
    buffer = event.app.current_buffer
    event.app.clipboard.set_text(buffer.text)  # for Ctrl-Y, as before
    buffer.text = ""


@_KEYS.add(Keys.Vt100MouseEvent)
def _not_a_mouse(event: KeyPressEvent) -> None:
    """The prompt asks the terminal for no mouse reports, so what reads as one is an escape
    code typed or pasted outside a bracketed paste ("ESC[31m"): dropped. prompt_toolkit's own
    handler raised on it, and the screen showed a traceback and "Press ENTER to continue"."""


_ROOM_COMMANDS = ("/room", "/part", "/window", "/win", "/buffer")  # a room one is in first
_OFFER_COMMANDS = ("/get", "/cancel")  # whose first word is an offer's number, the program's


class RoomCompleter(Completer):
    """Tab: command names after a "/", room names after ``/room`` and ``/part`` (one is in)
    and ``/join`` (the last ``/list`` found), offer numbers (shown with their files) after
    ``/get`` (others') and ``/cancel`` (one's own, and fetches under way), member names
    elsewhere, each followed by a space, or by ": " for a name that opens the line, as in
    irssi (prompt thread). (A trial's "/join " Tab put in a member's name, and "/cancel " Tab
    offered others' files it was not fetching.)"""

    def __init__(self, screen: Screen) -> None:
        self._screen = screen

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        if word == before and word.startswith("/"):
            choices: Iterable[str] = commands.COMMANDS
        elif (first := before.lower().split(" ")[0]) in _ROOM_COMMANDS and before.count(" ") == 1:
            # /part: the room in front first, as irssi's offers its channel ("/part " Tab put
            # in another room in a user trial); /room: the others first. "": no name.
            current = self._screen.current
            rest = [name for name in self._screen.rooms if name and name != current]
            here = [current] if current else []
            choices = here + rest if first == "/part" else rest + here
        elif first == "/join" and before.count(" ") == 1:
            choices = [name for name in self._screen.found if name not in self._screen.rooms]
        elif first in _OFFER_COMMANDS and before.count(" ") == 1:
            # (A user's "/get <Tab>" offered member names.)
            rooms = self._screen.rooms.values()
            offers = {
                id: name
                for room in rooms
                for id, name in room.offers.items()
                if (id in room.mine or id in room.fetching) == (first == "/cancel")
            }
            for id in sorted(offers):  # "3" too, beside "30": a number is whole as typed
                if str(id).startswith(word):
                    yield Completion(f"{id} ", -len(word), display=f"{id} {visible(offers[id])}")
            return
        elif first == "/send" and before.count(" ") >= 1:
            # The files there, as a shell's Tab (trial 58 missed irssi's /dcc send's), after
            # a member's name or in its place; a path may hold spaces (trial 59's "my docs/").
            names = sorted(m.username for m in self._screen.front.people())
            path = before.split(" ", 1)[1].lstrip(" ")
            if before.count(" ") == 1 and not word.startswith(("/", ".", "~")):
                yield from _names(names, word, addressing=False)
            elif (to := path.split(" ", 1)[0]).casefold() in {n.casefold() for n in names}:
                path = path[len(to) + 1 :]  # (/send bob PATH)
            yield from _files_begun(path)
            return
        elif not word and before.strip() and not before.startswith("/"):
            return  # nothing begun in the text: a second Tab after a name typed it again
        else:
            choices = sorted(m.username for m in self._screen.front.people())
        addressing = word == before and not word.startswith("/")  # a name opening the line
        yield from _names(choices, word, addressing=addressing)


def _files_begun(typed: str, most: int = MOST_FILES) -> Iterator[Completion]:
    """The files and directories whose path ``typed`` begins (``~`` is home), a directory's
    with a "/" to go on into it: the first ``most`` found, in order, so that a directory of
    100,000 files does not hold up the screen (review 60: 1.4 s, the chat stopped meanwhile)."""
    folder, begun = os.path.split(os.path.expanduser(typed))
    try:
        with os.scandir(folder or ".") as entries:
            found = list(itertools.islice((e for e in entries if e.name.startswith(begun)), most))
            dirs = {e.name for e in found if e.is_dir()}
    except OSError:
        return
    for name in sorted(e.name for e in found):
        slash = "/" if name in dirs else ""
        yield Completion(name[len(begun) :] + slash, 0, display=visible(name) + slash)


def _names(choices: Iterable[str], word: str, *, addressing: bool) -> Iterator[Completion]:
    """Those of ``choices`` that ``word`` begins, in any case, each to follow with a space (or
    ": ", ``addressing`` someone at the start of a line)."""
    folded = word.casefold()
    for choice in choices:
        if choice.casefold().startswith(folded) and choice != word:
            text = f"{choice}: " if addressing else f"{choice} "
            yield Completion(text, start_position=-len(word), display=visible(choice))
