"""The line interface: a prompt_toolkit input line at the bottom, node events printed above it.

Two event loops meet here, and each piece of state belongs to one of them:

- The node lives in trio. It calls `PromptUI.show` for every event and `PromptUI.stop` when it
  has finished on its own (SIGTERM). `drive` is awaited in trio too.
- The prompt lives in ONE worker thread (`trio.to_thread.run_sync`) that runs its own asyncio
  loop with a `PromptSession.prompt_async()` loop. No other thread is started: no `patch_stdout`.

Crossing over:

- trio -> prompt: `show` formats the event (pure functions below) and hands the text to the asyncio
  loop with `call_soon_threadsafe`; a printer task there prints it with `run_in_terminal`, which
  hides the prompt, prints, and redraws the prompt with the half-typed text intact. Events that
  come before the loop exists are buffered; events after it ended are printed straight away.
- prompt -> trio: each typed line is parsed with `commands.parse_line`; messages and /who go to
  the node through `trio.from_thread.run_sync`. Quitting ends the thread, and `drive` calls
  `node.quit()` back in trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio
from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.formatted_text import FormattedText

from peerchat import commands
from peerchat.events import (
    Error,
    Event,
    MessageReceived,
    PeerJoined,
    PeerLeft,
    Ready,
    TrackerChanged,
    Who,
)
from peerchat.membership import Member

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
NOTICE_STYLE = "ansibrightblack"
ERROR_STYLE = "ansired bold"
TOOLBAR_STYLE = "reverse"


def clock(now: float) -> str:
    """Local wall-clock time as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(now))


def name_style(username: str) -> str:
    """The colour of one sender, the same in every process and every run (unlike `hash`)."""
    return PALETTE[zlib.crc32(username.encode("utf-8", "replace")) % len(PALETTE)] + " bold"


def clean(text: str) -> str:
    """Make remote text safe to print: control characters (escape sequences, carriage returns,
    bells) would let a peer redraw our screen, so each becomes U+FFFD; a tab becomes a space."""
    return "".join(
        " " if ch == "\t" else "\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text
    )


def _line(now: float, *parts: tuple[str, str]) -> list[tuple[str, str]]:
    return [(TIME_STYLE, clock(now)), ("", " "), *parts]


def _join_lines(lines: Iterable[list[tuple[str, str]]]) -> FormattedText:
    out: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        if i:
            out.append(("", "\n"))
        out.extend(line)
    return FormattedText(out)


def _name(member: Member) -> tuple[str, str]:
    return (name_style(member.username), clean(member.username))


def format_notice(text: str, now: float, style: str = NOTICE_STYLE) -> FormattedText:
    """Local text (help, hints), each line stamped with the time."""
    return _join_lines(_line(now, (style, line)) for line in text.splitlines() or [""])


def format_message(event: MessageReceived, now: float) -> FormattedText:
    sender = event.sender
    return _join_lines([_line(now, ("", "<"), _name(sender), ("", "> "), ("", clean(event.text)))])


def format_who(event: Who, now: float) -> FormattedText:
    count = len(event.members)
    head = _line(now, (NOTICE_STYLE, f"* {count} {'member' if count == 1 else 'members'}:"))
    rows = []
    for m in sorted(event.members, key=lambda m: m.username):
        marks = ""
        if m.node_id == event.tracker_id:
            marks += " (tracker)"
        if m.node_id == event.me_id:
            marks += " (you)"
        if not m.chat:
            marks += " (not chatting)"
        rows.append(
            _line(now, ("", "    "), _name(m), (NOTICE_STYLE, f" {m.addr}"), ("bold", marks))
        )
    return _join_lines([head, *rows])


