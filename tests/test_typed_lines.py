"""peerchat.typed_lines: what Enter does with the input, without a terminal."""

from __future__ import annotations

from peerchat.commands import JoinRoom, Nick, Nothing, Private, Say, Who
from peerchat.typed_lines import (
    PASTE_ASKED,
    Held,
    Take,
    TypedLines,
    block_said,
    commands_apart,
)


def enter(entry: TypedLines, line: str, *, joined: bool = True, room: str = "dev") -> object:
    return entry.take(line, joined=joined, room=room, several=False)


def drain(entry: TypedLines, *, room: str = "dev") -> list[object]:
    """The lines taken after one Enter, as the prompt takes them before asking anew."""
    taken = []
    while (line := entry.next_line()) is not None:
        taken.append(enter(entry, line, room=room))
    return taken


def test_a_pasted_block_with_a_command_is_asked_about_then_goes_line_by_line() -> None:
    entry = TypedLines()
    assert entry.next_line() is None
    block = "hi all\n/msg bob the pin is 42\nand this goes to bob too\n/nick al\n/me waves"
    assert enter(entry, block) == Held(
        '5 lines, 1 to the room ("hi all"), 1 as an action to the room ("waves"), 2 in private to'
        " bob, 1 command: Enter sends them, Ctrl-C drops them",
        5,
    )
    assert entry.kept == block  # back in the input for the second Enter
    entry.next_line()
    assert enter(entry, block) == Take(Say("hi all"))
    assert drain(entry) == [
        Take(Private("bob", "the pin is 42\nand this goes to bob too")),
        Take(Nick("al")),
        Take(Say("waves", action=True)),
    ]


def test_a_long_paste_is_asked_about_again_after_an_edit() -> None:
    entry = TypedLines()
    block = "\n".join(f"line {n}" for n in range(PASTE_ASKED + 1))
    asked = Held(f"{PASTE_ASKED + 1} lines: Enter sends them all, Ctrl-C drops them", 6)
    assert enter(entry, block) == asked
    entry.edited()
    assert enter(entry, block) == asked
    assert enter(entry, block) == Take(Say(block))
    assert enter(entry, "short") == Take(Say("short"))


def test_a_long_pasted_private_block_is_asked_about_too() -> None:
    """A review: "/msg bob" and 1,000 lines after it went at once, unasked."""
    entry = TypedLines()
    block = "/msg bob " + "\n".join(f"line {n}" for n in range(PASTE_ASKED + 1))
    assert enter(entry, block) == Held(
        f"{PASTE_ASKED + 1} lines in private to bob: Enter sends them all, Ctrl-C drops them", 6
    )
    assert enter(entry, block) == Take(Private("bob", block.removeprefix("/msg bob ")))


def test_a_pasted_msg_alone_on_its_line_takes_the_lines_under_it() -> None:
    """Trial 50: "/msg bob" pasted on its own line, the password under it, went to the room."""
    block = "/msg bob\nthe password is hunter2\nkeep it to yourself"
    assert commands_apart(block) is None  # one piece: the /msg and what it takes
    entry = TypedLines()
    asked = Held("2 lines in private to bob: Enter sends them all, Ctrl-C drops them", 2)
    assert enter(entry, block) == asked  # (trial 51: a pasted block with a command is asked)
    assert enter(entry, block) == Take(
        Private("bob", "the password is hunter2\nkeep it to yourself")
    )
    said = "hi\n/msg bob\npin 42\n/join ops"
    assert commands_apart(said) == ["hi", "/msg bob\npin 42", "/join ops"]
    asked = enter(entry, said)
    assert isinstance(asked, Held) and "1 in private to bob" in asked.notice
    assert enter(entry, "/msg bob") != Take(Private("bob", ""))  # typed alone: its usage


def test_lines_typed_while_a_join_connects_are_kept_and_go_each_as_typed() -> None:
    entry = TypedLines()
    held = enter(entry, "hello ops", joined=False, room="ops")
    assert isinstance(held, Held) and held.notice.startswith("not in the room yet")
    assert entry.kept == "hello ops\n"  # what is typed next goes below it
    entry.next_line()
    assert isinstance(enter(entry, "hello ops\n/msg bob secret", joined=False, room="ops"), Held)
    entry.next_line()
    typed_below = "hello ops\n/msg bob secret\n/join dev"
    assert enter(entry, typed_below, room="ops") == Take(Say("hello ops"))
    assert drain(entry, room="ops") == [
        Take(Private("bob", "secret")),
        Take(JoinRoom("dev", None)),
    ]


def test_lines_kept_for_a_room_behind_now_are_asked_about_first() -> None:
    entry = TypedLines()
    enter(entry, "for qa only", joined=False, room="qa")
    entry.next_line()
    asked = enter(entry, "for qa only", room="dev")
    assert asked == Held("typed for qa: Enter sends it to dev, Ctrl-C clears it")
    entry.next_line()
    assert enter(entry, "for qa only", room="dev") == Take(Say("for qa only"))
    assert enter(entry, "for qa only", room="dev") == Take(Say("for qa only"))  # not kept now


def test_a_blank_line_while_a_join_connects_keeps_nothing() -> None:
    """Trial 56: a kept line cleared with Ctrl-C, then Enter on the blank line, "kept" the
    blank line; once the join failed, every line typed began with it, and was asked about as
    "typed for zzz", /who and /send too."""
    entry = TypedLines()
    enter(entry, "typed while joining", joined=False, room="zzz")
    entry.next_line()
    assert enter(entry, "", joined=False, room="zzz") == Take(Nothing())
    entry.next_line()
    assert entry.kept == ""
    assert enter(entry, "/who", room="dev") == Take(Who(""))
    assert enter(entry, "typed while joining", room="dev") == Take(Say("typed while joining"))


