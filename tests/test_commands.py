"""peerchat.commands: what a typed line means, for both front ends."""

from __future__ import annotations

import pytest

from peerchat import commands
from peerchat.commands import (
    HELP_TEXT,
    HISTORY_DEFAULT,
    Away,
    Clear,
    FindRooms,
    GetFile,
    GoToRoom,
    Help,
    History,
    Ignore,
    JoinRoom,
    Lastlog,
    ListFiles,
    ListRooms,
    Nick,
    Nothing,
    PartRoom,
    Private,
    Quit,
    Say,
    SendFile,
    Unignore,
    Unknown,
    Usage,
    Who,
    Whois,
    parse_line,
    room_action,
    unknown,
)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", Say("hello")),
        ("  indented stays  ", Say("  indented stays  ")),
        ("", Nothing()),
        ("   ", Nothing()),
        ("//etc/passwd is a path", Say("/etc/passwd is a path")),
        ("//", Say("/")),
        ("/me waves at bob", Say("waves at bob", action=True)),
        ("/ME  waves", Say(" waves", action=True)),
        ("/msg bob see you at 5", Private("bob", "see you at 5")),
        ("/msg   bob  two  spaces", Private("bob", " two  spaces")),
        ("/nick robert", Nick("robert")),
        ("/nick ", Nick("")),  # the name one goes by (trial 71)
        ("/away  gone   to lunch ", Away("gone to lunch")),  # IRC's (trial 71)
        ("/AWAY", Away("")),  # back
        ("/back", Away("")),  # (trial 72)
        ("/away -all gone home", Away("gone home")),  # irssi's: every room is away here
        ("/AWAY -ALL gone -all", Away("gone -all")),
        ("/who", Who()),
        ("/names", Who()),
        ("/NAMES", Who()),
        ("/history", History(HISTORY_DEFAULT)),
        ("/history 5", History(5)),
        ("/history 5000", History(5000)),  # more than is kept: the node says what is
        ("/lastlog Release Notes ", Lastlog("Release Notes")),
        ("/lastlog", Usage("usage: /lastlog TEXT")),
        ("/say /quit is how to leave", Say("/quit is how to leave")),
        ("/say", Usage("usage: /say TEXT")),
        ("/action waves", Say("waves", action=True)),
        (
            "/help say",
            Help('  /say TEXT       send TEXT as it stands, a "/" first too (or //TEXT)'),
        ),
        (
            "/help //",
            Help('  /say TEXT       send TEXT as it stands, a "/" first too (or //TEXT)'),
        ),
        ("/q", Usage(commands.Q_ALONE)),
        ("/quit", Quit()),
        ("/quit see you all ", Quit("see you all")),  # irssi's: said with the goodbye
        ("/quit -f", Usage(commands.QUIT_FLAG)),  # (trial 76: it left, saying "-f")
        ("/quit --force", Usage(commands.QUIT_FLAG)),
        ("/quit -_-", Quit("-_-")),
        ("/quit -f off to bed", Quit("-f off to bed")),
        ("/send ~/notes.txt", SendFile("~/notes.txt")),
        ("/send bob my file.pdf", SendFile("bob my file.pdf")),
        ("/get 12", GetFile(12)),
        ("/get  my report.pdf ", GetFile("my report.pdf")),  # by name (trial 71)
        ("/list", FindRooms()),
        ("/files", ListFiles()),
        ("/get", ListFiles()),  # which? The offers (a user trial)
        ("/join dev", JoinRoom("dev", None)),
        ("/join Ops 10.0.0.7:5000", JoinRoom("ops", ("10.0.0.7", 5000))),
        ("/part", PartRoom()),
        ("/part OPS", PartRoom("ops")),
        ("/part dev bye all", PartRoom("dev", "bye all")),  # was "not in a room dev bye all"
        ("/join #dev", JoinRoom("dev", None)),  # an IRC channel's "#": was refused
        ("/join dev 10.0.0.7", JoinRoom("dev", ("10.0.0.7", 5000))),  # as --tracker takes it
        ("/join dev localhost", JoinRoom("dev", ("localhost", 5000))),
        ("/join dev pi:5000", JoinRoom("dev", ("pi", 5000))),  # a host of one word, with a port
        ("/part #Dev bye", PartRoom("dev", "bye")),
        ("/room #ops", GoToRoom("ops")),
        # irssi's and weechat's habits (a user's /j and /exit were unknown commands)
        ("/j dev", JoinRoom("dev", None)),
        ("/exit", Quit()),
        ("/leave dev bye", PartRoom("dev", "bye")),
        ("/bye see you", Quit("see you")),
        ("/W", Who()),
        ("/m bob hi", Private("bob", "hi")),
        ("/query bob hi there", Private("bob", "hi there")),
        ("/whois Bob", Whois("Bob")),
        ("/wi bob", Whois("bob")),
        ("/cl", Clear()),
        ("/room", ListRooms()),
        ("/clear", Clear()),
        ("/rooms", ListRooms()),
        ("/window list", ListRooms()),  # irssi's (a trial's was "not in a room list")
        ("/names ops", Who("ops")),  # another room's members (irssi's /names #channel)
        ("/who Ops", Who("ops")),  # (room names are lower case)
        ("/room ops", GoToRoom("ops")),
        ("/rooms ops", GoToRoom("ops")),
        ("/ignore chatty", Ignore("chatty")),
        ("/ignore", Ignore()),
        ("/IGNORE  Bob ", Ignore("Bob")),
        ("/unignore bob", Unignore("bob")),
        ("/frobnicate x", Unknown("/frobnicate")),
    ],
)
def test_lines_mean(line: str, command: object) -> None:
    assert parse_line(line) == command


