"""What a typed line means: a message to send, or a slash command. Shared by both front ends."""

from __future__ import annotations

from dataclasses import dataclass

HELP_TEXT = """\
Type a line and press Enter to send it to everyone in the room.
  /who        list the members; the tracker is marked
  /history [N]  show the last N messages from this node's store (default 50)
  /help       show this help
  /quit, /q   leave the room (Ctrl-D and Ctrl-C do the same)"""


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Who:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class ShowHistory:
    count: int = 50


MAX_HISTORY_SHOWN = 10_000


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    name: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """A blank line: sends nothing."""


Command = Say | Who | Help | ShowHistory | Quit | Unknown | Nothing

_SLASH = {"/who": Who(), "/help": Help(), "/quit": Quit(), "/q": Quit()}


def parse_line(line: str) -> Command:
    text = line.rstrip("\r\n")
    if not text.strip():
        return Nothing()
    if text.startswith("/"):
        name, *rest = text.split()
        name = name.lower()
        if name == "/history":
            if not rest:
                return ShowHistory()
            if len(rest) == 1 and rest[0].isascii() and rest[0].isdigit():
                return ShowHistory(max(1, min(int(rest[0]), MAX_HISTORY_SHOWN)))
            return Unknown(text[:40])
        return _SLASH.get(name, Unknown(name))
    return Say(text)
