"""The command line: arguments, logging, the front end, exit codes (0 quit, 1 failure, 2 usage)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import logging
import os
import resource
import shlex
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from peerchat import PROTOCOL_VERSION, __version__, dirs, events, heap, hidden_env
from peerchat.addresses import DEFAULT_TRACKER_PORT, bad_port, home_port, is_loopback, is_wildcard
from peerchat.config import Config
from peerchat.datadir import DataDir, InUse
from peerchat.handshake import MIN_SECRET, OPEN_ROOM, room_key
from peerchat.membership import NAME_RULE, may_take, room_name, valid_room_name
from peerchat.node import Node, Settings
from peerchat.protocol import MAX_PRIORITY, tracker_address, valid_host
from peerchat.rooms import NodeMaker, Rooms
from peerchat.safe_text import escaped
from peerchat.tracker_address import StartupError

if TYPE_CHECKING:
    from peerchat.ui import PromptUI

VERSION = f"peerchat {__version__} (protocol {PROTOCOL_VERSION})"
DAY = 24 * 3600.0
DEFAULTS = Config()


class Frontend(Protocol):
    def show(self, event: events.Event, room: str | None = None) -> None: ...
    async def drive(self, rooms: Rooms) -> None: ...
    def stop(self) -> None: ...

    leaves_lone_first: bool  # ``Rooms``'s: a /join leaves a first room one was alone in


class _Parser(argparse.ArgumentParser):
    """Options in full: ``--user dave`` is refused, not taken for ``--username`` (a user
    trial took it for a typo the program let pass)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line and status 2, instead of argparse's usage block."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        """Names a misspelt option first: argparse would blame the required one it hides."""
        argv = sys.argv[1:] if args is None else list(args)
        known = self._option_string_actions
        for before, token in zip(["", *argv], argv, strict=False):
            if token == "--":
                break
            name = token.split("=", 1)[0]
            option = token.startswith("-") and name != "-" and not name[1:].isdigit()
            if option and name not in known:
                import difflib  # for this hint alone: not loaded by every node that starts

                near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
                if not token.startswith("--"):  # "-u": a user trial read only that
                    near = [o for o in known if o.startswith("-" + name)][:1]  # --username...
                hint = f" (did you mean {near[0]}?)" if near else ""
                if name in _SECRET_OPTIONS and "--room" in known:  # (a user trial's --secret)
                    hint = f" ({SECRET_NOT_AN_OPTION})"
                if before in known and known[before].nargs != 0:  # "--username -bob" (a trial)
                    hint = f" (a value that starts with '-' goes after '=': {before}={token})"
                self.error(f"unrecognized argument {name}{hint}")
            if not option and not (before in known and known[before].nargs != 0):
                self.error(f"unrecognized argument {token!r}{self._positional_hint(token, argv)}")
        return super().parse_args(argv, namespace)

    def _positional_hint(self, token: str, argv: list[str]) -> str:
        """What a word given alone was likely meant for: the name ("peerchat carl --room dev":
        a trial read only that --username was required), or, with a name given, the room (an
        irssi user's "peerchat --username alice '#dev'" was told "--username #dev?")."""
        known = self._option_string_actions
        named = any(a == "--username" or a.startswith("--username=") for a in argv)
        roomed = any(a == "--room" or a.startswith("--room=") for a in argv)  # ("--room dev
        # extra" was told "--room extra?": a trial)
        if "--room" in known and named and not roomed and valid_room_name(room_name(token)):
            return f" (a room goes after --room: --room {room_name(token)}?)"
        if "--username" in known and not named and may_take(token):
            return f" (a name goes after --username: --username {token}?)"
        return ""


def _username(value: str) -> str:
    if not may_take(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a username: use {NAME_RULE}")
    return value


def _downloads(value: str) -> Path:
    """A directory, or a path where one can be made at the first fetch: a user trial's
    ``--downloads /etc/passwd`` was taken, and /get then said "File exists"."""
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory")
    return path


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0-65535)")
    return int(value)