@pytest.mark.parametrize(
    ("line", "joined", "parts"),
    [
        ("/part", ["dev"], PartRoom()),
        ("/part dev see ya", ["dev", "ops"], PartRoom("dev", "see ya")),
        # One room open: words that do not name it are the message (was "not in a room see").
        ("/part See ya", ["dev"], PartRoom("", "See ya")),
        # But one word that is not its name parts nothing: the last room parted, the program
        # ends (trials: "/part devv" in dev, and "/part ops" for a room not joined).
        ("/part devv", ["dev"], None),
        ("/part deb", ["dev"], None),
        ("/part dev2", ["dev"], None),
        ("/part ops", ["dev"], None),
        ("/part bye", ["dev"], None),
        # Of several, a word that names none parts nothing: a typo must not part the front one.
        ("/part devv", ["dev", "ops"], None),
        ("/part see ya", ["dev", "ops"], None),
    ],
)
def test_part_parts_a_room_one_is_in_or_takes_the_words_as_its_message(
    line: str, joined: list[str], parts: PartRoom | None
) -> None:
    typed = parse_line(line)
    assert isinstance(typed, PartRoom)
    assert typed.among(joined) == parts


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/me", "usage: /me ACTION"),
        ("/me   ", "usage: /me ACTION"),
        ("/msg", "usage: /msg NAME TEXT"),
        ("/msg bob", "usage: /msg bob TEXT (one private line; there are no query windows)"),
        ("/query bob   ", "usage: /msg bob TEXT (one private line; there are no query windows)"),
        # irssi's /q NAME is /query NAME: a user trial's "/q alice" quit the program
        ("/q alice", "usage: /msg alice TEXT (one private line; there are no query windows)"),
        ("/whois", "usage: /whois NAME"),
        ("/whois bob carol", "usage: /whois NAME"),
        ("/nick two words", "usage: /nick NAME"),
        ("/nick " + "x" * 33, "usage: /nick NAME"),
        ("/history 0", "usage: /history [N]"),
        ("/history ²", "usage: /history [N]"),
        ("/send", "usage: /send [NAME] PATH"),
        ("/cancel x1", "usage: /cancel ID (the number an offer shows; /files lists them)"),
        ("/away " + "x" * 301, "usage: /away [MESSAGE], 300 characters at most"),
        ("/cancel ²", "usage: /cancel ID (the number an offer shows; /files lists them)"),
        ("/join", "usage: /join ROOM"),
        ("/join dev no/where", "usage: /join ROOM [HOST:PORT]: no/where is not HOST:PORT"),
        # A trial's first try: the address alone.
        (
            "/join 10.0.0.7",
            "usage: /join ROOM [HOST:PORT] (a room name: 1-32 ASCII letters, digits, - and _): "
            "the room's name first, as in /join dev 10.0.0.7",
        ),
        (
            "/join 10.0.0.7:5000",
            "usage: /join ROOM [HOST:PORT] (a room name: 1-32 ASCII letters, digits, - and _): "
            "the room's name first, as in /join dev 10.0.0.7:5000",
        ),
        ("/join bad room!", "usage: /join ROOM [HOST:PORT]: room! is not HOST:PORT"),
        # A trial's "/join bad room" looked up a host called "room" for 9 s.
        ("/join bad room", "usage: /join ROOM [HOST:PORT]: 'room' is not HOST:PORT ("),
        ("/join dev 127.0.0.1:99999", "port 99999 is out of range: a port is 1-65535"),
        ("/join dev [::1]:0", "port 0 is out of range: a port is 1-65535"),
        ("/list dev", "usage: /list, the rooms on the local network (then /join NAME)"),
        ("/join a.b", "usage: /join ROOM"),
        ("/ignore bob carol", "usage: /ignore [NAME], /unignore NAME"),
        ("/unignore", "usage: /ignore [NAME], /unignore NAME"),
    ],
)
def test_misused_commands_say_how(line: str, usage: str) -> None:
    command = parse_line(line)
    assert isinstance(command, Usage) and command.text.startswith(usage)