def format_event(event: Event, now: float) -> FormattedText:
    """How one node event reads on screen, `now` being the local time it is shown."""
    match event:
        case MessageReceived():
            return format_message(event, now)
        case Ready(me=me, role=role):
            return _join_lines(
                [
                    _line(
                        now,
                        (NOTICE_STYLE, "* you are "),
                        _name(me),
                        (NOTICE_STYLE, f" at {me.addr} ({role})"),
                    ),
                    _line(now, (NOTICE_STYLE, "* type /help for commands")),
                ]
            )
        case TrackerChanged(tracker=t):
            return _join_lines(
                [
                    _line(
                        now,
                        (NOTICE_STYLE, "* tracker is now "),
                        _name(t),
                        (NOTICE_STYLE, f" ({t.addr})"),
                    )
                ]
            )
        case PeerJoined(member=m):
            return _join_lines(
                [_line(now, (NOTICE_STYLE, "* "), _name(m), (NOTICE_STYLE, f" joined ({m.addr})"))]
            )
        case PeerLeft(member=m, reason=reason):
            return _join_lines(
                [
                    _line(
                        now,
                        (NOTICE_STYLE, "* "),
                        _name(m),
                        (NOTICE_STYLE, f" left ({clean(reason)})"),
                    )
                ]
            )
        case Who():
            return format_who(event, now)
        case Error(message=message):
            return format_notice(f"! {clean(message)}", now, ERROR_STYLE)
    raise TypeError(f"not a node event: {event!r}")


def unknown_hint(name: str) -> str:
    return f"unknown command {clean(name)}, try /help"


# ---------------------------------------------------------------------------------------------
# The bottom toolbar: who I am, how many are here, who tracks. Updated in the prompt's thread.


@dataclass
class Room:
    me: Member | None = None
    tracker: str | None = None
    others: dict[str, str] = field(default_factory=dict)  # node id -> username

    def apply(self, event: Event) -> None:
        match event:
            case Ready(me=me, role=role):
                self.me = me
                if role == "tracker":
                    self.tracker = me.username
            case TrackerChanged(tracker=t):
                self.tracker = t.username
            case PeerJoined(member=m):
                self.others[m.node_id] = m.username
            case PeerLeft(member=m):
                self.others.pop(m.node_id, None)
            case Who(members=members, tracker_id=tracker_id):
                me_id = self.me.node_id if self.me else None
                self.others = {m.node_id: m.username for m in members if m.node_id != me_id}
                for m in members:
                    if m.node_id == tracker_id:
                        self.tracker = m.username


def toolbar_text(room: Room) -> FormattedText:
    if room.me is None:
        return FormattedText([(TOOLBAR_STYLE, " joining the room... ")])
    count = len(room.others) + 1
    tracker = clean(room.tracker) if room.tracker else "unknown"
    return FormattedText(
        [
            (TOOLBAR_STYLE, f" {clean(room.me.username)} | {count} in the room"),
            (TOOLBAR_STYLE, f" | tracker {tracker} | /help "),
        ]
    )


# ---------------------------------------------------------------------------------------------
# The front end.


class Node(Protocol):
    def say(self, text: str) -> None: ...
    async def wait_sendable(self) -> None: ...
    def who(self) -> None: ...
    def quit(self) -> None: ...


# What travels to the printer: the event (for the toolbar; None for local text) and its text.
_Item = tuple[Event | None, FormattedText]


