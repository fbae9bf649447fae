"""What a typed line means: a message to send, or a slash command. Shared by both front ends."""

from __future__ import annotations

from dataclasses import dataclass

HELP_TEXT = """\
Type a line and press Enter to send it to everyone in the room.
  /who        list the members; the tracker is marked
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
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    name: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """A blank line: sends nothing."""


Command = Say | Who | Help | Quit | Unknown | Nothing

_SLASH = {"/who": Who(), "/help": Help(), "/quit": Quit(), "/q": Quit()}


def parse_line(line: str) -> Command:
    text = line.rstrip("\r\n")
    if not text.strip():
        return Nothing()
    if text.startswith("/"):
        name = text.split(maxsplit=1)[0].lower()
        return _SLASH.get(name, Unknown(name))
    return Say(text)