def test_each_room_command_calls_its_method_of_the_node_with_its_fields() -> None:
    called: list[tuple[str, tuple[object, ...]]] = []

    class Node:
        def __getattr__(self, name: str) -> object:
            return lambda *args: called.append((name, args))

    lines = ["/msg bob hi", "/nick rob", "/send x.txt", "/get 3", "/cancel 4", "/files", "/who"]
    lines += ["/whois bob", "/ignore bob", "/unignore bob", "/history 5"]
    for line in lines:
        act = room_action(parse_line(line))
        assert act is not None, line
        act(Node())  # type: ignore[arg-type]
    assert called == [
        ("private", ("bob", "hi")),
        ("nick", ("rob",)),
        ("send_file", ("x.txt",)),
        ("get_file", (3,)),
        ("cancel_file", (4,)),
        ("list_files", ()),
        ("who", ()),
        ("whois", ("bob",)),
        ("ignore", ("bob",)),
        ("unignore", ("bob",)),
        ("history", (5,)),
    ]
    for line in ("hello", "/join dev", "/part", "/help", "/quit", "/rooms", "/list"):
        assert room_action(parse_line(line)) is None, line


def test_help_with_a_command_gives_its_lines_by_any_of_its_names() -> None:
    """Trial 50: "/help send" printed the whole help again."""
    assert parse_line("/help") == Help(HELP_TEXT)
    assert parse_line("/help help") == Help(HELP_TEXT)
    assert parse_line("/help send") == parse_line("/help /send")
    send = parse_line("/help send").text.splitlines()
    assert send[0].startswith("  /send PATH")
    assert "/get ID" in send[2] and "SHA-256" in send[2]  # and more (trial 58 wanted it)
    room = parse_line("/help window").text.splitlines()  # an alias
    assert room[0].startswith("  /room NAME") and "/window N or Alt-N" in room[0]
    nick = parse_line("/help nick").text.splitlines()  # one row, and the one that goes on
    assert nick[0].startswith("  /nick NAME") and not nick[1].startswith("  /")
    for name in commands._MORE:  # each says more of a command /help has, within 80 columns
        said = parse_line(f"/help {name}")
        assert isinstance(said, Help) and len(said.text.splitlines()) >= 2, name
        assert all(len(row) <= 80 for row in said.text.splitlines()), name
    assert parse_line("/help unignore").text.startswith("  /ignore [NAME]")
    for name, says in (("list", "multicast DNS"), ("rooms", "Alt-N")):  # (trial 71: the row)
        assert says in parse_line(f"/help {name}").text.splitlines()[1]
    assert parse_line("/help names") == parse_line("/help who")
    assert parse_line("/help q") == parse_line("/help msg")  # irssi's /query (review 70)
    assert parse_line("/help bogus") == Usage("no command /bogus; /help lists them")
    said = Usage("no command /mgs (did you mean /msg?); /help lists them")  # (trial 55)
    assert parse_line("/help mgs") == said


def test_an_operators_command_says_there_are_none_and_does_not_point_at_nick() -> None:
    """Trial 58: /kick bob was answered "did you mean /nick?", which renames its user bob."""
    for name in ("/kick", "/BAN", "/op", "/k"):
        for said in (unknown(name), parse_line(f"/help {name}").text):
            assert "no operators" in said and "/ignore NAME" in said and "/nick" not in said
    assert unknown("/mgs") == "unknown command /mgs (did you mean /msg?), try /help"
