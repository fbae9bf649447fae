"""What a typed line means: a message to send, or a slash command. Shared by both front ends."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from peerchat.addresses import bad_port
from peerchat.membership import NAME_RULE, may_take, room_name, valid_room_name
from peerchat.protocol import MAX_RECENT, tracker_address
from peerchat.safe_text import visible

HELP_COLUMN = 18  # where a command's words begin in its row of the help
HELP_TEXT = """\
Type a line and press Enter to send it to everyone in the room.
  /msg NAME TEXT  a private line to one member only
  /me ACTION      an action: /me waves shows "* alice waves"
  /nick NAME      another name, if nobody here has one like it
  /away [MSG]     away: private lines are answered MSG (/back: back)
  /send PATH      offer a file to the room (/send NAME PATH: to one)
  /get ID|NAME    fetch an offered file (/get alone: the offers)
  /cancel ID      give up a fetch, or withdraw your offer
  /files          the files offered here, and your fetches
  /join ROOM      another room, by name (or /join ROOM HOST:PORT)
  /part [ROOM]    leave a room (+ MESSAGE); the last one: asked, quits
  /room NAME      to the front (/window N or Alt-N, Ctrl-X, Alt-←→)
  /rooms, /list   the rooms you are in; the rooms on this network
  /who, /names    the members, the tracker marked (/who ROOM: of ROOM)
  /whois NAME     a member's address and key, to compare with theirs
  /ignore [NAME]  hide a member's words here (/unignore NAME)
  /history [N]    the last N messages kept here (20)
  /lastlog TEXT   the messages kept here that say TEXT
  /say TEXT       send TEXT as it stands, a "/" first too (or //TEXT)
  /clear          empty the screen (Ctrl-L draws it anew)
  /quit [MSG]     leave (or Ctrl-D, or Ctrl-C on an empty line)
Tab completes names, commands, rooms, offers; /help CMD: one command."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    action: bool = False  # /me: shown as "* alice waves"


@dataclass(frozen=True, slots=True)
class Private:
    """/msg: a message for one member only."""

    to: str
    text: str


@dataclass(frozen=True, slots=True)
class Nick:
    name: str


@dataclass(frozen=True, slots=True)
class Away:
    """IRC's /away MESSAGE: away, in every room, a private line answered with MESSAGE once
    from each member; "" is back (trial 71: "unknown command")."""

    message: str


@dataclass(frozen=True, slots=True)
class SendFile:
    """/send [NAME] PATH: the words as typed (the node tells a name from a path)."""

    words: str


@dataclass(frozen=True, slots=True)
class GetFile:
    """/get ID, or /get NAME: an offer by its number here, or by its file's name (numbers are
    each program's own: trial 71's sender said "/get 1", another file for the others)."""

    id: int | str


@dataclass(frozen=True, slots=True)
class CancelFile:
    """/cancel ID: a fetch given up, or an offer of one's own withdrawn."""

    id: int


@dataclass(frozen=True, slots=True)
class ListFiles:
    """/files: the offers one can fetch or withdraw, and the fetches under way."""


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str
    addr: tuple[str, int] | None  # None: found on the local network


@dataclass(frozen=True, slots=True)
class PartRoom:
    room: str = ""  # "": the room in front
    message: str = ""  # said with the goodbye: "bob left (parted: back after lunch)"
    words: str = field(default="", compare=False)  # all of it as typed, "ROOM" among them
    # irssi's and weechat's "close the window": never the last room, as neither closes its
    # last window (a user trial's /wc in its one room ended the program)
    window: bool = False

    def among(self, joined: Collection[str]) -> PartRoom | None:
        """The room it parts among those ``joined``, irssi's way: with one room open, words
        that do not name it are all the message (``/part see ya``); None for a room one is not
        in, of several (a typo must not part the room in front), and for one word alone that
        is not the one room (a trial's ``/part devv`` in dev, and ``/part ops`` for a room of
        the network not joined, ended the program: the last room parted, it quits)."""
        if not self.room or self.room in joined:
            return self
        if len(joined) != 1 or not self.message:
            return None
        return PartRoom("", self.words)


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class FindRooms:
    """``/list``: the rooms on the local network."""


@dataclass(frozen=True, slots=True)
class GoToRoom:
    room: str


# A command's field that says which room it is for: ``Rooms.room_for`` reads it, the node
# is not given it (``room_action``)
_WHICH_ROOM = {"which room": True}


@dataclass(frozen=True, slots=True)
class Who:
    # "/names ops": another room's members (irssi's /names #channel)
    room: str = dataclasses.field(default="", metadata=_WHICH_ROOM)


@dataclass(frozen=True, slots=True)
class Whois:
    """/whois NAME: one member, with the fingerprint of its key."""

    name: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """/ignore [NAME]: a member's words and offers hidden here; without a name, the list."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class Unignore:
    name: str


@dataclass(frozen=True, slots=True)
class History:
    count: int


@dataclass(frozen=True, slots=True)
class Lastlog:
    """irssi's /lastlog: the kept messages that say ``text`` (or whose sender's name does)."""

    text: str


@dataclass(frozen=True, slots=True)
class Help:
    text: str = HELP_TEXT  # all of it, or the lines of one command (``help_for``)


@dataclass(frozen=True, slots=True)
class Clear:
    """/clear: the line interface's screen emptied (irssi's; headless has none to clear)."""


@dataclass(frozen=True, slots=True)
class Quit:
    message: str = ""  # said with the goodbye, as irssi's /quit MESSAGE


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


Command = (
    Say
    | Private
    | Nick
    | Away
    | SendFile
    | GetFile
    | CancelFile
    | ListFiles
    | JoinRoom
    | PartRoom
    | ListRooms
    | FindRooms
    | GoToRoom
    | Who
    | Whois
    | Ignore
    | Unignore
    | History
    | Lastlog
    | Help
    | Clear
    | Quit
    | Unknown
    | Usage
    | Nothing
)

_NUMBER = re.compile(r"[0-9]{1,18}")
FIND_ROOMS_SECONDS = 1.5  # /list listens to the local network this long
LOOKS_LIKE_COMMAND = 0.75  # likeness of an unknown command to one it is offered as (/mgs)
HISTORY_DEFAULT = 20
LASTLOG_MOST = 100  # messages /lastlog shows, the latest of those that match
MAX_AWAY = 300  # characters of an /away message: one private line answers with it
_AWAY_FLAGS = ("-all", "-one")

Q_ALONE = "/q is irssi's /query: /q NAME TEXT sends a private line; /quit quits"
QUIT_FLAG = "/quit takes no options: /quit alone quits, /quit MESSAGE says MESSAGE as you go"
_FLAG = re.compile(r"--?[A-Za-z][A-Za-z-]*")  # a lone word an option would be
# irssi's own aliases, and weechat's /exit, for the commands PeerChat has (users typed them).
_ALIASES = {
    "/j": "/join",
    "/leave": "/part",
    "/exit": "/quit",
    "/bye": "/quit",
    "/w": "/who",
    "/n": "/names",
    "/m": "/msg",
    "/query": "/msg",
    "/wi": "/whois",
    "/window": "/room",  # irssi's windows and weechat's buffers are rooms here (a user trial)
    "/win": "/room",
    "/buffer": "/room",
    "/c": "/clear",
    "/cl": "/clear",
    "/action": "/me",
}
_WINDOWS = ("/window", "/win", "/buffer")  # "/window close" parts the room in front
_SLASH = {
    "/who": Who(),
    "/names": Who(),
    "/help": Help(),
    "/clear": Clear(),
    "/files": ListFiles(),
    "/list": FindRooms(),
}
COMMANDS = (
    "/away",
    "/back",
    "/cancel",
    "/clear",
    "/files",
    "/get",
    "/help",
    "/history",
    "/ignore",
    "/lastlog",
    "/join",
    "/list",
    "/me",
    "/msg",
    "/names",
    "/nick",
    "/part",
    "/quit",
    "/room",
    "/rooms",
    "/say",
    "/send",
    "/unignore",
    "/who",
    "/whois",
    "/window",
)
"""What tab completes after a "/"."""


class RoomNode(Protocol):
    """What the commands of a room ask of its node (``peerchat.node``)."""

    def private(self, name: str, text: str) -> None: ...
    def nick(self, name: str) -> None: ...
    def send_file(self, words: str) -> None: ...
    def get_file(self, id: int | str) -> None: ...
    def cancel_file(self, id: int) -> None: ...
    def list_files(self) -> None: ...
    def who(self) -> None: ...
    def whois(self, name: str) -> None: ...
    def ignore(self, name: str) -> None: ...
    def unignore(self, name: str) -> None: ...
    def history(self, count: int) -> None: ...
    def lastlog(self, text: str) -> None: ...


# The commands a room's node carries out, and its method for each: it takes the command's
# fields, in order (``RoomNode``).
_ROOM_METHODS = {
    Private: "private",
    Nick: "nick",
    SendFile: "send_file",
    GetFile: "get_file",
    CancelFile: "cancel_file",
    ListFiles: "list_files",
    Who: "who",
    Whois: "whois",
    Ignore: "ignore",
    Unignore: "unignore",
    History: "history",
    Lastlog: "lastlog",
}


def room_action(command: Command) -> Callable[[RoomNode], None] | None:
    """What ``command`` asks of a room's node, for both front ends; None for one that is not
    a room's (a line said, a join, a part, the help)."""
    method = _ROOM_METHODS.get(type(command))
    if method is None:
        return None
    fields = dataclasses.fields(command)  # type: ignore[arg-type]
    args = [getattr(command, f.name) for f in fields if not f.metadata.get("which room")]
    return lambda node: getattr(node, method)(*args)


