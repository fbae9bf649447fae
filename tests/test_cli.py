"""peerchat.cli: a node that fails inside exits 1 with one line, the traceback kept aside."""

from __future__ import annotations

import argparse
import importlib.abc
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from e2e_helpers import Proc, free_port

from peerchat import cli, dirs, start
from peerchat.cli import _addresses, _node_launch, main, room_key_from_environment
from peerchat.datadir import DataDir
from peerchat.handshake import OPEN_ROOM
from peerchat.tracker_address import StartupError

# A real process whose node breaks half a second after it is ready, in a task that has nothing
# to do with any peer: the kind of bug that must end the program, not leave it running deaf.
BROKEN_NODE = """
import sys, trio
import peerchat.leadership
async def broken(self):
    await trio.sleep(0.5)
    raise RuntimeError("injected failure")
peerchat.leadership.Leadership.watch_tracker = broken
from peerchat.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def run_broken(tmp_path: Path, *extra: str) -> tuple[int, str]:
    args = ["--headless", "--ephemeral", "--username", "x", "--tracker", f"127.0.0.1:{free_port()}"]
    args += extra
    proc = Proc("broken", [sys.executable, "-c", BROKEN_NODE, *args], tmp_path)
    async with trio.open_nursery() as nursery:
        await proc._start(nursery)
        try:
            await proc.wait_for(event="ready")
            # stdin stays open: the process must not wait for it to close.
            status = await proc.wait_exit(timeout=5)
        finally:
            if proc.process.poll() is None:
                proc.process.kill()
    return status, proc.stderr()


@pytest.mark.parametrize("with_log", [True, False], ids=["log-file", "no-log-file"])
async def test_an_internal_failure_exits_1_with_one_line(tmp_path: Path, with_log: bool) -> None:
    log = tmp_path / "node.log"
    status, stderr = await run_broken(tmp_path, *(["--log-file", str(log)] if with_log else []))
    assert status == 1
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    match = re.fullmatch(r"peerchat: internal error \(RuntimeError\); details in (\S+)", lines[0])
    assert match, lines[0]
    where = Path(match.group(1))
    if with_log:
        assert where == log
    details = where.read_text()
    if not with_log:
        where.unlink()
    assert "Traceback" in details and "injected failure" in details


def test_retention_flags_set_the_stores_bounds() -> None:
    from peerchat.cli import DAY, _node_parser

    args = _node_parser().parse_args(["--username", "x", "--keep-messages", "500"])
    assert (args.keep_messages, args.keep_days) == (500, 30)
    args = _node_parser().parse_args(["--username", "x", "--keep-days", "2"])
    assert (args.keep_messages, args.keep_days * DAY) == (100_000, 2 * 24 * 3600.0)
    for bad in (["--keep-days", "0"], ["--keep-messages", "-3"], ["--keep-days", "1.5"]):
        with pytest.raises(SystemExit):
            _node_parser().parse_args(["--username", "x", *bad])


def test_the_room_secret_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret words\nnot this line\n")
    from_env = room_key_from_environment({"PEERCHAT_SECRET": "s3cret words"})
    assert room_key_from_environment({"PEERCHAT_SECRET_FILE": str(secret_file)}) == from_env
    assert from_env != OPEN_ROOM
    assert room_key_from_environment({}) == OPEN_ROOM
    assert room_key_from_environment({"PEERCHAT_SECRET": "other words!"}) != from_env


@pytest.mark.parametrize(
    "environ",
    [
        {"PEERCHAT_SECRET": ""},
        {"PEERCHAT_SECRET": "short"},
        {"PEERCHAT_SECRET": "a", "PEERCHAT_SECRET_FILE": "/nonexistent"},
        {"PEERCHAT_SECRET_FILE": "/nonexistent/secret"},
        {"PEERCHAT_SECRET_FILE": "EMPTY"},
    ],
    ids=["empty", "short", "both", "missing-file", "empty-file"],
)
def test_a_room_secret_that_cannot_be_used_is_a_usage_error(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    environ = {k: str(empty) if v == "EMPTY" else v for k, v in environ.items()}
    with pytest.raises(StartupError) as caught:
        room_key_from_environment(environ)
    assert caught.value.status == 2
    if "PEERCHAT_SECRET_FILE" in environ and "PEERCHAT_SECRET" not in environ:
        assert environ["PEERCHAT_SECRET_FILE"] in str(caught.value)  # which file it means


@pytest.mark.parametrize("priority", ["65536", "99999999999"])
def test_a_priority_past_the_port_range_is_a_usage_error(priority: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--username", "x", "--headless", "--ephemeral", "--priority", priority])
    assert exited.value.code == 2
    assert "0 to 65535" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], ["tracker", "--version"]])
def test_version_is_one_line_and_status_0(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"peerchat \d+\.\d+\.\d+ \(protocol \d+\)\n", out), out


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/PID/environ is Linux's")
def test_a_forgotten_variable_is_gone_from_the_process_and_what_it_shows() -> None:
    script = (
        "import os, posix\n"
        "from peerchat import hidden_env\n"
        "hidden_env.forget('PEERCHAT_SECRET')\n"
        "shown = open(f'/proc/{os.getpid()}/environ', 'rb').read()\n"
        "print(b'horse' in shown, 'PEERCHAT_SECRET' in os.environ)\n"
        "print(b'PEERCHAT_SECRET' in posix.environ)\n"
    )
    env = {**os.environ, "PEERCHAT_SECRET": "correct horse battery"}
    run = [sys.executable, "-c", script]
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


def test_a_room_secret_is_read_without_the_spaces_and_marks_a_paste_brings(
    tmp_path: Path,
) -> None:
    plain = room_key_from_environment({"PEERCHAT_SECRET": "s3cret words"})
    assert room_key_from_environment({"PEERCHAT_SECRET": " s3cret words \n"}) == plain
    assert room_key_from_environment({"PEERCHAT_SECRET": "\ufeffs3cret words"}) == plain
    pasted = tmp_path / "pasted"
    pasted.write_bytes("\ufeffs3cret words \r\n".encode())
    pasted.chmod(0o600)
    warnings: list[str] = []
    assert room_key_from_environment({"PEERCHAT_SECRET_FILE": str(pasted)}, warnings.append) == (
        plain
    )
    assert warnings == []
    pasted.chmod(0o644)
    room_key_from_environment({"PEERCHAT_SECRET_FILE": str(pasted)}, warnings.append)
    assert warnings == [f"{pasted} can be read by others than you (chmod 600 {pasted})"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--usernme", "alice"], "unrecognized argument --usernme (did you mean --username?)"),
        (["--username", "a", "--rooom=d"], "unrecognized argument --rooom (did you mean --room?)"),
        (["tracker", "--prot", "5000"], "unrecognized argument --prot (did you mean --port?)"),
        (["--user", "dave"], "unrecognized argument --user (did you mean --username?)"),
        # Nothing near: no guess (a user's --bogus was asked whether it meant --verbose).
        (["--username", "a", "--bogus"], "unrecognized argument --bogus (see"),
        # A short one: a user trial's "-u dave" read only that --username was required.
        (["-u", "dave"], "unrecognized argument -u (did you mean --username?)"),
        (["--username", "a", "--downloads", __file__], f"argument --downloads: '{__file__}' is"),
        # A value that begins with "-" (a user trial's name "-bob") goes after "=".
        (["--username", "-bob"], "argument -bob (a value that starts with '-' goes after '=': "),
        (["--headless", "-bob"], "unrecognized argument -bob (see"),  # a flag takes no value
        # A stray word: a trial's "peerchat carl --room dev" read only that --username was
        # required.
        (["carl", "--room", "dev"], "argument 'carl' (a name goes after --username: --username "),
        (["--username=a", "b c"], "unrecognized argument 'b c' (see"),
        # With a name given, an irssi user's "#dev" was told "--username #dev?" (trial 46).
        (
            ["--username", "alice", "#Dev"],
            "argument '#Dev' (a room goes after --room: --room dev?)",
        ),
        # With a room given too, not "--room extra?" (trial 52).
        (["--username", "eve", "--room", "dev", "extra"], "unrecognized argument 'extra' (see"),
        (["--username", "a", "--secret", "x"], "argument --secret (a room's secret is never an"),
        (["tracker", "--port", "5000", "x"], "unrecognized argument 'x' (see"),
    ],
)
def test_a_misspelt_option_is_named_before_the_required_one_it_hides(
    argv: list[str], said: str, capsys
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert said in err, err
    assert "required" not in err


@pytest.mark.parametrize(
    ("given", "means"),
    [
        ("10.77.0.1", (("10.77.0.1", 5000),)),
        ("[::1]", (("::1", 5000),)),
        ("fe80::0", (("fe80::0", 5000),)),  # a bare IPv6 address ends in ":0": no port 0
        ("hosta,10.0.0.2:6000", (("hosta", 5000), ("10.0.0.2", 6000))),
    ],
)
def test_a_tracker_given_without_a_port_is_at_port_5000(given: str, means: tuple) -> None:
    """As the README says of the default (a user trial was refused "is not HOST:PORT")."""
    assert _addresses(given) == means


@pytest.mark.parametrize("given", ["127.0.0.1:99999", "a b", "10.0.0.1:", ""])
def test_a_tracker_address_that_is_none_is_refused(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        _addresses(given)
    out_of_range = "port 99999 is out of range: a port is 1-65535"  # not "is not HOST:PORT"
    assert (str(refused.value) == out_of_range) == given.endswith("99999")


def test_a_room_is_named_on_the_command_line_as_join_takes_it() -> None:
    """Trial 46: "/join #dev" joined dev, while "--room '#dev'" was refused."""
    launch = _node_launch(
        ["--username", "amy", "--headless", "--ephemeral", "--room", "#Dev"], OPEN_ROOM
    )
    assert launch.settings.room_name == "dev"


@pytest.mark.parametrize(
    ("given", "listens"),
    [
        (["--tracker", "127.0.0.1:5000"], "127.0.0.1"),
        ([], "127.0.0.1"),  # the room at port 5000 here
        # A room on another computer: loopback would be an address nobody there can dial
        # (a user's room split in two so).
        (["--tracker", "10.0.0.7:41000"], "0.0.0.0"),
        (["--tracker", "[fd00::7]:41000"], "::"),
        (["--tracker", "127.0.0.1:5000,10.0.0.7:41000"], "0.0.0.0"),
        (["--tracker", "10.0.0.7:41000", "--host", "10.0.0.2"], "10.0.0.2"),
        (["--room", "dev"], "0.0.0.0"),  # found on the network
    ],
)
def test_a_node_listens_where_its_room_can_reach_it(given: list[str], listens: str) -> None:
    launch = _node_launch(["--username", "amy", "--headless", "--ephemeral", *given], OPEN_ROOM)
    assert launch.settings.host == listens


@pytest.mark.parametrize(
    ("addr", "listens"), [(("10.0.0.7", 41000), "0.0.0.0"), (("127.0.0.1", 41000), "127.0.0.1")]
)
def test_join_of_a_room_at_another_computers_address_listens_where_it_can_be_reached(
    addr: tuple[str, int], listens: str
) -> None:
    """A user's ``/join dev 10.88.0.1:42287`` made a node at 127.0.0.1 in a room on another
    computer: "tells others it is at 127.0.0.1", and later the room split in two."""
    launch = _node_launch(["--username", "amy", "--headless", "--ephemeral"], OPEN_ROOM)
    assert launch.make is not None
    node = launch.make("dev", addr, None, lambda event: None)
    assert node.settings.host == listens


def test_join_goes_by_the_name_it_is_given_or_else_the_programs() -> None:
    launch = _node_launch(["--username", "amy", "--headless", "--ephemeral"], OPEN_ROOM)
    assert launch.make is not None
    renamed = launch.make("dev", ("127.0.0.1", 41000), "amelia", lambda event: None)
    assert renamed.username == "amelia"  # not in the room yet: the name it will go by
    assert launch.make("ops", ("127.0.0.1", 41001), None, lambda event: None).username == "amy"


def test_the_room_started_in_keeps_its_data_dir_when_joined_again(tmp_path: Path) -> None:
    """A user trial: alice started in dev with --data-dir D, joined ops, left dev and joined it
    again: dev was then D@dev, a key of its own, and the room read "another key"."""
    argv = ["--username", "alice", "--room", "dev", "--data-dir", str(tmp_path / "d"), "--headless"]
    launch = _node_launch(argv, OPEN_ROOM)
    assert launch.make is not None
    for room, folder in (("dev", "d"), ("ops", "d@ops")):
        node = launch.make(room, None, None, lambda event: None)
        try:
            assert node.data_dir is not None and node.data_dir.path == tmp_path / folder
        finally:
            node.store.close()
            node.numbers.close()
            node.data_dir.close()


def test_a_second_program_of_one_user_in_one_room_is_told_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user trial: "give this one its own with --data-dir", followed, met "the name alice
    is taken" (the same person was in the room already)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    port = free_port()
    args = ["--username", "alice", "--room", "dev", "--tracker", f"127.0.0.1:{port}", "--headless"]
    held = DataDir(dirs.data() / "alice@dev")
    try:
        assert main(args) == 2
    finally:
        held.close()
    said = capsys.readouterr().err
    assert "another peerchat program of yours is in the room dev already" in said, said
    assert "--username NAME" in said and "--data-dir" not in said


def test_a_standalone_tracker_whose_address_is_held_says_the_room_may_go_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A user trial's standalone tracker, started again after a kill -9, read only "Address
    already in use": a member held the room's address, and the room went on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        assert main(["tracker", "--host", "127.0.0.1", "--port", str(port), "--ephemeral"]) == 2
    said = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in said and "a member holds its address" in said


def test_a_damaged_identity_key_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried by hand: the line came after a traceback of the node being made."""
    (tmp_path / "identity.key").write_bytes(b"garbage\n")
    args = ["--username", "alice", "--data-dir", str(tmp_path), "--headless"]
    assert main([*args, "--tracker", f"127.0.0.1:{free_port()}"]) == 1
    said = capsys.readouterr().err
    assert said.startswith("peerchat: the identity key") and "damaged" in said, said
    assert "Traceback" not in said and len(said.splitlines()) == 1, said


