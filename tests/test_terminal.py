"""The real prompt in a pseudo-terminal (pexpect), next to real nodes on free local ports.

What only a terminal shows: a message arriving while a line is half typed prints above the input
line and leaves the typed text intact; the quit keys end the program with status 0; SIGTERM ends
the prompt from the node's side; a flood is summed up, and a message after it shows at once.
Every wait is a pexpect expect or read with a timeout, never a sleep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")
if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pseudo-terminals need a POSIX system", allow_module_level=True)

import fcntl  # noqa: E402
import termios  # noqa: E402

from pexpect.popen_spawn import PopenSpawn  # noqa: E402

from peerchat import ui  # noqa: E402
from peerchat.datadir import JOINED_FILE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 15

# Zero or more CSI escape sequences (colours, cursor moves) that the renderer may put between the
# characters of a line.
_CSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


# Where the chat is drawn anew (Ctrl-L, fg, a resize): from the top, row over row.
DRAWN_ANEW = "\x1b[0;0H"


def on_screen(text: str) -> re.Pattern[str]:
    """A pattern for `text` as prompt_toolkit draws it: escape sequences may come between its
    characters, and a space may be drawn as a cursor move."""
    parts = [r"(?:\x1b\[[0-9;?]*[A-Za-z]| )*" if ch == " " else re.escape(ch) for ch in text]
    return re.compile(_CSI.join(parts))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(data_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_DATA_HOME"] = str(data_home)  # each test's data dirs (keys, stores) are its own
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["TERM"] = "xterm"
    # pexpect is no terminal emulator, so nothing answers prompt_toolkit's cursor position
    # requests; without this it would wait for answers and then print a warning.
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    env.pop("NO_COLOR", None)
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start children; whatever is still running at the end of the test is killed."""
    children: list[Any] = []

    def start(*args: str, terminal: bool = False) -> Any:
        command = [sys.executable, "-m", "peerchat", *args]
        if terminal:
            child = pexpect.spawn(
                command[0],
                command[1:],
                env=child_env(tmp_path),
                dimensions=(24, 100),
                encoding="utf-8",
                codec_errors="replace",
                timeout=TIMEOUT,
            )
        else:
            child = PopenSpawn(command, env=child_env(tmp_path), encoding="utf-8", timeout=TIMEOUT)
        children.append(child)
        return child

    yield start
    for child in children:
        if isinstance(child, PopenSpawn):
            if child.proc.poll() is None:
                child.kill(signal.SIGKILL)
                child.proc.wait()
        else:
            child.close(force=True)


def next_event(headless: Any, **fields: Any) -> dict[str, Any]:
    """Read a headless node's JSON lines until one has all of `fields`. With a search window
    shorter than a read, one match can span several lines: those after the one returned are
    kept for the next call."""
    if not hasattr(headless, "unread_lines"):
        headless.unread_lines = []
    while True:
        while not headless.unread_lines:
            headless.expect("\n")
            headless.unread_lines = [x for x in headless.before.splitlines() if x.strip()]
        event = json.loads(headless.unread_lines.pop(0))
        if all(event.get(key) == value for key, value in fields.items()):
            return event


def start_alice(spawn: Callable[..., Any], tracker_port: int, *more: str) -> Any:
    tracker = f"127.0.0.1:{tracker_port}"
    alice = spawn("--username", "alice", "--tracker", tracker, *more, terminal=True)
    alice.expect_exact("type /help for commands")
    # Bracketed paste switched on: the prompt is drawn and the terminal is in raw mode.
    alice.expect_exact("\x1b[?2004h")
    return alice


def expect_exit_0(alice: Any) -> None:
    alice.expect(pexpect.EOF)
    output = alice.before
    alice.close()
    assert "Traceback" not in output, output
    assert alice.signalstatus is None
    assert alice.exitstatus == 0, output


def test_keys_typed_before_the_prompt_are_not_echoed_and_the_modes_come_back(
    tmp_path: Path,
) -> None:
    """Trial 58: keys typed as the program started were echoed raw at the top of the screen,
    then shown again in the input line. ``main`` hushes the terminal before anything slow,
    and gives back the modes it found however it ends."""
    said = (
        "import termios; from peerchat.ui import PromptUI; ui = PromptUI(); ui.hush(); "
        "print('hushed', termios.tcgetattr(0)[3] & termios.ECHO == 0); ui.unhush(); "
        "print('unhushed', termios.tcgetattr(0)[3] & termios.ECHO != 0)"
    )
    child = pexpect.spawn(
        sys.executable, ["-c", said], env=child_env(tmp_path), encoding="utf-8", timeout=TIMEOUT
    )
    child.expect_exact("hushed True")
    child.expect_exact("unhushed True")
    child.expect(pexpect.EOF)
    # The whole program: a start that fails before the prompt leaves the echo as it was.
    run = f"{sys.executable} -m peerchat --username a --log-file {tmp_path}/none/x.log"
    child = pexpect.spawn(
        "sh", ["-c", f"{run}; stty -a"], env=child_env(tmp_path), encoding="utf-8"
    )
    child.expect("cannot open the log file", timeout=TIMEOUT)
    child.expect(r"[ -]echo ", timeout=TIMEOUT)
    assert child.after == " echo ", child.after
    child.expect(pexpect.EOF)
    # Started behind the shell, it ends as it would have, not stopped for touching the
    # terminal's modes (review 61).
    child = pexpect.spawn(
        "bash",
        ["--norc", "-c", f"set -m; {run} & wait $!; echo ended $?"],
        env=child_env(tmp_path),
        encoding="utf-8",
    )
    child.expect("ended ([0-9]+)", timeout=TIMEOUT)
    assert child.match.group(1) == "2", child.before