def said_lines(text: str) -> list[str]:
    """The lines of a typed or pasted block that say something: a message each."""
    return [line for line in text.splitlines() if line.strip()]


def is_command(line: str) -> bool:
    """Whether ``line`` is a command (``//`` begins a line said that begins with "/")."""
    return line.startswith("/") and not line.startswith("//")


def parse_line(line: str) -> Command:
    text = line.rstrip("\r\n")
    if not text.strip():
        return Nothing()
    if text.startswith("//"):
        return Say(text[1:])
    if text.startswith("/"):
        name, _, rest = text.partition(" ")
        name = name.lower()
        if name == "/q":  # irssi's /q is /query (a user trial quit by /q NAME; trial 74 by /q
            # alone, in three rooms)
            if not rest.strip():
                return Usage(Q_ALONE)
            name = "/query"
        if name in _WINDOWS and rest.strip().lower() == "close" or name in ("/wc", "/close"):
            return PartRoom(window=True)  # (irssi's and weechat's)
        if name in _WINDOWS and rest.strip().lower() == "list":  # (a trial's: "/join list?")
            return ListRooms()
        name = _ALIASES.get(name, name)
        if name == "/history":
            return _history(rest.split())
        if name == "/lastlog":
            return Lastlog(rest.strip()) if rest.strip() else Usage("usage: /lastlog TEXT")
        if name == "/say":  # irssi's: a line said as it stands, "/" and all (trial 69)
            return Say(rest) if rest.strip() else Usage("usage: /say TEXT")
        if name == "/me":
            return Say(rest, action=True) if rest.strip() else Usage("usage: /me ACTION")
        if name == "/msg":
            return _private(rest)
        if name == "/nick":
            return _nick(rest)
        if name == "/back":  # (some clients' word for /away alone: trial 72)
            return Away("")
        if name == "/away":  # (irssi's -all and -one: every room is away here)
            message = " ".join(
                w for n, w in enumerate(rest.split()) if n or w.lower() not in _AWAY_FLAGS
            )
            if len(message) > MAX_AWAY:  # (one private line: review 67)
                return Usage(f"usage: /away [MESSAGE], {MAX_AWAY} characters at most")
            return Away(message)
        if name == "/whois":
            args = rest.split()
            return Whois(args[0]) if len(args) == 1 else Usage("usage: /whois NAME")
        if name in ("/ignore", "/unignore"):
            return _ignore(name, rest.split())
        if name == "/join":
            return _join(rest.split())
        if name == "/part":
            room, _, message = rest.strip().partition(" ")
            return PartRoom(room_name(room), message.strip(), rest.strip())
        if name == "/quit":
            if _FLAG.fullmatch(rest.strip()):  # (trial 76: "/quit -f" left, saying "-f")
                return Usage(QUIT_FLAG)
            return Quit(rest.strip())
        if name in ("/room", "/rooms"):  # "/rooms ops" too: a user meant to switch
            # A name, or the address a room without one is shown by, or its number (irssi's
            # "/window goto 2" too)
            room = room_name(rest.strip().removeprefix("goto ").strip())
            return GoToRoom(room) if room else ListRooms()
        if name == "/help" and rest.strip():
            return help_for(rest.strip())
        if name in ("/who", "/names") and rest.strip():
            args = rest.split()
            return Who(room_name(args[0])) if len(args) == 1 else Usage(f"usage: {name} [ROOM]")
        if name == "/list" and rest.strip():  # (a user's "/list dev" listed them all, unsaid)
            return Usage("usage: /list, the rooms on the local network (then /join NAME)")
        if name == "/send":
            return SendFile(rest.strip()) if rest.strip() else Usage("usage: /send [NAME] PATH")
        if name in ("/get", "/cancel"):
            number = rest.strip()
            if not number and name == "/get":  # which? The offers (a user trial)
                return ListFiles()
            if name == "/get" and not _NUMBER.fullmatch(number):
                return GetFile(number)  # a file's name
            if not _NUMBER.fullmatch(number):
                return Usage(f"usage: {name} ID (the number an offer shows; /files lists them)")
            return GetFile(int(number)) if name == "/get" else CancelFile(int(number))
        return _SLASH.get(name, Unknown(name))
    return Say(text)