def _priority(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_PRIORITY:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a priority (a whole number from 0 to {MAX_PRIORITY})"
        )
    return int(value)


def _addresses(value: str) -> tuple[tuple[str, int], ...]:
    out = []
    for part in value.split(","):
        parsed = tracker_address(part)
        if parsed is None and (why := bad_port(part)) is not None:
            raise argparse.ArgumentTypeError(why)
        if parsed is None:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not HOST[:PORT] (for example 127.0.0.1:5000 or [::1]:5000)"
            )
        out.append(parsed)
    return tuple(out)


def _room_name(value: str) -> str:
    name = room_name(value)  # "#dev" too, as /join takes it (a user trial's was refused)
    if not valid_room_name(name):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a room name: 1-32 ASCII letters, digits, '-' and '_'"
        )
    return name


def _count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10**9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 up")
    return int(value)


def _host(value: str) -> str:
    if not valid_host(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an address or host name")
    return value


# Options a user may try for a room's secret (a user trial's --secret was "unrecognized").
_SECRET_OPTIONS = ("--secret", "--password", "--psk", "--key", "--pass")
SECRET_NOT_AN_OPTION = (
    "a room's secret is never an option, as others can read a command line: put it in a file "
    "and give PEERCHAT_SECRET_FILE=PATH, or PEERCHAT_SECRET"
)
SECRET_HELP = (
    "A private room: give every member the same secret in the environment, PEERCHAT_SECRET, or "
    "in a file named by PEERCHAT_SECRET_FILE (never on the command line, which others can "
    "read). Without one the room is open to anyone who can reach it, and still encrypted."
)


def room_key_from_environment(
    environ: Mapping[str, str], warn: Callable[[str], None] = lambda _: None
) -> bytes:
    """The room's pre-shared key, from PEERCHAT_SECRET or the file PEERCHAT_SECRET_FILE names
    (its first line); the open room's key when neither is set. Spaces, a line end or a byte
    order mark around the secret are not part of it (a paste brings them unseen). ``warn`` is
    told of a file others may read."""
    secret, path = environ.get("PEERCHAT_SECRET"), environ.get("PEERCHAT_SECRET_FILE")
    if secret is not None and path is not None:
        raise StartupError("set PEERCHAT_SECRET or PEERCHAT_SECRET_FILE, not both", status=2)
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
            if Path(path).stat().st_mode & 0o077:
                warn(f"{path} can be read by others than you (chmod 600 {shlex.quote(path)})")
        except OSError as exc:
            why = f"{path}: {exc.strerror or type(exc).__name__}"
            raise StartupError(f"cannot read PEERCHAT_SECRET_FILE {why}", status=2) from None
        except UnicodeDecodeError:
            raise StartupError("PEERCHAT_SECRET_FILE is not UTF-8 text", status=2) from None
        secret = lines[0] if lines else ""
    if secret is None:
        return OPEN_ROOM
    secret = secret.strip().removeprefix("\ufeff").strip()
    if path is not None and not secret:
        raise StartupError(f"the first line of {path} is empty: the secret goes there", status=2)
    if len(secret) < MIN_SECRET:
        raise StartupError(
            f"the room secret must be at least {MIN_SECRET} characters (make one with: python3 "
            '-c "import secrets; print(secrets.token_urlsafe(24))")',
            status=2,
        )
    return room_key(secret)


def _warn(text: str) -> None:
    print(f"peerchat: warning: {text}", file=sys.stderr)


def _node_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="peerchat",
        description="A chat room for the terminal with no server. "
        "Run `peerchat tracker --help` for a tracker that does not chat.",
        epilog=SECRET_HELP,
    )
    p.add_argument("--username", type=_username, required=True, help="the name others see")
    p.add_argument(
        "--host",
        type=_host,
        help="address to listen on and to tell others; 0.0.0.0 or :: listens everywhere and "
        "tells each peer the address it was reached by (default 127.0.0.1; 0.0.0.0 for a room "
        "found on the local network)",
    )
    p.add_argument("--port", type=_port, default=0, help="own listen port; 0 picks a free one")
    p.add_argument(
        "--tracker",
        type=_addresses,
        metavar="HOST[:PORT][,...]",
        help="where the room is found: its tracker's address or any member's; a comma list is "
        "tried in order; a HOST alone means port 5000 (default: port 5000 on the --host address)",
    )
    p.add_argument("--priority", type=_priority, help="election priority (default: listen port)")
    p.add_argument(
        "--room",
        type=_room_name,
        help="the room's name: a join at an address that hosts another room is refused; "
        "without --tracker the room is found by its name on the local network (multicast DNS)",
    )
    p.add_argument("--headless", action="store_true", help="JSON events on stdout, no prompt")
    p.add_argument(
        "--downloads",
        metavar="PATH",
        type=_downloads,
        help="where fetched files go (default: your downloads directory)",
    )
    p.add_argument("--version", action="version", version=VERSION)
    _add_storage(p)
    _add_retention(p)
    _add_logging(p)
    return p


