"""What a typed line means: a message to send, or a slash command. Shared by both front ends."""

from __future__ import annotations

from dataclasses import dataclass

HELP_TEXT = """\
Type a line and press Enter to send it to everyone in the room.
  /who        list the members; the tracker is marked
  /history N  show the last N messages kept here (default 20)
  /help       show this help
  /quit, /q   leave the room (Ctrl-D and Ctrl-C do the same)"""


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Who:
    pass


@dataclass(frozen=True, slots=True)
class History:
    count: int


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    name: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """A blank line: sends nothing."""


@dataclass(frozen=True, slots=True)
class Usage:
    """A known command used wrongly: the text says how to use it."""

    text: str


Command = Say | Who | History | Help | Quit | Unknown | Usage | Nothing

HISTORY_DEFAULT = 20
HISTORY_MAX = 1000

_SLASH = {"/who": Who(), "/help": Help(), "/quit": Quit(), "/q": Quit()}


def parse_line(line: str) -> Command:
    text = line.rstrip("\r\n")
    if not text.strip():
        return Nothing()
    if text.startswith("/"):
        name, *args = text.split()
        name = name.lower()
        if name == "/history":
            return _history(args)
        return _SLASH.get(name, Unknown(name))
    return Say(text)


def _history(args: list[str]) -> History | Usage:
    if not args:
        return History(HISTORY_DEFAULT)
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= HISTORY_MAX:
        return History(int(args[0]))
    return Usage(f"usage: /history [N], N from 1 to {HISTORY_MAX}")