# What ``/help CMD`` says past the command's row (trial 58: "/help send" gave only its row,
# and the rest was in docs/commands.md, which a user of an installed program may not have).
_MORE = {
    "/msg": (
        "Goes over the encrypted link to that member alone, is never handed on or\n"
        "stored, and is acknowledged: one unreachable gets it on their return (/m,\n"
        "/query)."
    ),
    "/nick": (
        "Everyone sees the change. A name like another's (Bob, b0b) is refused, and\n"
        "so is one a member who left went by. The name is this room's only. /nick\n"
        "alone says the name you go by here."
    ),
    "/away": (
        "In every room, till /away alone or /back: a private line to you is answered\n"
        "with MSG, once from each member (as an IRC server says it; not one you\n"
        "ignore), and your status bar says away. Nobody else is told. Back, you are\n"
        "told how many lines to you or naming you came meanwhile, and from whom."
    ),
    "/send": (
        "Offers, does not push: members see the name, size and sender and fetch it\n"
        "with /get ID, from the file as it is on disk, checked with SHA-256; a fetch\n"
        "cut off goes on from where it stopped. PATH is from where peerchat started;\n"
        "Tab completes it. /files lists offers, /cancel ID withdraws one."
    ),
    "/get": (
        "/get NAME fetches the offer of a file of that name: offer numbers are this\n"
        "program's own, and another's /get 3 may be another file here.\n"
        "Saved in your downloads directory (--downloads DIR to choose), as a .part\n"
        "until whole and checked; the status bar shows how far. Cut off, it goes on\n"
        "by itself when the sender is back; a restarted sender's new offer of it says\n"
        "that its /get goes on from where it stopped."
    ),
    "/join": (
        "Without an address the room is looked for on the local network, and founded\n"
        "if nobody has it. Its secret, if it has one, is read from the first line of\n"
        "~/.config/peerchat/secrets/ROOM, never typed here. Each room has a window."
    ),
    "/part": (
        "/part alone leaves the room in front; /part ROOM MESSAGE leaves ROOM with a\n"
        "goodbye the others see. A room left is not joined again at the next start.\n"
        "Leaving your only room ends the program: a second /part within 10 s does it."
    ),
    "/rooms": (
        "Numbered as Alt-N and /window N bring them, the one in front marked, and\n"
        "those behind as the status bar marks them: * new lines, ! a line naming you."
    ),
    "/list": (
        "Asks the local network (multicast DNS) which rooms it has, with how many\n"
        "are in each; a private one says secret. /join NAME joins one. Rooms without\n"
        "a name, and rooms on loopback addresses, are not listed."
    ),
    "/room": (
        "/rooms numbers them; a room behind is marked in the status bar: * for new\n"
        "lines, ! for a line naming you. PageUp and PageDown scroll the window."
    ),
    "/ignore": (
        "By key, in this room, kept across restarts: a new name does not lift it. The\n"
        "member is not told; your node still hands on what it says."
    ),
    "/history": f"From this node's store, dimmed, each at its time ({MAX_RECENT} at most).",
    "/lastlog": (
        f"Of the last {MAX_RECENT} messages kept here, those whose words or sender's\n"
        f"name hold TEXT, in any case: the latest {LASTLOG_MOST} at most, each at its time."
    ),
    "/whois": (
        "Read the key's fingerprint to its owner another way (in person, by phone):\n"
        "the same fingerprint on both sides means nobody sits between you."
    ),
    "/quit": (
        "While someone fetches a file from you, the first /quit says who and how far;\n"
        "a second within 10 s leaves. A killed program joins its rooms again at the\n"
        "next start; one that quit starts in the room its command line names."
    ),
}