class PromptUI:
    """Front end for a person at a terminal. See the module docstring for the threading rules."""

    def __init__(self, message: str = "> ") -> None:
        self._message = message
        self._lock = threading.Lock()  # guards the hand-over state below, touched by both threads
        self._pending: list[_Item] = []  # shown before the prompt loop existed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stopped = False  # stop() was called
        self._finished = False  # the prompt loop has ended
        self._room = Room()  # prompt thread only

    # -- called in the trio thread -------------------------------------------------------------

    def show(self, event: Event) -> None:
        item: _Item = (event, format_event(event, time.time()))
        with self._lock:
            if self._loop is not None and self._queue is not None:
                try:
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
                    return
                except RuntimeError:  # the loop closed under us: print it plainly below
                    pass
            elif not self._finished:
                self._pending.append(item)
                return
        print_formatted_text(item[1])

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._loop is not None:
                # RuntimeError: the loop already closed, so there is nothing left to stop.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._cancel_prompt)

    async def drive(self, node: Node) -> None:
        token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            # If drive() itself is cancelled, the thread cannot be: stop the prompt so it ends.
            nursery.start_soon(self._stop_on_exit)
            user_quit = await trio.to_thread.run_sync(self._run_prompt, token, node)
            nursery.cancel_scope.cancel()
        if user_quit:
            node.quit()

    async def _stop_on_exit(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.stop()

    # -- the prompt's worker thread ------------------------------------------------------------

    def _run_prompt(self, token: trio.lowlevel.TrioToken, node: Node) -> bool:
        """Thread body; True when the user asked to quit, False when stopped from outside."""
        return asyncio.run(self._prompt_main(token, node))

    async def _prompt_main(self, token: trio.lowlevel.TrioToken, node: Node) -> bool:
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        with self._lock:
            stopped = self._stopped
            if stopped:
                self._finished = True
                pending, self._pending = self._pending, []
            else:
                self._loop = asyncio.get_running_loop()
                self._queue = queue
                self._task = asyncio.current_task()
                for item in self._pending:
                    queue.put_nowait(item)
                self._pending = []
        if stopped:
            _print_items(pending)
            return False
        printer = asyncio.create_task(self._print_forever(queue))
        try:
            return await self._read_lines(token, node, queue)
        except asyncio.CancelledError:  # stop(): the node is gone, leave quietly
            return False
        finally:
            with self._lock:
                self._loop = None
                self._queue = None
                self._finished = True
            printer.cancel()
            # Let hand-overs already scheduled by show() land in the queue, then print them.
            await asyncio.sleep(0)
            await asyncio.gather(printer, return_exceptions=True)
            leftovers = []
            while not queue.empty():
                leftovers.append(queue.get_nowait())
            _print_items(leftovers)

    def _cancel_prompt(self) -> None:
        # Not once the prompt is winding down on its own (self._loop is cleared first thing).
        if self._loop is not None and self._task is not None and not self._task.done():
            self._task.cancel()

    async def _read_lines(
        self, token: trio.lowlevel.TrioToken, node: Node, queue: asyncio.Queue[_Item]
    ) -> bool:
        session: PromptSession[str] = PromptSession(
            self._message,
            erase_when_done=True,  # the line comes back as our own message, formatted
            enable_suspend=True,  # Ctrl-Z suspends as in any terminal program; see _watch_stall
            bottom_toolbar=lambda: toolbar_text(self._room),
        )
        while True:
            try:
                line = await session.prompt_async()
            except (EOFError, KeyboardInterrupt):
                return True
            match commands.parse_line(line):
                case commands.Say(text=text):
                    # A pasted block arrives as one line with newlines: one message per line.
                    lines = [part for part in text.splitlines() if part.strip()]
                    try:
                        trio.from_thread.run(_say_each, node, lines, trio_token=token)
                    except trio.RunFinishedError:
                        return False
                    continue
                case commands.Who():
                    action: Callable[[], None] = node.who
                case commands.Help():
                    queue.put_nowait((None, format_notice(commands.HELP_TEXT, time.time())))
                    continue
                case commands.Unknown(name=name):
                    queue.put_nowait((None, format_notice(unknown_hint(name), time.time())))
                    continue
                case commands.Quit():
                    return True
                case _:
                    continue
            try:
                trio.from_thread.run_sync(action, trio_token=token)
            except trio.RunFinishedError:
                return False

    async def _print_forever(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            for event, _ in batch:
                if event is not None:
                    self._room.apply(event)
            await run_in_terminal(lambda batch=batch: _print_items(batch))


async def _say_each(node: Node, lines: list[str]) -> None:
    for line in lines:
        node.say(line)
        await node.wait_sendable()  # a long paste must not overrun the peers' queues


def _print_items(items: list[_Item]) -> None:
    for _, text in items:
        print_formatted_text(text)