def test_what_a_peer_put_in_a_log_line_is_escaped() -> None:
    """Attack round 42: a host's IPv6 zone put an escape sequence, and a forged line, on a
    tracker's stderr through a warning."""
    formatter = cli._LogLines("%(levelname)s %(message)s")
    evil = "mal@[::1%\x1b]0;PWNED\x07\r\nERROR fake: run this]:1"
    record = logging.LogRecord("x", logging.WARNING, "", 0, "to %s", (evil,), None)
    line = formatter.format(record)
    assert line == "WARNING to mal@[::1%\\x1b]0;PWNED\\x07\\r\\nERROR fake: run this]:1"
    try:
        raise ValueError(evil)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "", 0, "boom", (), sys.exc_info())
    shown = formatter.format(record)
    assert "\x1b" not in shown and "\r" not in shown and "ValueError: mal@[::1%\\x1b]0;" in shown
    assert shown.count("\n") >= 2  # the traceback's own lines stay lines


class _CtrlCWhileLoading(importlib.abc.MetaPathFinder):
    """Ctrl-C as Python loads ``peerchat.cli``: KeyboardInterrupt from the import."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "peerchat.cli":
            raise KeyboardInterrupt


def test_ctrl_c_while_the_program_loads_ends_it_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial 71: Ctrl-C in the first second printed a traceback, from whichever import ran."""
    monkeypatch.delitem(sys.modules, "peerchat.cli")
    monkeypatch.setattr(sys, "meta_path", [_CtrlCWhileLoading(), *sys.meta_path])
    assert start.main() == start.INTERRUPTED


@pytest.mark.parametrize("after", [0.15, 0.3, 0.5])
def test_ctrl_c_at_any_moment_of_the_start_ends_the_program_without_a_traceback(
    tmp_path: Path, after: float
) -> None:
    """The same, in a real process (on this machine, Python loads the program in 0.3-0.8 s),
    counted from when Python itself has started: Ctrl-C in Python's own start (its site
    module) is Python's to print, before any of the program's code (a loaded machine's
    suite hit it at 0.15 s)."""
    args = ["--headless", "--ephemeral", "--username", "x", "--tracker", f"127.0.0.1:{free_port()}"]
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    after += time.monotonic() - began
    proc = subprocess.Popen(
        [sys.executable, "-m", "peerchat", *args],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    try:
        proc.wait(after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode(errors="replace")
    # (-SIGINT: the signal's own end, as quiet: seen once in 8 runs on a loaded machine)
    assert proc.returncode in (0, start.INTERRUPTED, -signal.SIGINT), err