def test_lines_typed_while_one_is_sent_are_not_echoed_by_the_terminal(
    spawn: Callable[..., Any],
) -> None:
    """Between two runs of the prompt (a line sent, the next not yet drawn) the terminal's own
    echo stays off: a user's fast typing left a stray "burst 5" between the lines sent."""
    alice = start_alice(spawn, free_port())
    echoed: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                if termios.tcgetattr(alice.child_fd)[3] & termios.ECHO:
                    echoed.append(time.monotonic())
            except termios.error:  # the program ended: the test says why
                return
            time.sleep(0.0002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(20):
            alice.send(f"burst {i}\r")
            time.sleep(0.01)
        alice.expect(on_screen("<alice> burst 19"))
    finally:
        stop.set()
        watcher.join()
    assert echoed == []
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_message_prints_above_a_half_typed_line(spawn: Callable[..., Any]) -> None:
    port = free_port()
    tracker = spawn("tracker", "--port", str(port))
    tracker.expect_exact("listening on")

    alice = start_alice(spawn, port)
    alice.send("hello wor")
    alice.expect(on_screen("hello wor"))

    bob = spawn("--username", "bob", "--headless", "--tracker", f"127.0.0.1:{port}")
    next_event(bob, event="ready")
    next_event(bob, event="peer_joined", username="alice")
    alice.expect(on_screen("bob joined"))

    bob.sendline("hi from bob")
    alice.expect(on_screen("<bob> hi from bob"))
    # The prompt is drawn again below the message, with what was typed so far.
    alice.expect(on_screen("> hello wor"))

    alice.send("ld\r")
    message = next_event(bob, event="message", **{"from": "alice"})
    assert message["text"] == "hello world"
    assert message["own"] is False
    alice.expect(on_screen("<alice> hello world"))

    alice.send("/quit\r")
    expect_exit_0(alice)
    next_event(bob, event="peer_left", username="alice")

    bob.sendeof()
    bob.expect(pexpect.EOF)
    assert bob.wait() == 0
    tracker.kill(signal.SIGTERM)
    tracker.expect(pexpect.EOF)
    assert tracker.wait() == 0


def test_a_line_to_you_alone_or_naming_you_rings_the_bell(spawn: Callable[..., Any]) -> None:
    """Trial 69: nothing rang on a line naming you, as irssi's does, and tmux's alert never
    came (test_ui: and a private line). Anyone in an open room can name you: once in 2 s."""
    port = free_port()
    alice = start_alice(spawn, port)
    bob = spawn("--username", "bob", "--headless", "--tracker", f"127.0.0.1:{port}")
    next_event(bob, event="ready")
    alice.expect(on_screen("bob joined"))
    for line, shown, rings in (
        ("just chatter", "<bob> just chatter", False),
        ("lunch, alice?", "<bob> lunch, alice?", True),
        ("more chatter", "<bob> more chatter", False),
        ("/msg alice psst", "[private from bob] psst", False),  # once in 2 s at most
    ):
        bob.sendline(line)
        alice.expect(on_screen(shown))
        alice.expect_exact("\x1b[?2004h")  # the prompt drawn again below it
        assert ("\a" in alice.before) is rings, (line, alice.before)
    alice.send("/quit\r")
    expect_exit_0(alice)
    bob.sendeof()
    bob.expect(pexpect.EOF)


def test_commands_answer_on_screen(spawn: Callable[..., Any]) -> None:
    port = free_port()  # nobody there: alice becomes the tracker herself
    alice = start_alice(spawn, port)
    alice.send("/who\r")
    alice.expect(on_screen("* 1 member:"))
    alice.expect(on_screen("alice 127.0.0.1:"))
    alice.expect_exact("(tracker)")
    alice.send("/help\r")
    alice.expect(on_screen("/quit [MSG]     leave"))
    # Marked as the node's own lines are (a user trial found these the only ones without).
    alice.send("/nope\r")
    alice.expect(on_screen("! unknown command /nope, try /help"))
    alice.send("/rooms\r")
    alice.expect(on_screen("* rooms: "))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_ctrl_l_draws_the_screen_anew_with_the_latest_lines(spawn: Callable[..., Any]) -> None:
    """A user trial: Ctrl-L cleared the screen and left the conversation off it."""
    alice = start_alice(spawn, free_port())
    alice.send("/who\r")
    alice.expect(on_screen("* 1 member:"))
    alice.send("\x0c")
    alice.expect_exact(DRAWN_ANEW)  # from the top
    alice.expect(on_screen("* 1 member:"))  # and drawn again
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_ctrl_l_lays_the_lines_out_again_at_the_width_of_the_moment(
    spawn: Callable[..., Any],
) -> None:
    """Two user trials: after the window got narrower, Ctrl-L drew the old rows at the old
    width, cut by the terminal."""
    alice = start_alice(spawn, free_port())
    words = [f"w{i:02}" for i in range(40)]  # 160 columns: two rows at 100
    alice.send(" ".join(words) + "\r")
    alice.expect(on_screen("<alice> w00 w01"))
    alice.expect_exact("w39")
    alice.setwinsize(24, 50)
    alice.send("\x0c")
    alice.expect_exact(DRAWN_ANEW)
    alice.expect_exact("w39")
    drawn = _plain_rows(alice.before + "w39")
    rows = [row for row in drawn if "w" in row]
    assert len(rows) >= 4, drawn
    assert all(len(row) < 50 for row in rows), rows
    drawn_words = [w for row in rows for w in row.split() if re.fullmatch(r"w\d\d", w)]
    assert drawn_words == words  # none cut
    alice.send("/quit\r")
    expect_exit_0(alice)


def _plain_rows(drawn: str) -> list[str]:
    """What a terminal shows of ``drawn``, row by row, as far as plain text goes: a cursor
    move forward is spaces, other escape sequences nothing."""
    text = re.sub(r"\x1b\[(\d*)C", lambda m: " " * int(m.group(1) or 1), drawn)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [row.rstrip() for row in re.split(r"\r?\n|\r", text)]


def test_clear_empties_the_screen_and_ctrl_l_then_draws_nothing_from_before(
    spawn: Callable[..., Any],
) -> None:
    """irssi's /clear (a user's was an unknown command). Trial 58: the lines of a room
    joined and left came back at Ctrl-L, /clear or not."""
    alice = start_alice(spawn, free_port())
    alice.send("/who\r")
    alice.expect(on_screen("* 1 member:"))
    for room in ("xx", "yy"):  # (the first room, alice's alone, is left for xx)
        alice.send(f"/join {room} 127.0.0.1:{free_port()}\r")
        alice.expect(on_screen(f"in the room {room}"))
    alice.send("/part yy\r")
    alice.expect(on_screen("you left the room yy"))
    alice.send("/clear\r")
    alice.expect_exact("\x1b[2J")
    alice.send("\x0c")
    alice.expect_exact(DRAWN_ANEW)
    alice.send("/help\r")
    alice.expect(on_screen("/quit [MSG]     leave"))
    for before in ("1 member:", "in the room xx", "room yy"):  # Ctrl-L drew nothing again
        assert not on_screen(before).search(alice.before), before
    alice.send("\x1b[5~")  # but PageUp reaches them, as in irssi (trial 69)
    alice.expect(on_screen("in the room xx"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_a_long_paste_is_sent_on_a_second_enter(spawn: Callable[..., Any]) -> None:
    """A user pasted 200 lines by mistake and the room got 200 messages: irssi asks first."""
    alice = start_alice(spawn, free_port())
    pasted = "\n".join(f"pasted {i}" for i in range(1, 7))
    alice.send(f"\x1b[200~{pasted}\x1b[201~\r")
    alice.expect(on_screen("6 lines: Enter sends them all, Ctrl-C drops them"))
    alice.send("\x03")  # dropped; the same paste again is asked about again (a user trial)
    alice.send(f"\x1b[200~{pasted}\x1b[201~\r")
    alice.expect(on_screen("6 lines: Enter sends them all, Ctrl-C drops them"))
    alice.send("\r")
    alice.expect(on_screen("<alice> pasted 1"))
    alice.expect(on_screen("<alice> pasted 6"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_the_commands_of_a_pasted_block_are_commands(spawn: Callable[..., Any]) -> None:
    """A user trial: a pasted "/msg dave the password is hunter2" went to the room as text
    below a first line; after a pasted /me, every line was an action, "/nick" and "/quit"
    lines too (5 of 5)."""
    alice, bob = alice_and_bob(spawn)
    pasted = "hello all\n/msg bob the password is\nhunter2\n/me waves\n/nick alicia"
    alice.send(f"\x1b[200~{pasted}\x1b[201~\r")  # asked about first: it runs commands
    alice.expect(on_screen('5 lines, 1 to the room ("hello all"), 1 as an action to the room'))
    alice.send("\r")
    said = [next_event(bob, event="message") for _ in range(4)]
    # The lines after a /msg are its own, as when it began the block: a review's
    # "/msg dave the config:" then "password=..." must not go to the room. Each goes as a
    # message of its own (trial 46 read their line breaks as "�").
    assert [(e["text"], e["private"], e["action"]) for e in said] == [
        ("hello all", False, False),
        ("the password is", True, False),
        ("hunter2", True, False),
        ("waves", False, True),
    ]
    renamed = next_event(bob, event="nick")
    assert renamed["username"] == "alicia", renamed
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_a_restart_shows_history_dimmed_and_keeps_what_was_typed(
    spawn: Callable[..., Any],
) -> None:
    port = free_port()
    alice = start_alice(spawn, port)
    alice.send("remember this line\r")
    alice.expect(on_screen("<alice> remember this line"))
    alice.send("/history 1\r")
    alice.send("/quit\r")
    expect_exit_0(alice)

    # The same data dir (the same user on the same computer): her message comes back from
    # her store, dimmed (bright black), with its original time, before the prompt is drawn.
    alice = spawn("--username", "alice", "--tracker", f"127.0.0.1:{port}", terminal=True)
    alice.expect(re.compile(r"\x1b\[(?:0;)?90m\d\d:\d\d:\d\d <alice> remember this line"))
    alice.expect_exact("\x1b[?2004h")
    alice.send("\x1b[A")  # up-arrow: the last line typed in the run before
    alice.expect(on_screen("/quit"))
    alice.send("\x1b[A\x1b[A\r")  # two more back, and sent again: it is the same line
    alice.expect(on_screen("<alice> remember this line"))  # (the dimmed one was read above)
    alice.send("/quit\r")
    expect_exit_0(alice)


@pytest.mark.parametrize(
    "keys",
    ["/quit\r", "/bye\r", "\x04", "\x03", "half typed\x03\x03"],
    ids=["quit", "bye", "ctrl-d", "ctrl-c", "ctrl-c-twice"],
)
def test_quit_keys_exit_0(spawn: Callable[..., Any], keys: str) -> None:
    alice = start_alice(spawn, free_port())
    alice.send(keys)
    expect_exit_0(alice)


def test_sigterm_ends_the_prompt(spawn: Callable[..., Any]) -> None:
    alice = start_alice(spawn, free_port())
    alice.send("never sent")
    alice.expect(on_screen("never sent"))
    alice.kill(signal.SIGTERM)
    expect_exit_0(alice)


FLOOD = 30_000  # three times the backlog's cap on messages held, so some must be summed up
MARKER_DEADLINE = 3.0  # s from sending a message after the flood to seeing it on screen
RSS_BOUND_MIB = 80  # alice starts near 36 MiB and ends this test near 42
RSS_GROWTH_MIB = 20  # the flood adds about 6 MiB; an unbounded screen queue added 44


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def read_screen_until(child: Any, token: str, deadline: float) -> tuple[str, float | None]:
    """Read a terminal child's output in large chunks until `token` shows or `deadline` (a
    time.monotonic() value) passes: all that was read, and when `token` was first seen."""
    chunks: list[str] = []
    tail = ""
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            chunk = child.read_nonblocking(size=1 << 16, timeout=remaining)
        except pexpect.TIMEOUT:
            break
        chunks.append(chunk)
        if token in tail + chunk:
            return "".join(chunks), time.monotonic()
        tail = (tail + chunk)[-len(token) :]
    return "".join(chunks), None


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_a_flood_is_summed_up_and_a_later_message_shows_at_once(
    spawn: Callable[..., Any],
) -> None:
    port = free_port()
    alice = start_alice(spawn, port)  # the tracker, with the real prompt
    mallory = spawn("--username", "mallory", "--headless", "--tracker", f"127.0.0.1:{port}")
    # Its 30,000 JSON lines are scanned, not re-read each time; a window of a line or so: at
    # 200 characters, the fields after a message's "text" (since "seen" and "room") outgrew it
    mallory.searchwindowsize = 400
    next_event(mallory, event="ready")
    alice.expect(on_screen("mallory joined"))
    rss_before = rss_mib(alice.pid)

    # Alice's terminal is not read while the flood arrives, as if it were a slow one: her
    # printer blocks on the full pseudo-terminal and the flood piles up in her backlog.
    mallory.send("".join(f"flood-{i}\n" for i in range(FLOOD)))
    mallory.expect_exact(f'"text": "flood-{FLOOD - 1}"', timeout=60)

    sent = time.monotonic()
    mallory.sendline("marker-after-flood")
    screen, seen = read_screen_until(alice, "marker-after-flood", sent + 30)
    assert seen is not None, "the message after the flood never reached alice's screen"
    assert seen - sent <= MARKER_DEADLINE, f"shown {seen - sent:.1f} s after it was sent"
    summed_up = on_screen("more messages from").search(screen) is not None
    assert summed_up, "no summary of the skipped flood"
    assert f"flood-{FLOOD - 1}" in screen  # the newest messages are shown, not summed up
    rss = rss_mib(alice.pid)
    assert rss < RSS_BOUND_MIB, f"alice holds {rss:.0f} MiB after the flood"
    assert rss - rss_before < RSS_GROWTH_MIB, f"alice grew from {rss_before:.0f} to {rss:.0f} MiB"

    alice.send("/quit\r")
    expect_exit_0(alice)
    mallory.sendeof()
    mallory.expect(pexpect.EOF)
    assert mallory.wait() == 0


def alice_and_bob(spawn: Callable[..., Any]) -> tuple[Any, Any]:
    """Alice at the prompt, and bob headless in her room, once she has seen him join."""
    port = free_port()
    alice = start_alice(spawn, port)
    bob = spawn("--username", "bob", "--headless", "--tracker", f"127.0.0.1:{port}")
    next_event(bob, event="ready")
    alice.expect(on_screen("bob joined"))
    return alice, bob


def test_keys_the_prompt_has_no_use_for_type_nothing(spawn: Callable[..., Any]) -> None:
    """A user trial's Shift-PageUp put "^[[5;2~" in the line, and Enter sent it to the room."""
    alice, bob = alice_and_bob(spawn)
    for key in ("\x1b[5;2~", "\x1b[6;2~", "\x1b[5;5~", "\x1b[15~", "\x1b[24~"):
        alice.send(f"a{key}")
    alice.send("b\r")
    said = next_event(bob, event="message")
    assert said["text"] == "aaaaab", said
    # PageUp is no way through the lines typed (a trial took them for the chat): the window
    # scrolls, here with nothing further back.
    alice.send("c\x1b[5~")
    alice.send("\x0c")  # (Ctrl-L: the toolbar drawn whole, not only where it changed)
    alice.expect(on_screen("nothing older here: "))
    alice.send("d\r")
    said = next_event(bob, event="message")
    assert said["text"] == "cd", said
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_ctrl_c_clears_a_half_typed_line_and_tab_completes(spawn: Callable[..., Any]) -> None:
    alice, bob = alice_and_bob(spawn)
    alice.send("never to be sent")
    alice.expect(on_screen("never to be sent"))
    next_event(bob, event="typing", username="alice")  # her keystrokes told the room
    alice.send("\x03")  # Ctrl-C: the line is gone, the program is not
    alice.send("\x0c")  # (Ctrl-L: the toolbar drawn whole, not only where it changed)
    alice.expect_exact(DRAWN_ANEW)
    alice.expect(on_screen("line cleared: Ctrl-C again quits"))  # and the toolbar says so
    alice.send("\x1b[A")  # Up: it is back (trial 59 lost one for good), and thrown away again
    alice.expect(on_screen("never to be sent"))
    alice.send("\x03")
    alice.send("/he\t")  # Tab: the only command that begins so
    alice.expect(on_screen("/help"))
    alice.send("\r")
    alice.expect(on_screen("/msg NAME TEXT"))
    alice.send("hi B\t")  # Tab: a member's name in any case, and a space after it
    alice.expect(on_screen("hi bob"))
    alice.send("\t")  # again: bob stays (a user's went back to "hi B", or had bob twice)
    alice.send("there\r")
    message = next_event(bob, event="message", **{"from": "alice"})
    assert message["text"] == "hi bob there"  # the cleared line never went out
    alice.send("/m\t")  # two commands: the first put in at once, as irssi does
    alice.expect(on_screen("/me "))
    alice.send("\t")  # and the next
    alice.expect(on_screen("/msg "))
    alice.send("\t\t")  # round to the first, never back to the bare "/m" (a user trial)
    alice.send("bob psst\r")
    private = next_event(bob, event="message", private=True)
    assert private["text"] == "psst"
    alice.send("/quit\r")
    expect_exit_0(alice)


def events_until(headless: Any, **fields: Any) -> list[dict[str, Any]]:
    """A headless node's events up to and with the first that has all of ``fields``."""
    seen = []
    while True:
        event = next_event(headless)
        seen.append(event)
        if all(event.get(key) == value for key, value in fields.items()):
            return seen


def test_going_through_the_input_history_is_not_typing(
    spawn: Callable[..., Any], tmp_path: Path
) -> None:
    """A user trial: Up to an earlier line told the room "alice is typing". And a line typed
    and then cleared read "alice is typing" for 5 s more."""
    kept = tmp_path / "peerchat" / "alice" / "input_history"  # her lines of an earlier run
    kept.parent.mkdir(parents=True)
    kept.write_text("\n# earlier\n+first line\n\n# earlier\n+second line\n")
    alice, bob = alice_and_bob(spawn)
    alice.send("\x1b[A")  # Up: her last line is back in the input
    alice.expect(on_screen("second line"))
    alice.send("\x1b[A\x1b[B")  # Up and Down
    alice.send("\x03/me waves\r")  # Ctrl-C clears it; a command tells no one it is typed
    seen = events_until(bob, event="message", action=True)
    assert not [e for e in seen if e["event"] == "typing"], seen
    alice.send("\x1b[A\x1b[A!")  # a line of the history (not "/me waves"), edited: typing
    alice.expect(on_screen("second line!"))
    next_event(bob, event="typing", username="alice", done=False)
    alice.send("\x03")  # cleared: done, not "is typing" for 5 s more (a user trial)
    next_event(bob, event="typing", username="alice", done=True)
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_a_paste_asked_about_and_dropped_is_no_longer_typing(spawn: Callable[..., Any]) -> None:
    """A user trial: after a pasted block's question, Ctrl-C dropped it, and the room read
    "alice is typing" 4 s more."""
    alice, bob = alice_and_bob(spawn)
    pasted = "\n".join(f"pasted {i}" for i in range(1, 7))
    alice.send(f"\x1b[200~{pasted}\x1b[201~\r")
    alice.expect(on_screen("6 lines: Enter sends them all, Ctrl-C drops them"))
    next_event(bob, event="typing", username="alice", done=False)
    alice.send("\x03")
    next_event(bob, event="typing", username="alice", done=True)
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_ctrl_u_takes_back_the_whole_line_wherever_the_cursor_is(
    spawn: Callable[..., Any],
) -> None:
    """A user trial: "abc", Ctrl-A, Ctrl-D, Ctrl-U left "bc", sent as "are you there?bc"."""
    alice, bob = alice_and_bob(spawn)
    alice.send("abc\x01\x04\x15")  # Ctrl-A to its start, Ctrl-D a letter, Ctrl-U
    alice.send("are you there?\r")
    said = next_event(bob, event="message")
    assert said["text"] == "are you there?"
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_quitting_while_a_member_fetches_a_file_asks_first(
    spawn: Callable[..., Any], tmp_path: Path
) -> None:
    """A user trial: bob's /quit cut carol's fetch at 16%, unasked (and /part, at 44%, and
    trial 70's /cancel of her offer, at 60%)."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(512 << 20)  # sparse: quick to make and to read
    port = free_port()
    alice = start_alice(spawn, port, "--downloads", str(tmp_path / "alice"))  # not the user's
    bob = spawn(
        "--username", "bob", "--headless", "--tracker", f"127.0.0.1:{port}",
        "--downloads", str(tmp_path / "bob"),
    )  # fmt: skip
    next_event(bob, event="ready")
    alice.send(f"/send {big}\r")
    offer = next_event(bob, event="file_offer")
    (tmp_path / "small.bin").write_bytes(b"x" * 1000)
    bob.send(f"/send {tmp_path / 'small.bin'}\n")
    alice.expect(on_screen("bob offers small.bin"))
    bob.send(f"/get {offer['id']}\n")
    next_event(bob, event="file_progress")
    os.kill(bob.pid, signal.SIGSTOP)  # the fetch stays under way
    try:
        alice.send("/get 2\r")  # bob's small.bin, which waits now: her own fetch
        alice.send("/cancel 1\r")  # her offer, which bob fetches: asked first (trial 70)
        alice.expect(on_screen("fetching it from you now: bob ("))
        alice.send("/part\r")  # her only room: leaving it ends the program (trial 69)
        alice.expect(on_screen("your only room: leaving it ends the program. /part again"))
        alice.send("/part\r")  # (a user trial's /part cut a fetch at 44%)
        alice.expect(on_screen("bob is fetching big.bin from you ("))
        alice.expect(on_screen("you are fetching small.bin (0%)"))  # (and Ctrl-D one at 8%)
        alice.expect(on_screen("/part again within 10 s to leave"))
        alice.send("/quit bye all\r")
        alice.expect(on_screen("bob is fetching big.bin from you ("))
        alice.expect(on_screen("quit again within 10 s to leave"))
        alice.send("/quit\r")  # and her message goes with it (a user trial's was lost)
        expect_exit_0(alice)
        os.kill(bob.pid, signal.SIGCONT)
        left = next_event(bob, event="peer_left")
        assert "bye all" in left["reason"], left
    finally:
        os.kill(bob.pid, signal.SIGCONT)


def test_esc_before_a_command_leaves_it_a_command(spawn: Callable[..., Any]) -> None:
    """Trial 64: Esc, and "/msg carol the pin is 4711" within a second, sent "msg carol the
    pin is 4711" to the room: the "/" went with the Esc, as Alt-/."""
    alice, bob = alice_and_bob(spawn)
    for pause in (0.3, 0):  # a person's Esc, then a terminal's Alt-/ in one write
        alice.send("\x1b")
        time.sleep(pause)  # (how long a person takes to type on: no event to wait for)
        alice.send(f"/msg bob psst {pause}\r")
        said = next_event(bob, event="message", **{"from": "alice"})
        assert said["private"] and said["text"] == f"psst {pause}", said
    alice.send("\x1b")
    time.sleep(0.3)
    alice.send("2 apples\r")  # not Alt-2 (room 2), then " apples"
    said = next_event(bob, event="message", **{"from": "alice"})
    assert said["text"] == "2 apples", said
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_an_escape_code_typed_outside_a_paste_is_dropped(spawn: Callable[..., Any]) -> None:
    """An escape code such as ESC[31m reads as a mouse report; prompt_toolkit's handler raised
    on it (a user trial saw a traceback and "Press ENTER to continue", and lost the rest of the
    line)."""
    alice, bob = alice_and_bob(spawn)
    alice.send("red \x1b[31mtext\r")
    message = next_event(bob, event="message", **{"from": "alice"})
    assert message["text"] == "red text"
    alice.send("/quit\r")
    expect_exit_0(alice)


def unread_output(child: Any) -> int:
    """Bytes a terminal child has written that were not read yet (as many as one read gets)."""
    answer = fcntl.ioctl(child.child_fd, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(answer, sys.byteorder, signed=True)


def test_a_line_sent_while_a_message_is_printed_is_not_echoed_by_the_terminal(
    spawn: Callable[..., Any],
) -> None:
    """From a user trial: a line sent just as a message came in was left on screen a second
    time, next to that message. The message was printed with prompt_toolkit's run_in_terminal,
    which puts the terminal in its line mode, echo on, while it prints: the keys that came in
    meanwhile were echoed by the terminal itself, where the message was being printed.

    Here the print is held up where a slow terminal would hold it: alice's output is not read
    while a message too long for the pseudo-terminal's buffer is printed, and a line is typed
    and sent meanwhile. The terminal's echo of it would be the text and then its Enter as
    "\r\n"; everything the program writes ends its rows with "\r\r\n" (its own "\r\n", the
    terminal's output processing adding a "\r")."""
    alice, bob = alice_and_bob(spawn)
    alice.logfile_read = transcript = io.StringIO()
    # About 45 KB of UTF-8 ("€" is 3 bytes), in one message: far more than a pseudo-terminal
    # holds unread (about 17 KB on Linux).
    bob.sendline("€€€€€€€€€€ " * 1400)
    deadline = time.monotonic() + TIMEOUT
    # Output that only the long message's rows make: alice is now in the middle of writing
    # them, and stays there until her output is read.
    while unread_output(alice) < 2048:
        assert time.monotonic() < deadline, "alice never printed the long message"
        time.sleep(0.01)
    alice.send("quick reply\r")
    alice.expect(on_screen("<alice> quick reply"))
    message = next_event(bob, event="message", **{"from": "alice"})
    assert message["text"] == "quick reply"
    echoed = re.search(r"quick reply\r\n|(?<!\r)\r\n", transcript.getvalue())
    assert echoed is None, f"the terminal echoed what was typed: {echoed.group()!r}"
    alice.send("/quit\r")
    expect_exit_0(alice)


def chat_in_a_shell(tmp_path: Path) -> Any:
    """An interactive shell in a terminal (prompt ``SHELL$ ``) that has started alice's chat, a
    job it can stop and bring back. Nothing tells the program to expect no answers to cursor
    position requests: it must not need them."""
    env = child_env(tmp_path)
    env.pop("PROMPT_TOOLKIT_NO_CPR")
    env["PS1"] = "SHELL$ "
    shell = pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-i"],
        env=env,
        dimensions=(24, 100),
        encoding="utf-8",
        codec_errors="replace",
        timeout=TIMEOUT,
    )
    shell.expect_exact("SHELL$ ")
    port = free_port()
    shell.sendline(f"{sys.executable} -m peerchat --username alice --tracker 127.0.0.1:{port}")
    return shell


def test_ctrl_z_and_fg_leave_nothing_in_the_shell(tmp_path: Path) -> None:
    """Suspended from an interactive shell and brought back: the shell reads no stray bytes,
    and the prompt asks the terminal nothing whose answer could reach the shell (a cursor
    position request answered after the suspension printed ";1R" at the shell prompt)."""
    shell = chat_in_a_shell(tmp_path)
    shell.logfile_read = transcript = io.StringIO()  # all that reached the terminal
    try:
        shell.expect_exact("type /help for commands")
        shell.expect_exact("\x1b[?2004h")
        shell.send("half")
        shell.expect(on_screen("half"))
        shell.send("\x1a")  # Ctrl-Z
        shell.expect_exact("SHELL$ ")
        shell.sendline("echo shell-is-clean")
        shell.expect_exact("SHELL$ ")
        shell.sendline("fg")
        shell.expect_exact(DRAWN_ANEW)  # drawn over the shell's lines, from the top
        shell.expect(on_screen("type /help for commands"))  # the chat drawn again
        shell.expect(on_screen("> half"))  # and the prompt with what was typed
        # Back in the prompt's own keyboard mode: Ctrl-C clears the line (in the terminal's
        # line mode it would be an interrupt, and the program would quit).
        shell.send(" and more")
        shell.expect(on_screen("and more"))  # drawn after "half" (only what changed)
        shell.send("\x03")
        shell.send("whole\r")
        shell.expect(on_screen("<alice> whole"))
        shell.send("/quit\r")
        shell.expect_exact("SHELL$ ")
        screen = transcript.getvalue()
        assert "\x1b[6n" not in screen  # no cursor position request, ever
        assert re.search(r"\d+;\d+R", screen) is None  # and no answer to one anywhere
        assert "shell-is-clean" in screen
        assert "syntax error" not in screen and "not found" not in screen
        assert "Traceback" not in screen
        shell.sendline("echo status $?")
        shell.expect_exact("status 0")
    finally:
        shell.close(force=True)


def the_prompt_has_its_keyboard(shell: Any, draft: str, line: str) -> None:
    """Within ``SETTLE`` the terminal is out of line mode; then Ctrl-C clears ``draft`` (in
    line mode it would interrupt the program) and ``line`` is sent."""
    deadline = time.monotonic() + ui.SETTLE
    while termios.tcgetattr(shell.child_fd)[3] & termios.ICANON:
        assert time.monotonic() < deadline, "the prompt left the terminal in line mode"
        time.sleep(0.01)
    shell.send(draft)
    shell.expect(on_screen(draft))
    shell.send("\x03")
    shell.send(f"{line}\r")
    shell.expect(on_screen(f"<alice> {line}"))


@pytest.mark.parametrize("continued_first", [False, True])
def test_a_stop_from_outside_and_fg_give_the_prompt_its_keyboard_back(
    tmp_path: Path, continued_first: bool
) -> None:
    """A user trial: after ``kill -STOP`` (and ``kill -CONT``), ``fg`` left the shell's line
    mode, the terminal echoed "abc" and an Up, and Enter sent an old line."""
    shell = chat_in_a_shell(tmp_path)
    try:
        shell.expect_exact("type /help for commands")
        shell.expect_exact("\x1b[?2004h")
        (chat,) = Path(f"/proc/{shell.pid}/task/{shell.pid}/children").read_text().split()
        os.kill(int(chat), signal.SIGSTOP)
        shell.expect_exact("SHELL$ ")
        if continued_first:  # behind now: fg then brings it to the front without a signal
            os.kill(int(chat), signal.SIGCONT)
        shell.sendline("fg")
        shell.expect_exact(DRAWN_ANEW)  # drawn anew
        shell.expect(on_screen("type /help for commands"))
        the_prompt_has_its_keyboard(shell, "abc", "whole")
        shell.send("/quit\r")
        shell.expect_exact("SHELL$ ")
    finally:
        shell.close(force=True)


def test_after_fg_the_prompt_wins_back_its_keyboard_even_after_a_line_is_sent(
    tmp_path: Path,
) -> None:
    """The shell may set a stopped job's line mode late, after a line was already sent (which
    ends one prompt run): the next prompt still takes its own modes back."""
    shell = chat_in_a_shell(tmp_path)
    try:
        shell.expect_exact("type /help for commands")
        shell.expect_exact("\x1b[?2004h")
        shell.send("\x1a")  # Ctrl-Z
        shell.expect_exact("SHELL$ ")
        shell.sendline("fg")
        shell.send("first\r")
        shell.expect(on_screen("<alice> first"))
        late = termios.tcgetattr(shell.child_fd)  # the shell's line mode, set late
        late[3] |= termios.ICANON | termios.ECHO | termios.ISIG
        termios.tcsetattr(shell.child_fd, termios.TCSANOW, late)
        the_prompt_has_its_keyboard(shell, "draft", "second")
        shell.send("/quit\r")
        shell.expect_exact("SHELL$ ")
    finally:
        shell.close(force=True)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port on loopback whose connections the kernel accepts and nobody answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield silent.getsockname()[1]


def test_a_slow_join_says_where_it_connects_and_ctrl_c_gives_up(
    spawn: Callable[..., Any],
) -> None:
    with silent_listener() as port:  # accepts connections (the kernel does), never answers
        alice = spawn("--username", "alice", "--tracker", f"127.0.0.1:{port}", terminal=True)
        alice.expect(on_screen(f"connecting to 127.0.0.1:{port} ..."), timeout=5)
        alice.send("hello?\r")  # not in the room yet: nothing to send it to
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.expect(on_screen("hello?"))  # back in the input line, not lost (a user trial)
        # A second line is kept below the first, not glued to it (a user's two lines became
        # "first in qasecond in qa", sent as one).
        alice.logfile_read = drawn = io.StringIO()
        alice.send("again\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.expect(on_screen("again"))
        assert "hello?again" not in drawn.getvalue()
        started = time.monotonic()
        alice.send("\x03\x03")  # the first clears the line; on an empty line Ctrl-C quits
        alice.expect(on_screen(f"gave up joining 127.0.0.1:{port}"))
        expect_exit_0(alice)
        assert time.monotonic() - started < 3


def test_a_line_kept_while_joining_is_pointed_at_once_in(spawn: Callable[..., Any]) -> None:
    """Trial 52: a line typed while joining stayed in the input line once in, with nothing to
    say so; it looked sent."""
    with silent_listener() as port:
        alice = spawn("--username", "alice", "--tracker", f"127.0.0.1:{port}", terminal=True)
        alice.expect(on_screen(f"connecting to 127.0.0.1:{port} ..."), timeout=5)
        alice.send("said early\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
    # Nobody there now: alice founds the room there.
    alice.expect(on_screen("in now: Enter sends the line you typed"), timeout=20)
    alice.send("\r")
    alice.expect(on_screen("<alice> said early"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_a_line_kept_for_a_room_being_joined_is_not_sent_elsewhere_unasked(
    spawn: Callable[..., Any],
) -> None:
    """From a user trial: a line typed while a /join connected stayed in the input once the
    join failed, and went to the room left in front; Ctrl-U took back only the line break
    after it, and the next line was glued to it and sent."""
    with silent_listener() as port:
        first = free_port()
        alice = start_alice(spawn, first)
        alice.logfile_read = drawn = io.StringIO()
        alice.send(f"/join zzz 127.0.0.1:{port}\r")
        alice.expect(on_screen(f"connecting to 127.0.0.1:{port} ..."), timeout=5)
        alice.send("for zzz only\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.send("\x15")  # Ctrl-U: every row of it
        alice.send("typed anew\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.send("\x18")  # Ctrl-X: the first room in front, the line still in the input
        alice.send("\r")
        alice.expect(on_screen(f"typed for zzz: Enter sends it to 127.0.0.1:{first}"))
        alice.send("\r")
        alice.expect(on_screen("<alice> typed anew"))
        alice.send("/join zzz\r")  # kept again, given up with Ctrl-C, and a line typed anew
        alice.send("kept once more\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.send("\x18\r")
        alice.expect(on_screen("typed for zzz"))
        alice.send("\x03fresh\r")  # (a review: it was asked about as typed for zzz, and not sent)
        alice.expect(on_screen("<alice> fresh"))
        alice.send("/quit\r")
        expect_exit_0(alice)
        shown = drawn.getvalue()
        assert not on_screen("<alice> for zzz only").search(shown)
        assert not on_screen("<alice> kept once more").search(shown)


def test_ctrl_x_switches_rooms_at_once_each_time(spawn: Callable[..., Any]) -> None:
    """From a user trial: Ctrl-X waited a second for a second key (prompt_toolkit's Emacs
    chords begin with it), and a quick second press was lost."""
    alice = start_alice(spawn, free_port(), "--room", "home")  # (one without a name is left)
    alice.send(f"/join ops 127.0.0.1:{free_port()}\r")
    alice.expect(on_screen("nobody else is in the room yet"), timeout=10)
    started = time.monotonic()
    alice.send("\x18\x18")  # to home and back, in the status bar alone (two user trials)
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 home, 2 ops (in front)"))
    assert time.monotonic() - started < 0.9
    assert not on_screen("lines you type go to").search(alice.before)
    alice.send("/join OPS\r")  # a user trial: a room already open was a /join that said nothing
    alice.expect(on_screen("already in ops: lines you type go to the room ops now"))
    alice.send("\x1b[1;3D")  # Alt-Left, as xterm sends it: the room before, the first
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 home (in front), 2 ops"))
    alice.send("\x1b[1;3C")  # Alt-Right: the next, ops again
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 home, 2 ops (in front)"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_closing_the_terminal_keeps_the_rooms_joined_for_the_next_start(
    spawn: Callable[..., Any], tmp_path: Path
) -> None:
    """Trial 49 and a review: a terminal closed (its window, or its SSH session) ended the
    program as /quit does, and the rooms joined with /join were gone at the next start."""
    data = tmp_path / "alice-data"
    alice = start_alice(spawn, free_port(), "--room", "home", "--data-dir", str(data))
    alice.send(f"/join ops 127.0.0.1:{free_port()}\r")
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 home, 2 ops (in front)"), timeout=10)
    alice.ptyproc.fileobj.close()  # the terminal's end: a hangup, and a read that fails
    alice.ptyproc.closed = True  # (pexpect's own close would send SIGINT after)
    alice.ptyproc.wait()
    kept = json.loads((data / JOINED_FILE).read_text())
    assert [room for room, *_ in kept] == ["ops"], kept


def test_a_join_leaves_the_default_room_when_nobody_else_is_in_it(
    spawn: Callable[..., Any],
) -> None:
    """A user trial: alone in the default room, as its line suggested, /join dev kept it, and
    every line then named its room."""
    home, ops = free_port(), free_port()
    carol = spawn(
        "--username", "carol", "--headless", "--room", "ops", "--tracker", f"127.0.0.1:{ops}"
    )
    next_event(carol, event="ready")
    alice = start_alice(spawn, home)
    bob = spawn("--username", "bob", "--headless", "--tracker", f"127.0.0.1:{home}")
    alice.expect(on_screen("bob joined"))
    alice.send(f"/join ops 127.0.0.1:{ops}\r")  # bob is here: the default room stays
    alice.expect(on_screen("in the room: carol"))
    alice.send("/rooms\r")
    alice.expect(on_screen(f"rooms: 1 127.0.0.1:{home}, 2 ops (in front)"))
    bob.sendeof()  # bob quits: said in the window of the room behind
    alice.send(f"/room 127.0.0.1:{home}\r")
    alice.expect(on_screen("bob left"))
    alice.send("/part ops\r")
    alice.expect(on_screen("you left the room ops"))
    alice.send(f"/send {__file__}\r")  # an offer waits there for whoever comes: it stays
    alice.expect(on_screen("withdraws it)"))
    alice.send(f"/join ops 127.0.0.1:{ops}\r")
    alice.expect(on_screen("in the room: carol"))
    alice.send("/rooms\r")
    alice.expect(on_screen(f"rooms: 1 127.0.0.1:{home}, 2 ops (in front)"))
    alice.send(f"/room 127.0.0.1:{home}\r")
    alice.send("/cancel 1\r")
    alice.expect(on_screen("you no longer offer"))
    alice.send("/part ops\r")
    alice.expect(on_screen("you left the room ops"))
    alice.send(f"/join ops 127.0.0.1:{ops}\r")  # alone now: it is left
    alice.expect(on_screen(f"you left the room 127.0.0.1:{home}, where nobody else was"))
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 ops (in front)"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_ctrl_c_gives_up_a_second_room_still_connecting_and_stays_in_the_first(
    spawn: Callable[..., Any],
) -> None:
    """From a user trial: Ctrl-C during a /join ended the program and left every room.
    Trial 66: a second Ctrl-C right after the one that gave the join up quit, unwarned."""
    with silent_listener() as port:
        alice = start_alice(spawn, free_port())
        alice.send(f"/join zzz 127.0.0.1:{port}\r")
        alice.expect(on_screen(f"connecting to 127.0.0.1:{port} ..."), timeout=5)
        alice.send("hello?\r")
        alice.expect(on_screen("(Ctrl-C twice to give up the join)"))
        alice.send("\x03\x03")  # the first clears the line kept
        alice.expect(on_screen("gave up joining the room zzz"))  # never in it
        alice.send("half typed\x03")  # cleared; two more quit, as the toolbar says (trial 68)
        alice.send("\x0c")
        alice.expect_exact(DRAWN_ANEW)
        alice.expect(on_screen("line cleared: Ctrl-C twice more quits"))
        alice.send("\x03")  # not a quit: the toolbar says the next one is
        alice.send("\x0c")
        alice.expect_exact(DRAWN_ANEW)
        alice.expect(on_screen("not joined: Ctrl-C again quits"))
        alice.send("still here\r")
        alice.expect(on_screen("<alice> still here"))
        alice.send("\x03")  # (a line was typed since: an empty line's Ctrl-C quits again)
        expect_exit_0(alice)


def test_a_line_typed_below_a_kept_one_is_a_line_of_its_own(spawn: Callable[..., Any]) -> None:
    """A user trial: below a line kept while a /join connected, "/msg alice my secret is 42"
    went to the whole room as text, glued to the kept line (3 of 3)."""
    with silent_listener() as port:
        alice, bob = alice_and_bob(spawn)
        alice.send(f"/join zzz 127.0.0.1:{port}\r")
        alice.expect(on_screen("connecting to 127.0.0.1:"), timeout=5)
        alice.send("for zzz\r")
        alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.send("/msg bob psst")  # typed below it
        alice.expect(on_screen("/msg bob psst"))
        alice.send("\x18\r")  # Ctrl-X: the first room; Enter
        private = next_event(bob, event="message", private=True)
        assert private["text"] == "psst"
        alice.expect(on_screen("typed for zzz: Enter sends it to"))  # the kept line: asked
        alice.send("\r")
        said = next_event(bob, event="message")
        assert said["text"] == "for zzz" and not said.get("private")
        # Several kept lines are each their own (a user trial's second, a /msg, went to the
        # room as text, as the first was; after a /me, every line was an action: 5 of 5).
        alice.send("/join zzz\r")
        for line in ("hello zzz", "/msg bob my secret is 42", "/me waves"):
            alice.send(f"{line}\r")
            alice.expect(on_screen("not in the room yet: the line is kept"))
        alice.send("\x18\r")
        alice.expect(on_screen("typed for zzz: Enter sends it to"))
        alice.send("\r")
        said = [next_event(bob, event="message") for _ in range(3)]
        assert [(e["text"], bool(e.get("private")), bool(e.get("action"))) for e in said] == [
            ("hello zzz", False, False),
            ("my secret is 42", True, False),
            ("waves", False, True),
        ]
        alice.send("/quit\r")
        expect_exit_0(alice)


def test_lines_kept_while_a_join_connects_go_each_as_typed_once_in(
    spawn: Callable[..., Any],
) -> None:
    """A user trial's "hello ops" then "/msg robert my secret is 42", kept while /join ops
    connected, both went to ops as text once it was in (5 of 5)."""
    alice, bob = alice_and_bob(spawn)
    with silent_listener() as port:  # holds the join at "connecting" until it is closed
        alice.send(f"/join zzz 127.0.0.1:{port}\r")
        alice.expect(on_screen("connecting to 127.0.0.1:"), timeout=5)
        for line in ("hello zzz", "/msg bob my secret is 42", "/me waves"):
            alice.send(f"{line}\r")
            alice.expect(on_screen("not in the room yet: the line is kept"))
    carol = spawn("--username", "carol", "--headless", "--tracker", f"127.0.0.1:{port}")
    next_event(carol, event="ready")
    alice.expect(on_screen("carol joined"), timeout=10)
    alice.send("\r")
    said = [next_event(carol, event="message") for _ in range(2)]
    assert [(e["text"], e["action"]) for e in said] == [("hello zzz", False), ("waves", True)]
    alice.expect(on_screen("nobody called bob is in zzz"))  # a /msg, not a line to the room
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_closing_the_window_of_the_only_room_is_refused(spawn: Callable[..., Any]) -> None:
    """A user trial's /wc in its one room ended the program: irssi and weechat never close
    their last window."""
    alice = start_alice(spawn, free_port())
    alice.send("/wc\r")
    alice.expect(on_screen("your only room: /quit leaves it, and the program"))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_a_room_behind_keeps_its_chatter_in_its_window(spawn: Callable[..., Any]) -> None:
    """Trials 52-55 read two rooms' lines interleaved on one screen, where irssi users expect
    a window a room. A line of the room behind waits in its window, marked in the status bar,
    and is on the screen once that room is in front; a private message shows at once."""
    ops = free_port()
    carol = spawn(
        "--username", "carol", "--headless", "--room", "ops", "--tracker", f"127.0.0.1:{ops}"
    )
    next_event(carol, event="ready")
    alice = start_alice(spawn, free_port(), "--room", "home")
    alice.send("hello home\r")  # printed untagged: the only room then
    alice.expect(on_screen("<alice> hello home"))
    alice.logfile_read = drawn = io.StringIO()
    alice.send(f"/join ops 127.0.0.1:{ops}\r")
    alice.expect(on_screen("in the room: carol"), timeout=10)
    alice.send("\x18/rooms\r")  # home in front
    alice.expect(on_screen("rooms: 1 home (in front), 2 ops"))
    carol.sendline("behind the scenes")
    carol.sendline("/msg alice psst")
    alice.expect(on_screen("[private from carol] psst"))  # (after carol's line, on one link)
    assert not on_screen("<carol> behind the scenes").search(drawn.getvalue())
    alice.send("/rooms\r")
    alice.expect(on_screen("rooms: 1 home (in front), 2 ops!"))
    alice.send("\x1b2")  # Alt-2: ops in front, drawn anew with its lines
    alice.expect(on_screen("<carol> behind the scenes"))
    alice.expect(on_screen("rooms: home [ops] (Ctrl-X)"))
    alice.send("\x18\r")  # home again, Enter at once: its line drawn anew, tagged (trial 56)
    tagged = on_screen("[home]").pattern + r"(?:\x1b\[[0-9;?]*[A-Za-z]|[ 0-9:])*"
    alice.expect(re.compile(tagged + on_screen("<alice> hello home").pattern))
    alice.send("/quit\r")
    expect_exit_0(alice)


def test_page_up_scrolls_the_window_back_and_enter_comes_back_to_the_newest(
    spawn: Callable[..., Any],
) -> None:
    """Trial 57: of 50 lines in a room, the first 20 were out of reach but for /history, and
    the terminal's own scrollback held windows drawn anew. PageUp scrolls the window, as in
    irssi; lines that come meanwhile wait below; Enter comes back to them."""
    alice, bob = alice_and_bob(spawn)
    for n in range(60):
        bob.sendline(f"line {n:02}")
    alice.expect(on_screen("<bob> line 59"))
    alice.send("\x1b[5~\x1b[5~")  # two pages: 24 rows, a page of 21
    alice.expect(on_screen("<bob> line 17"))
    alice.expect(on_screen("scrolled back: PageDown for newer"))  # (not the oldest yet)
    bob.sendline("while scrolled")
    alice.expect(on_screen("new lines below"))
    assert not on_screen("<bob> while scrolled").search(alice.before + alice.after)
    alice.send("\r")  # a blank Enter: back to the newest
    alice.expect(on_screen("<bob> while scrolled"))
    alice.send("/quit\r")
    expect_exit_0(alice)