def _tracker_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="peerchat tracker", description="Run a tracker that does not chat.", epilog=SECRET_HELP
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000)")
    p.add_argument("--version", action="version", version=VERSION)
    _add_storage(p, "peerchat/tracker-<port>")
    _add_logging(p)
    return p


def _add_storage(p: argparse.ArgumentParser, default: str = "") -> None:
    where = p.add_mutually_exclusive_group()
    rooms = "peerchat/<username>, or peerchat/<username>@ROOM for --room ROOM; a room joined "
    rooms += "with /join keeps its own beside it, NAME@ROOM, but the --room room keeps PATH"
    where.add_argument(
        "--data-dir",
        metavar="PATH",
        type=Path,
        help="where this node keeps its key, its messages and the members it knew "
        f"(default: the user data dir, {default or rooms})",
    )
    where.add_argument(
        "--ephemeral", action="store_true", help="keep nothing on disk (bots, tests)"
    )


def _add_retention(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keep-messages",
        type=_count,
        default=DEFAULTS.keep_messages,
        metavar="N",
        help=f"messages kept in the store at most (default {DEFAULTS.keep_messages:,})",
    )
    p.add_argument(
        "--keep-days",
        type=_count,
        default=round(DEFAULTS.keep_seconds / DAY),
        metavar="D",
        help=f"days a message is kept at most (default {round(DEFAULTS.keep_seconds / DAY)})",
    )


def _listen_for(trackers: tuple[tuple[str, int], ...] | None) -> str:
    """Where a node listens when ``--host`` is not given: on loopback for a room on this
    computer, everywhere for one at another's address, which others there could not dial back
    on loopback (a user's ``/join dev 10.0.0.7:41000`` split the room so)."""
    if not trackers or all(is_loopback(host) for host, _ in trackers):
        return "127.0.0.1"
    return "::" if ":" in trackers[0][0] else "0.0.0.0"


def _default_tracker(host: str) -> tuple[tuple[str, int], ...]:
    """Port 5000 on the --host address; on loopback when --host listens everywhere."""
    if is_wildcard(host):
        host = "::1" if ":" in host else "127.0.0.1"
    return ((host, DEFAULT_TRACKER_PORT),)


def _open_data_dir(args: argparse.Namespace, name: str) -> DataDir | None:
    if args.ephemeral:
        return None
    if args.data_dir is not None:
        return DataDir(args.data_dir)
    room = getattr(args, "room", None)  # (``peerchat tracker`` has no --room, nor a /nick)
    try:
        return DataDir(dirs.data() / name, _named_in(room))
    except InUse as exc:  # (a user trial's --data-dir, as advised, met "the name is taken")
        where = f"the room {room}" if room else "this room"
        advice = "start this one as someone else (--username NAME)"
        raise _in_use_elsewhere(f"{where} already", exc, advice, 2) from None


