"""What Enter does with what the input line holds: a line to carry out now, or one held in the
input with a question or a reason, as the line interface's habits have it.

- A pasted block goes line by line, and its commands are commands (a user trial's pasted
  "/msg dave the password is hunter2" went to the room as text). A block with commands, or of
  more than ``PASTE_ASKED`` lines, is asked about first: a second Enter sends it.
- Lines typed while a ``/join`` connects are kept in the input, each as typed, and go once the
  room is in (a trial's kept "/msg alice ..." went to the room as text).
- Lines kept for a room that is behind now are not sent to the one in front unasked.

No terminal here: the prompt feeds each line in (``take``) and shows what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peerchat import commands
from peerchat.safe_text import visible

PASTE_ASKED = 5  # lines a paste may have before its Enter is asked for twice (irssi's count)
SHOWN_CHARS = 24  # of a line a question names

# What may be typed while the room in front is not joined yet: the rest is kept for it. A
# blank line keeps nothing, and forgets a kept line cleared with Ctrl-C (trial 56: kept as
# "", it began every line typed after the join failed, each then asked about as "typed for").
_LOCAL = (
    commands.Nothing
    | commands.Quit
    | commands.Help
    | commands.ListRooms
    | commands.GoToRoom
    | commands.PartRoom
    | commands.Clear
    | commands.FindRooms
    | commands.JoinRoom
)


@dataclass(frozen=True, slots=True)
class Held:
    """The line stays in the input, and ``notice`` says why: Enter again decides."""

    notice: str
    asked: int = 0  # the lines of a paste asked about, for the status bar (0: none)


@dataclass(frozen=True, slots=True)
class Take:
    """Carry ``command`` out."""

    command: commands.Command


def pasted(count: int, said: commands.Command | None = None) -> str:
    """What Enter and Ctrl-C do to a pasted block of ``count`` lines, ``said`` so: where they
    go when not to the room (a trial's private block read as any other)."""
    match said:
        case commands.Private(to=to):
            where = f" in private to {visible(to)}"
        case commands.Say(action=True):
            where = " as actions"
        case _:
            where = ""
    return f"{count} lines{where}: Enter sends them all, Ctrl-C drops them"


def _in(asked: str, room: str, several: bool) -> str:
    """A paste's question, naming the room it goes to when there are several (a trial's
    "200 lines: Enter sends them all" did not say where)."""
    return f"{asked} (in {visible(room)})" if several else asked


def block_said(pieces: list[str], count: int) -> str:
    """What Enter does to a pasted block of ``count`` lines with commands (its ``pieces``):
    where each line goes. (A trial's "4 lines, 1 of them commands" did not say that the lines
    after a /msg went privately with it.) Where some go in private, the first of those to the
    room and of the actions is named: a review's pasted password went to the room, and the
    question had said "1 to the room"."""
    said: dict[str, list[str]] = {"room": [], "actions": []}  # lines said, by where they go
    private = ran = 0
    whom: list[str] = []
    unknown: list[str] = []  # lines that begin with "/" and name no command: not sent
    for piece in pieces:
        match commands.parse_line(piece):
            case commands.Say(action=action, text=text):
                said["actions" if action else "room"] += commands.said_lines(text)
            case commands.Private(to=to, text=text):
                private += len(commands.said_lines(text))  # ("/msg bob" may stand alone)
                whom += [] if to in whom else [to]
            case commands.Unknown():
                unknown.append(piece)
            case _:
                ran += 1
    parts = []
    # ("as actions" alone read as private too under a /msg block: trial 54)
    acts = said["actions"]
    actions = f"as {'an action' if len(acts) == 1 else 'actions'} to the room"
    for where, lines in (("to the room", said["room"]), (actions, acts)):
        if lines:
            parts.append(f"{len(lines)} {where}" + (_first_of(lines) if private else ""))
    if private:
        parts.append(f"{private} in private to {', '.join(map(visible, whom))}")
    if ran:
        parts.append(f"{ran} {'command' if ran == 1 else 'commands'}")
    if unknown:  # (trial 53 read "1 command" of a path, then "unknown command")
        named = _first_of(unknown)[:-1]  # (its ")" after the hint)
        what = "not a command" if len(unknown) == 1 else "not commands"
        parts.append(f"{len(unknown)} {what}, not sent{named}; // sends it as a line)")
    return f"{count} lines, {', '.join(parts)}: Enter sends them, Ctrl-C drops them"


def _first_of(lines: list[str]) -> str:
    """``lines`` named by the first: ' ("the first line said to t…", …)'."""
    first = lines[0] if len(lines[0]) <= SHOWN_CHARS else lines[0][:SHOWN_CHARS] + "…"
    return f' ("{visible(first)}"{", …" if len(lines) > 1 else ""})'


@dataclass
class TypedLines:
    """The state between one Enter and the next."""

    kept: str = field(default="", init=False)  # what the input begins with next: not lost
    _kept_for: tuple[str, str] | None = field(default=None, init=False)  # kept during a join,
    # and the room they were for
    _kept_lines: list[str] = field(default_factory=list, init=False)  # those, each as typed
    _asked: str = field(default="", init=False)  # a paste whose Enter was asked for again
    _asked_to: tuple[str, str] | None = field(default=None, init=False)  # a kept line asked
    # about, and the room named
    _after: list[str] = field(default_factory=list, init=False)  # lines taken next
    _cleared: set[str] = field(default_factory=set, init=False)  # pieces asked about already
    _held: str = field(default="", init=False)  # what the input keeps while ``_after`` goes

    def next_line(self) -> str | None:
        """A line to take before the prompt is asked for one: the next piece of a block, or
        of the lines kept; None when it is the prompt's turn."""
        if self._after:
            self._held = self.kept  # (a kept line asked about waits in the input)
            return self._after.pop(0)
        self._cleared, self._held = set(), ""
        return None

    def edited(self) -> None:
        """The input changed (a paste again too, after Ctrl-C cleared it): asked anew."""
        self._asked = ""

    def take(
        self, line: str, *, joined: bool, room: str, several: bool, back: bool = False
    ) -> Held | Take:
        """What Enter on ``line`` does, with ``room`` in front (``joined`` or not yet, or not
        ``back`` yet from a freeze: its lines kept, its commands let through), in one of
        ``several`` rooms or the only one."""
        self.kept = self._held
        kept_for, kept_lines = self._kept_for, self._kept_lines
        typed = None if kept_for is None else _as_typed(line, kept_for[0], kept_lines)
        if joined and kept_for is not None and typed is not None:
            # The kept lines and what was typed below them are lines of their own, as they
            # were typed; lines kept for a room behind now are asked about first, together.
            if kept_for[1] == room:
                line, self._after = typed[0], typed[1:] + self._after
            else:
                line, self._after = kept_for[0], typed[len(kept_lines) :] + self._after
        here = kept_for is None or kept_for[1] == room  # (else asked first)
        pieces = commands_apart(line) if joined and here else None
        if pieces is not None:
            count = len(commands.said_lines(line))
            if line != self._asked:  # always: a pasted /quit or /nick is no line to run unasked
                self._asked = self.kept = line
                return Held(_in(block_said(pieces, count), room, several), count)
            self._cleared = set(pieces)
            line, self._after = pieces[0], pieces[1:] + self._after
        command = commands.parse_line(line)
        if isinstance(command, commands.Unknown) and line in self._cleared:
            return Take(commands.Nothing())  # (the question said it is not sent: trial 55 read
            # "unknown command" after it as a contradiction)
        # Back from a freeze, commands but lines go (a rejoin refused for a name taken says to
        # /nick: review 57); lines are kept, a /msg too (review 58: refused, as nobody is in)
        goes = back and not isinstance(command, commands.Say | commands.Private)
        if not joined and not isinstance(command, _LOCAL) and not goes:
            return self._keep(line, room, several, back=back)
        # A line kept for a room given up, or behind now, is not sent to the one in front
        # unasked (a user's line for a room that could not be joined went to the room left in
        # front). One typed anew after Ctrl-C or Ctrl-U does not begin with it.
        stray = kept_for is not None and line.startswith(kept_for[0]) and kept_for[1] != room
        if stray and kept_for is not None and self._asked_to != (line, room):
            self._asked_to, self.kept = (line, room), line
            where, to = visible(kept_for[1]), visible(room)
            return Held(f"typed for {where}: Enter sends it to {to}, Ctrl-C clears it")
        if stray and kept_for is not None and line == kept_for[0]:  # sent: each as typed
            pieces = commands_apart(kept_lines[0]) or kept_lines[:1]
            line, self._after = pieces[0], pieces[1:] + kept_lines[1:] + self._after
            command = commands.parse_line(line)
        self._kept_for = self._asked_to = None
        self._kept_lines = []
        if isinstance(command, commands.Say | commands.Private):
            # A pasted block arrives as one line with newlines: one message per line (a
            # /msg takes the lines after it: a review's 1,000 went unasked).
            lines = commands.said_lines(command.text)
            # A private block is asked about however short (trial 51: a block with a command
            # in it goes only on a second Enter, as the README says)
            many = len(lines) > (1 if isinstance(command, commands.Private) else PASTE_ASKED)
            if many and line != self._asked and line not in self._cleared:
                self._asked = self.kept = line  # (a user's 200 went at once)
                return Held(_in(pasted(len(lines), command), room, several), len(lines))
            self._asked = ""
        return Take(command)

    def _keep(self, line: str, room: str, several: bool, *, back: bool) -> Held:
        """A line typed before the room is in: kept, with a line break after it, so what is
        typed next goes below, not glued to it ("first in qasecond in qa", sent as one
        message in a user trial)."""
        block = line.rstrip("\n")
        self.kept = block + "\n"
        kept_for, kept_lines = self._kept_for, self._kept_lines
        below = None if kept_for is None else _as_typed(block, kept_for[0], kept_lines)
        self._kept_lines = kept_lines + below[len(kept_lines) :] if below else [block]
        self._kept_for = (block, room)
        give_up = "give up the join" if several else "quit"  # ("it": the line or the join?)
        if back:  # (trial 54 read "Ctrl-C twice to quit" as the way on)
            return Held("not back in the room yet: the line is kept for Enter once back")
        return Held(f"not in the room yet: the line is kept (Ctrl-C twice to {give_up})")


def _as_typed(line: str, block: str, kept: list[str]) -> list[str] | None:
    """``line`` as typed, when it begins with ``block``, the lines kept while a join connected
    (``kept``, each typed on its own): those lines, then what was typed below them, if
    anything; None when it does not (the lines were edited: one line now)."""
    if line != block and not line.startswith(block + "\n"):
        return None
    below = line[len(block) + 1 :]
    return [*kept, below] if below else list(kept)


def commands_apart(block: str) -> list[str] | None:
    """A block of lines (pasted) in pieces: each command line with the lines after it that it
    takes (a /msg takes them, as it did the whole block: a review's pasted "/msg dave the
    config:" then "password=..." must stay private), and the lines said apart, in order; None
    when it is one piece."""
    rows = block.split("\n")
    if len(rows) < 2 or not any(commands.is_command(row) for row in rows):
        return None
    pieces: list[list[str]] = []
    takes_text = False  # whether the last piece takes the lines said after it
    private = False  # and whether it is a /msg
    lone = False  # with no text yet ("/msg bob" on its own line, blank lines under it)
    for row in rows:
        said = commands.parse_line(row) if commands.is_command(row) else None
        if takes_text and _text_in(said, private, lone):
            pieces[-1].append(row)
            lone = lone and not row.strip()
        elif said is not None:
            pieces.append([row])
            alone = commands.parse_line(f"{row}\n.")  # as if lines came under it: a "/msg bob"
            lone = not isinstance(said, commands.Private) and isinstance(alone, commands.Private)
            # Only a /msg takes the lines under it: a /me is its own line, those under it said
            # as lines (trial 53's came out as actions, "* bob last line"), as in irssi.
            private = takes_text = lone or isinstance(said, commands.Private)
        else:
            pieces.append([row])
            takes_text, private, lone = True, False, False
    out = ["\n".join(piece) for piece in pieces if any(row.strip() for row in piece)]
    return out if len(out) > 1 else None  # (one piece: a command and the lines it takes)


def _text_in(said: commands.Command | None, private: bool, lone: bool) -> bool:
    """Whether a row of a block (``said``: its command, if it begins with "/") is text of the
    piece above it: a row with no command; in a ``private`` piece (/msg) one with no known
    command (a path: "/etc/app.conf"), and a /me right under a ``lone`` "/msg bob", which would
    send nothing else. Attack round 36's pasted /msg blocks sent what came after such a row to
    the room: a password under a path, a secret under a /me. (In the room's lines an unknown
    command stays one, and the block is asked about: review 54's "/mgs bob hunter2" went to
    the room unasked.)"""
    if said is None:
        return True
    if isinstance(said, commands.Unknown):
        return private
    return lone and isinstance(said, commands.Say) and said.action