def help_for(topic: str) -> Help | Usage:
    """``/help CMD``: the help's line of that command, by any of its names (``/help q``,
    ``/help window``), and more of it where there is more (``_MORE``). A trial's ``/help
    send`` printed it all again."""
    name = "/" + topic.split()[0].lower().lstrip("/")
    name = "/say" if name == "/" else _ALIASES.get(name, name)  # ("//" is /say's: trial 70)
    name = "/msg" if name == "/q" else name  # (irssi's /query: review 70)
    if name == "/help":
        return Help()
    found = [
        row
        for row in HELP_TEXT.splitlines()[1:-1]  # a command's row each
        if name in {w.rstrip(",") for w in itertools.takewhile(_slashed, row.split())}
        or f"({name} " in row  # (/unignore NAME)
    ]
    if not found and name in _NO_OPERATORS:  # (review 60: "/help kick" pointed at /nick)
        return Usage(unknown(name))
    if not found:  # (with the one it looks like: trial 55's /help mgs)
        return Usage(f"no command {visible(name)}{_looks_like(name)}; /help lists them")
    more = [f"    {line}" for line in _MORE.get(name, "").splitlines()]
    return Help("\n".join(found + more))


def _slashed(word: str) -> bool:
    return word.startswith("/")


def _private(rest: str) -> Private | Usage:
    # The name ends at a space or a line's end: a pasted "/msg bob" alone on its line takes
    # the lines under it (trial 50: they went to the room, a password among them).
    first, newline, after = rest.lstrip(" ").partition("\n")
    to, _, text = first.partition(" ")
    text = text + newline + after if text else after
    if to and not text.strip():  # /query bob, as in IRC: there is no window of its own here
        return Usage(
            f"usage: /msg {visible(to)} TEXT (one private line; there are no query windows)"
        )
    if not to:
        return Usage("usage: /msg NAME TEXT")
    return Private(to, text)