def _in_use_elsewhere(where: str, exc: InUse, advice: str, status: int = 1) -> StartupError:
    """A data dir in use: the same person's other program is in that room."""
    return StartupError(
        f"another peerchat program of yours is in {where} (its data dir {exc.path} is in use): "
        f"chat there, or {advice}",
        status,
    )


def _named_in(room: str | None) -> Callable[[str], Path]:
    """Where the data dir of a user of each name is, for ``room`` (none: the default room)."""
    return lambda username: dirs.data() / (username if room is None else f"{username}@{room}")


def _add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-file", metavar="PATH", help="write diagnostics to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="more detail in the log")


def _setup_logging(log_file: str | None, verbose: bool, *, stderr: bool) -> None:
    """Diagnostics go to the log file, never onto the chat screen."""
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    root.setLevel(level)
    if log_file:
        handler: logging.Handler = logging.FileHandler(log_file)
    elif stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
    else:
        handler = logging.NullHandler()
    handler.setFormatter(_LogLines("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # Python's warnings too: one a library's thread set off was written over the chat screen
    # (trial 69: "RuntimeWarning: coroutine ... was never awaited" in the input line).
    logging.captureWarnings(True)


class _LogLines(logging.Formatter):
    """A log line a record, whatever a peer put in it escaped (attack round 42: an address's
    IPv6 zone put an escape sequence, and a line of its own, on a tracker's stderr)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escaped(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return "\n".join(escaped(line) for line in super().formatException(ei).split("\n"))


@dataclasses.dataclass
class _Launch:
    """What the command line asks for: a node (or a standalone tracker) and its front end."""

    args: argparse.Namespace
    settings: Settings
    config: Config
    data_name: str  # the data dir's name under the platform's: one per person and room
    frontend: Frontend
    prompt: PromptUI | None = None  # the line interface, when that is the front end
    make: NodeMaker | None = None  # how ``/join`` makes another room (a tracker has none)
    # Numbers for the file offers of every room: "/get 1" names one offer, whichever room.
    offer_ids: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    heap.keep_large_blocks_mapped()
    try:
        psk = room_key_from_environment(os.environ, _warn)
    except StartupError as exc:
        print(f"peerchat: {exc}", file=sys.stderr)
        return exc.status
    hidden_env.forget("PEERCHAT_SECRET")  # kept as the key only: not for `ps e` to show
    tracker = argv[:1] == ["tracker"]
    launch = _tracker_launch(argv[1:], psk) if tracker else _node_launch(argv, psk)
    interactive = launch.prompt is not None
    if sys.stdout is None or sys.stdin is None:
        print("peerchat: standard input and output must be open", file=sys.stderr)
        return 2
    if interactive and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "peerchat: the line interface needs a terminal; for pipes use --headless",
            file=sys.stderr,
        )
        return 2
    if launch.prompt is not None:
        launch.prompt.hush()
    try:
        return _launched(launch)
    finally:
        if launch.prompt is not None:
            launch.prompt.unhush()


def _launched(launch: _Launch) -> int:
    """What ``main`` does once the command line is read: the exit status."""
    args = launch.args
    try:
        _setup_logging(args.log_file, args.verbose, stderr=launch.prompt is None)
    except OSError as exc:
        print(f"peerchat: cannot open the log file: {exc}", file=sys.stderr)
        return 2
    _raise_descriptor_limit()
    try:
        data_dir = _open_data_dir(args, launch.data_name)
    except StartupError as exc:
        print(f"peerchat: {exc}", file=sys.stderr)
        return exc.status
    try:
        return _run_until_quit(launch, data_dir)
    finally:
        if data_dir is not None:
            data_dir.close()


def _tracker_launch(argv: list[str], psk: bytes) -> _Launch:
    args = _tracker_parser().parse_args(argv)
    # Its election priority is the tracker port, as if it listened there only: chatting
    # nodes, on higher ports, outrank it.
    settings = Settings(
        "tracker", args.host, 0, args.host, args.port, args.port, chat=False, psk=psk
    )
    from peerchat.headless import TrackerConsole

    console = TrackerConsole(settings.tracker_addr)
    return _Launch(args, settings, Config(), f"tracker-{args.port}", console)


def _node_launch(argv: list[str], psk: bytes) -> _Launch:
    parser = _node_parser()
    args = parser.parse_args(argv)
    discover = args.room is not None and args.tracker is None
    host_given = args.host is not None
    if args.host is None:  # a room found on, or named at, the network is joined from it
        args.host = "0.0.0.0" if discover else _listen_for(args.tracker)
    if discover:
        trackers = (("127.0.0.1", home_port(args.room)),)
    else:
        trackers = args.tracker or _default_tracker(args.host)
    (host, port), more = trackers[0], trackers[1:]
    if (args.host, args.port) == (host, port):
        parser.error(
            f"--port {port} is the tracker's address; a node listens on a port of its own "
            "and takes the tracker address when it founds the room"
        )
    settings = Settings(
        args.username,
        args.host,
        args.port,
        host,
        port,
        args.priority,
        more_trackers=more,
        psk=psk,
        room_name=args.room or "",
        discover=discover,
        downloads=str(args.downloads or ""),
        job_control=not args.headless,
    )
    config = Config(keep_messages=args.keep_messages, keep_seconds=args.keep_days * DAY)
    # Each named room has its own identity, history and remembered members.
    data_name = args.username if args.room is None else f"{args.username}@{args.room}"
    offer_ids = itertools.count(1)
    make = _room_maker(args, settings, config, host_given, offer_ids)
    if args.headless:
        from peerchat.headless import Headless

        frontend: Frontend = Headless()
        return _Launch(args, settings, config, data_name, frontend, None, make, offer_ids)
    from peerchat.ui import PromptUI

    prompt = PromptUI()
    return _Launch(args, settings, config, data_name, prompt, prompt, make, offer_ids)


def _run_until_quit(launch: _Launch, data_dir: DataDir | None) -> int:
    """Run the node until the user quits; the exit status, and one line for what failed."""
    if launch.prompt is not None and data_dir is not None:
        launch.prompt.keep_input_history(data_dir.path / "input_history")
    settings, frontend = launch.settings, launch.frontend
    label = settings.room_name or settings.tracker_addr  # how the first room is named on screen
    status = 0
    try:
        node = Node(
            settings,
            lambda event: frontend.show(event, label),
            launch.config,
            data_dir,
            launch.offer_ids,
        )
        trio.run(_run, node, label, launch.make, frontend)
    except* StartupError as group:
        error = _first_leaf(group)
        print(f"peerchat: {error}", file=sys.stderr)
        status = getattr(error, "status", 1)
    except* KeyboardInterrupt:
        pass
    except* Exception as group:
        error = _first_leaf(group)
        where = _record_crash(group, launch.args.log_file)
        print(
            f"peerchat: internal error ({type(error).__name__}); details in {where}",
            file=sys.stderr,
        )
        status = 1
    return status


def _room_maker(
    args: argparse.Namespace,
    first: Settings,
    config: Config,
    host_given: bool,
    offer_ids: Iterator[int],
) -> NodeMaker:
    """How ``/join`` makes the node of another room: the same person (--host, storage choice;
    the name it goes by where /join was typed) in a room of its own, found on the local network
    unless an address is given, with the secret in ``room_secret_path(room)`` (an open room
    without one). Its data dir is the first room's with ``@ROOM`` added."""

    def make(
        room: str,
        addr: tuple[str, int] | None,
        username: str | None,
        emit: Callable[[events.Event], None],
    ) -> Node:
        path = room_secret_path(room)
        kept = {"PEERCHAT_SECRET_FILE": str(path)} if path.exists() else {}
        # The open room's key without a file; a warning about the file goes to that room.
        psk = room_key_from_environment(kept, lambda text: emit(events.Error(text)))
        secret_from = f"the first line of {path}"
        if not kept and room == first.room_name:  # the room it started in, joined again after
            # /part: with the secret it started with (trial 54: "missing room secret")
            psk, secret_from = first.psk, first.secret_from
        host = first.host
        if not host_given:  # as for the first room: found on the network, joined from it
            host = "0.0.0.0" if addr is None else _listen_for((addr,))
        settings = dataclasses.replace(
            first,
            username=username or first.username,
            host=host,
            port=0,
            priority=None,
            tracker_host=addr[0] if addr else "127.0.0.1",
            tracker_port=addr[1] if addr else home_port(room),
            more_trackers=(),
            psk=psk,
            room_name=room,
            discover=addr is None,
            secret_from=secret_from,
        )
        try:
            data_dir = None if args.ephemeral else _joined_data_dir(args, room, first)
        except InUse as exc:  # (a user trial: the advice was of options for the command line)
            advice = "leave the room there first"
            raise _in_use_elsewhere(f"the room {room}", exc, advice) from None
        return Node(settings, emit, config, data_dir, offer_ids)

    return make


def _joined_data_dir(args: argparse.Namespace, room: str, first: Settings) -> DataDir:
    """The data dir of a room joined with ``/join``."""
    if args.data_dir is not None and room == first.room_name:
        # The room it started in, joined again after /part (or left for another of its name):
        # its own identity and history as at the start (a trial's alice came back as "another
        # key" from PATH@dev). (Found by the user's name, it is NAME@ROOM either way.)
        return DataDir(args.data_dir)
    if args.data_dir is not None:
        return DataDir(args.data_dir.with_name(f"{args.data_dir.name}@{room}"))
    named = _named_in(room)
    return DataDir(named(args.username), named)


def room_secret_path(room: str) -> Path:
    """Where the secret of a room joined with ``/join`` is kept: a file of the user's own
    (first line), never typed where a shell's history or ``ps`` would show it."""
    return dirs.config() / "secrets" / room


def _record_crash(error: BaseException, log_file: str | None) -> str:
    """Put the traceback where a bug report can take it from, never on the chat screen: the log
    file, or else a file of its own. Returns where it went."""
    if log_file:
        logging.getLogger(__name__).critical("internal error", exc_info=error)
        return log_file
    fd, path = tempfile.mkstemp(prefix="peerchat-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as out:
        out.write("".join(traceback.format_exception(error)))
    return path


def _raise_descriptor_limit() -> None:
    """Every connection takes a descriptor: allow as many as the system lets this user have.
    The node keeps its connections below whatever limit results."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < want:
        # A container may forbid it: the node then keeps to the lower limit.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _first_leaf(error: BaseException) -> BaseException:
    """Nurseries nest errors in groups; the user wants the one line at the bottom."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _run(node: Node, label: str, make: NodeMaker | None, frontend: Frontend) -> None:
    async with trio.open_nursery() as nursery:
        kept = node.data_dir
        rooms = Rooms(
            nursery,
            make,
            frontend.show,
            leave_lone_first=frontend.leaves_lone_first,
            remember=None if kept is None else kept.keep_joined,
        )
        nursery.start_soon(_quit_on_signals, rooms)
        nursery.start_soon(heap.give_back_free)
        rooms.start(label, node, first=True)
        if kept is not None:
            rooms.rejoin(kept.joined())
        nursery.start_soon(frontend.drive, rooms)  # at once: a slow join can be watched and quit
        await rooms.ended.wait()
        frontend.stop()
        nursery.cancel_scope.cancel()


async def _quit_on_signals(rooms: Rooms) -> None:
    """SIGHUP: the terminal closed. All three are a request to leave with a goodbye; but the
    rooms joined with /join are joined again at the next start after SIGTERM or SIGHUP, as
    after a kill: the computer was shut down, or the terminal or the SSH session closed, and
    nobody typed /quit (a user trial: the rooms came back after kill -9, not after that)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            rooms.quit(keep_rooms=signum != signal.SIGINT)