def test_a_pasted_block_says_where_its_lines_go() -> None:
    pieces = ["a", "/nick x", "/msg bob p\nq", "/msg Carol r", "/join ops"]
    assert block_said(pieces, 6) == (
        '6 lines, 1 to the room ("a"), 3 in private to bob, Carol, 2 commands: Enter sends'
        " them, Ctrl-C drops them"
    )
    long = ["the first line said to the room", "and another", "/msg bob p"]
    assert block_said(long, 3).startswith(
        '3 lines, 2 to the room ("the first line said to t…", …), 1 in private to bob'
    )


def test_a_path_or_a_me_in_a_pasted_private_block_stays_in_it() -> None:
    """Attack round 36: a path under "/msg bob the config:" ended the private part, and the
    password under it went to the room; so did a secret under a /me under a lone "/msg bob".
    A row that is no known command is text, and so is a /me right under a lone /msg (one
    further down is a /me, as a trial's user meant it)."""
    path = "/msg bob the config:\n/etc/app/app.conf\npassword=hunter2"
    assert commands_apart(path) is None
    assert TypedLines().take(path, joined=True, room="dev", several=False) == Held(
        "3 lines in private to bob: Enter sends them all, Ctrl-C drops them", 3
    )
    me = "/msg bob\n/me is sending the key\nsecret-key"
    assert commands_apart(me) is None
    entry = TypedLines()
    enter(entry, me)
    assert enter(entry, me) == Take(Private("bob", "/me is sending the key\nsecret-key"))
    assert commands_apart("/msg bob\n\n/me is here") is None  # (blank lines between: review 54)
    assert commands_apart("/msg bob\npin\n/me waves") == ["/msg bob\npin", "/me waves"]
    # In the room's lines, an unknown command stays one: the block is asked about, and the
    # line refused (review 54: "/mgs bob hunter2" went to the room unasked)
    assert commands_apart("hello\n/mgs bob hunter2") == ["hello", "/mgs bob hunter2"]
    assert isinstance(enter(TypedLines(), "hello\n/mgs bob hunter2"), Held)


def test_a_block_is_cut_where_its_commands_begin() -> None:
    assert commands_apart("just text\nmore text") is None
    assert commands_apart("/msg bob one\ntwo") is None  # one piece: the /msg takes the rest
    assert commands_apart("a\n/nick x\nb") == ["a", "/nick x", "b"]
    assert commands_apart("a\n\n/me waves\nb\n") == ["a\n", "/me waves", "b\n"]


def test_a_pasted_line_that_names_no_command_is_named_and_a_me_takes_no_lines() -> None:
    """Trial 53: "/etc/passwd is a path" was counted as "1 command", then refused as an
    unknown one; and the line under a /me came out as an action, "* bob last line"."""
    block = "def f(x):\n    return x*2\n\n/etc/passwd is a path\nline five\n/me dances\nlast line"
    entry = TypedLines()
    asked = enter(entry, block)
    assert asked == Held(
        "6 lines, 4 to the room, 1 as an action to the room, 1 not a command, not sent"
        ' ("/etc/passwd is a path"; // sends it as a line): Enter sends them, Ctrl-C drops them',
        6,
    )
    entry.next_line()
    assert enter(entry, block) == Take(Say("def f(x):\n    return x*2"))
    taken = drain(entry)
    assert taken[0] == Take(Nothing())  # not sent, as said: no "unknown command" (trial 55)
    assert taken[1:] == [
        Take(Say("line five")),
        Take(Say("dances", action=True)),
        Take(Say("last line")),
    ]


def test_a_paste_asked_about_names_its_room_when_there_are_several() -> None:
    block = "\n".join(f"line {n}" for n in range(PASTE_ASKED + 1))
    asked = TypedLines().take(block, joined=True, room="dev", several=True)
    assert isinstance(asked, Held) and asked.notice.endswith("Ctrl-C drops them (in dev)")
    mixed = TypedLines().take("a\n/nick x", joined=True, room="ops", several=True)
    assert isinstance(mixed, Held) and mixed.notice.endswith("(in ops)")


def test_a_line_typed_while_rejoining_after_a_freeze_is_kept_and_said_so() -> None:
    """A frozen-twice test's line was refused, "not in the room right now (rejoining)".
    Lines are kept, each as typed, a /msg too (review 58: only the last of two survived, and a
    /msg was refused); other commands go (review 57: a rejoin refused for a name taken says
    to /nick)."""
    entry = TypedLines()

    def back(line: str) -> object:
        return entry.take(line, joined=False, room="dev", several=True, back=True)

    assert back("first") == Held("not back in the room yet: the line is kept for Enter once back")
    assert entry.kept == "first\n"
    assert back("first\n/msg bob second") == Held(
        "not back in the room yet: the line is kept for Enter once back"
    )
    assert entry.kept == "first\n/msg bob second\n"
    assert enter(entry, "first\n/msg bob second") == Take(Say("first"))  # Enter once back in
    assert drain(entry) == [Take(Private("bob", "second"))]
    nick = TypedLines().take("/nick carla", joined=False, room="dev", several=False, back=True)
    assert nick == Take(Nick("carla"))
    who = TypedLines().take("/msg bob hi", joined=False, room="dev", several=False, back=True)
    assert isinstance(who, Held)