def _ignore(name: str, args: list[str]) -> Ignore | Unignore | Usage:
    if name == "/ignore" and len(args) <= 1:
        return Ignore(args[0] if args else "")
    if name == "/unignore" and len(args) == 1:
        return Unignore(args[0])
    return Usage("usage: /ignore [NAME], /unignore NAME (one member, by name; /ignore lists)")


def _join(args: list[str]) -> JoinRoom | Usage:
    usage = Usage(
        "usage: /join ROOM [HOST:PORT] (a room name: 1-32 ASCII letters, digits, - and _)"
    )
    lone = args[0] if len(args) == 1 else ""  # (a user trial's first try: an address alone)
    if lone and not valid_room_name(room_name(lone)) and tracker_address(lone) is not None:
        return Usage(f"{usage.text}: the room's name first, as in /join dev {visible(args[0])}")
    if not 1 <= len(args) <= 2 or not valid_room_name(room_name(args[0])):
        return usage
    addr = tracker_address(args[1]) if len(args) == 2 else None
    if len(args) == 2 and (why := bad_port(args[1])) is not None:
        return Usage(why)
    example = "for example 192.168.1.10:5000 or [::1]:5000; a room's name has no spaces"
    if len(args) == 2 and addr is None:
        return Usage(
            f"usage: /join ROOM [HOST:PORT]: {visible(args[1])} is not HOST:PORT ({example})"
        )
    if len(args) == 2 and _one_word(args[1]):  # "/join bad room": 9 s of DNS for "room" (a trial)
        return Usage(
            f"usage: /join ROOM [HOST:PORT]: {visible(args[1])!r} is not HOST:PORT "
            f"({example}; a host by a name of one word: {visible(args[1])}:5000)"
        )
    return JoinRoom(room_name(args[0]), addr)


def _one_word(given: str) -> bool:
    """A host of one label without a port: more often the second word of a room's name."""
    return not any(c in given for c in ".:[") and given.lower() != "localhost"


# IRC's commands of a channel's operators: nobody has such powers here (trial 58's /kick bob
# was answered "did you mean /nick?", which would have renamed its user bob).
_NO_OPERATORS = (
    *("/kick", "/k", "/ban", "/unban", "/kickban", "/kb", "/op", "/deop", "/voice", "/devoice"),
    "/mode",
)


def unknown(name: str) -> str:
    """What an unknown command is answered with: the command it looks like, if one does (a
    user's /mgs)."""
    if name.lower() in _NO_OPERATORS:
        return (
            f"there is no {name} here: a room has no operators, every member is equal; "
            "/ignore NAME hides a member from your screen"
        )
    return f"unknown command {name}{_looks_like(name)}, try /help"


def _looks_like(name: str) -> str:
    """`` (did you mean /msg?)`` of a command ``name`` looks like, or ""."""
    import difflib  # (not loaded at start: ``test_dirs``)

    near = difflib.get_close_matches(name.lower(), COMMANDS, n=1, cutoff=LOOKS_LIKE_COMMAND)
    return f" (did you mean {near[0]}?)" if near else ""


def _nick(rest: str) -> Nick | Usage:
    """``/nick NAME``; ``/nick`` alone asks the name one goes by (trial 71: a usage line)."""
    args = rest.split()
    if not args:
        return Nick("")
    if len(args) != 1 or not may_take(args[0]):
        return Usage(f"usage: /nick NAME ({NAME_RULE})")
    return Nick(args[0])


def _history(args: list[str]) -> History | Usage:
    if not args:
        return History(HISTORY_DEFAULT)
    if len(args) == 1 and _NUMBER.fullmatch(args[0]) and int(args[0]) >= 1:
        return History(int(args[0]))  # more than is kept: what is (the node says so)
    return Usage(f"usage: /history [N], the last N messages ({MAX_RECENT} at most)")
