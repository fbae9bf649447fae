"""Several rooms in one program, between real processes read through their headless events:
/join by address, lines going to the room in front, /room, /rooms, /part."""

from __future__ import annotations

import json
import signal
import types
from pathlib import Path

import pytest
import trio
import trio.testing
from e2e_helpers import SLOW, Proc, Swarm, free_port, say_and_expect

from peerchat import commands, events
from peerchat.datadir import JOINED_FILE, DataDir
from peerchat.identity import Identity
from peerchat.node import Node
from peerchat.protocol import MAX_REASON
from peerchat.rooms import Rooms, goodbye
from peerchat.tracker_address import StartupError


async def test_one_program_in_two_rooms(swarm: Swarm, tmp_path: Path) -> None:
    dev, ops = free_port(), free_port()
    alice = await swarm.node("alice", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    bob = await swarm.node("bob", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    carol = await swarm.node("carol", "--room", "ops", "--tracker", f"127.0.0.1:{ops}")
    await say_and_expect(alice, "in dev first", [bob])

    # A bot's lines right after /join are for the new room: read once it is in.
    await alice.send(f"/join ops 127.0.0.1:{ops}\nhello ops")
    ready = await alice.wait_for(event="ready", room="ops")
    assert ready["room"] == "ops" and ready["username"] == "alice"
    await carol.wait_for(event="peer_joined", username="alice")
    got = await carol.wait_for(event="message", text="hello ops")
    assert got["from"] == "alice"
    own = await alice.wait_for(event="message", text="hello ops")
    assert own["room"] == "ops"

    await alice.send("/room dev")
    await alice.send("back in dev")
    got = await bob.wait_for(event="message", text="back in dev")
    assert (await alice.wait_for(event="message", text="back in dev"))["room"] == "dev"
    await alice.send("/rooms")
    listed = await alice.wait_for(event="rooms")
    assert listed["rooms"] == ["dev", "ops"] and listed["current"] == "dev"
    # An offer's number is the program's: /get of one that came in the room behind fetches it
    # (a user's /get 1 fetched dev's offer 1, not ops' that the line showed). /msg of a
    # member only the room behind has says where, and sends nothing.
    shared = tmp_path / "notes.txt"
    shared.write_text("from ops")
    mine = tmp_path / "mine.txt"
    mine.write_text("alice's own, in dev")
    await alice.send(f"/send {mine}")
    own = await alice.wait_for(event="file_offer", room="dev")
    await carol.send(f"/send {shared}")
    offer = await alice.wait_for(event="file_offer", room="ops")
    assert offer["id"] != own["id"]
    await alice.send(f"/get {offer['id']}")
    done = await alice.wait_for(event="file_done", room="ops")
    assert done["ok"] is True and Path(done["path"]).read_text() == "from ops"
    mark = len(alice.events)
    await alice.send("/files")  # every room's, as their numbers are the program's
    for room, offer_id in (("dev", own["id"]), ("ops", offer["id"])):
        listed = await alice.wait_for(event="files", room=room, since=mark)
        assert [f["id"] for f in listed["files"]] == [offer_id], listed
    mark = len(alice.events)
    await alice.send("/msg carol psst")
    wrong_room = await alice.wait_for(event="error", room="dev", since=mark)
    assert wrong_room["message"] == (
        "nobody called carol is in dev; carol is in ops (/room ops first)"
    )

    await bob.send("a marker in dev")
    await alice.wait_for(event="message", text="a marker in dev")
    assert carol.messages("back in dev") == [] and bob.messages("hello ops") == []
    assert carol.find(event="message", text="psst") == []

    mark = len(alice.events)
    await alice.send("/part nosuch")
    assert "not in a room nosuch" in (await alice.wait_for(event="error", since=mark))["message"]
    await alice.send("/part ops  off to lunch")  # dev stays in front
    await alice.wait_for(event="room_left", room="ops")
    left = await carol.wait_for(event="peer_left", username="alice")
    assert left["reason"] == "parted: off to lunch"  # not "quit": alice is still about
    await say_and_expect(alice, "dev goes on", [bob])  # the room left in front is dev
    # A /join that fails leaves the lines where they went (a user trial's went nowhere).
    mark = len(alice.events)
    await alice.send(f"/join wrong 127.0.0.1:{ops}\nstill in dev")  # ops is there, not wrong
    failed = await alice.wait_for(event="room_left", room="wrong", since=mark)
    assert (failed["joined"], failed["failed"]) == (False, True)
    await bob.wait_for(event="message", text="still in dev")

    # Quitting the program in two rooms: no "left the room" for either (one came, the other
    # not, as the rooms ended one after the other).
    mark = len(alice.events)
    await alice.send(f"/join ops 127.0.0.1:{ops}")
    await alice.wait_for(event="ready", room="ops", since=mark)
    await alice.send("/quit see you all")  # said with the goodbye, as in irssi
    assert await alice.wait_exit() == 0
    # The /part's and the failed /join's only.
    assert [e["room"] for e in alice.find(event="room_left")] == ["ops", "wrong"]
    left = await bob.wait_for(event="peer_left", username="alice")
    assert left["reason"] == "quit: see you all"


async def alice_joined_carols_ops(swarm: Swarm, tmp_path: Path) -> tuple[Proc, Proc, list[str]]:
    """carol in the room ops; alice, in her first room, has joined it: (carol, alice, alice's
    data-dir arguments)."""
    ops = free_port()
    carol = await swarm.node("carol", "--room", "ops", "--tracker", f"127.0.0.1:{ops}")
    data = ["--data-dir", str(tmp_path / "alice-data")]
    alice = await swarm.node("alice", *data)
    await alice.send(f"/join ops 127.0.0.1:{ops}")
    await alice.wait_for(event="ready", room="ops")
    return carol, alice, data


async def test_away_holds_in_every_room_one_joins_till_one_is_back(swarm: Swarm) -> None:
    """Trial 71: IRC's /away was "unknown command". It is the program's: a room joined
    while away is away too."""
    dev, ops = free_port(), free_port()
    alice = await swarm.node("alice", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    bob = await swarm.node("bob", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    carol = await swarm.node("carol", "--room", "ops", "--tracker", f"127.0.0.1:{ops}")
    await say_and_expect(alice, "hi dev", [bob])
    await alice.send("/away at lunch")
    away = await alice.wait_for(event="away")
    assert (away["message"], away["changed"]) == ("at lunch", True)
    await alice.send(f"/join ops 127.0.0.1:{ops}")
    await alice.wait_for(event="ready", room="ops")
    await carol.wait_for(event="peer_joined", username="alice")
    for member in (bob, carol):
        await member.send("/msg alice are you there?")
        answer = await member.wait_for(event="message", text="(away: at lunch)")
        assert answer["from"] == "alice" and answer["private"] is True, answer
    mark = len(alice.events)
    await alice.send("/away")
    assert (await alice.wait_for(event="away", since=mark))["message"] is None
    await bob.send("/msg alice back?")
    await alice.wait_for(event="message", text="back?")
    await alice.send("/room dev\n/msg bob yes")  # (bob is in dev)
    await bob.wait_for(event="message", text="yes")
    assert len(bob.find(event="message", text="(away: at lunch)")) == 1


async def test_a_room_joined_by_its_address_alone_says_its_name(swarm: Swarm) -> None:
    """Trial 69 F17: a bot that joined a named room by its address alone, as named on its
    events by that address, read the room's name nowhere."""
    ops = free_port()
    await swarm.node("carol", "--room", "ops", "--tracker", f"127.0.0.1:{ops}")
    dave = await swarm.node("dave", "--tracker", f"127.0.0.1:{ops}")
    ready = await dave.wait_for(event="ready")
    assert (ready["room"], ready["room_name"]) == (f"127.0.0.1:{ops}", "ops"), ready


# (SIGHUP, a closed terminal, ends as SIGTERM does: in the slow set, which CI runs)
@pytest.mark.parametrize(
    "ending", [signal.SIGKILL, signal.SIGTERM, pytest.param(signal.SIGHUP, marks=SLOW)]
)
async def test_rooms_joined_are_joined_again_after_a_kill_and_not_after_quit(
    swarm: Swarm, tmp_path: Path, ending: signal.Signals
) -> None:
    """A user trial: killed and restarted, a member came back in its first room only, while
    the others of the rooms it had joined went on showing it as away. Trial 49: so it did
    after the computer was shut down (SIGTERM) or the terminal closed (SIGHUP)."""
    carol, alice, data = await alice_joined_carols_ops(swarm, tmp_path)
    alice.signal(ending)
    await alice.wait_exit()
    since = len(carol.events)
    again = await swarm.node("alice-again", "--username", "alice", *data)
    ready = await again.wait_for(event="ready", room="ops")
    await carol.wait_for(event="peer_joined", node_id=ready["node_id"], since=since)
    await again.send("/room ops")  # (the first room stays in front)
    await again.send("back in ops")
    said = await carol.wait_for(event="message", text="back in ops")
    assert said["from_id"] == ready["node_id"], said
    # The first, first: a room without a name under its address, as /rooms names it (trial
    # 67: its ready said "", and its other events nothing till a second room was joined)
    first = f"127.0.0.1:{swarm.tracker_port}"
    assert [e["room"] for e in again.find(event="ready")] == [first, "ops"], again.describe()
    assert all(e.get("room") in (first, "ops") for e in again.events if "node_id" in e)
    await again.send("/quit")  # left on purpose: not joined again
    assert await again.wait_exit() == 0
    third = await swarm.node("alice-third", "--username", "alice", *data)
    await third.send("/rooms")
    listed = await third.wait_for(event="rooms")
    assert len(listed["rooms"]) == 1 and "ops" not in listed["rooms"], listed


async def test_a_room_joined_comes_back_under_its_own_name_and_if_killed_while_joining(
    swarm: Swarm, tmp_path: Path
) -> None:
    """Trial 48: a /nick in a room joined with /join came back under the first room's name
    after a kill (the others read "frank joined (...; was fred)"), and a room still joining
    at the kill (0.5 s after /join) was not joined again."""
    carol, alice, data = await alice_joined_carols_ops(swarm, tmp_path)
    await alice.send("/room ops")
    await alice.send("/nick alicia")
    await carol.wait_for(event="nick", username="alicia")
    with trio.socket.socket() as silent:  # a room whose join never ends
        await silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        quiet = silent.getsockname()[1]
        await alice.send(f"/join zz 127.0.0.1:{quiet}")
        await alice.wait_for(event="connecting", room="zz")
        alice.signal(signal.SIGKILL)
        await alice.wait_exit()
    kept = json.loads((tmp_path / "alice-data" / JOINED_FILE).read_text())
    assert ["zz", f"127.0.0.1:{quiet}", "alicia"] in kept, kept  # (typed with ops in front)
    since = len(carol.events)
    again = await swarm.node("alice-again", "--username", "alice", *data)
    back = await carol.wait_for(event="peer_joined", since=since)
    assert back["username"] == "alicia", back
    first, ops_again = (
        again.find(event="ready")[:1][0],
        await again.wait_for(event="ready", room="ops"),
    )
    assert first["was"] is None and ops_again["was"] is None  # each under the name it had
    await again.send("/quit")
    assert await again.wait_exit() == 0


async def test_one_back_under_another_name_than_it_had_here_last_hears_of_it(
    swarm: Swarm, tmp_path: Path
) -> None:
    """Trial 48: after a /nick and a kill, the same command came back under the old name,
    and only the others were told ("carla joined (...; was carol)")."""
    data = ["--data-dir", str(tmp_path / "carol-data")]
    carol = await swarm.node("carol", *data)
    await carol.send("/nick carla")
    await carol.wait_for(event="nick", username="carla")
    await carol.send("said as carla")
    await carol.wait_for(event="message", text="said as carla")
    carol.signal(signal.SIGKILL)
    await carol.wait_exit()
    again = await swarm.node("carol-again", "--username", "carol", *data)
    ready = await again.wait_for(event="ready")
    assert (ready["username"], ready["was"]) == ("carol", "carla"), ready
    # Told once: she went by carol here last time (trial 53 read "you went by caroline here
    # last" at each of four starts as carol).
    await again.send("/quit")
    await again.wait_exit()
    third = await swarm.node("carol-third", "--username", "carol", *data)
    ready = await third.wait_for(event="ready")
    assert (ready["username"], ready["was"]) == ("carol", None), ready


async def test_a_join_of_a_room_here_at_another_address_moves_to_that_room(
    swarm: Swarm,
) -> None:
    """Trial 43: a newcomer in the wrong one of two rooms called dev was told "already in
    dev" at ``/join dev`` with the other's address, and could not get there."""
    here, there = free_port(), free_port()
    alice = await swarm.node("alice", "--room", "dev", "--tracker", f"127.0.0.1:{here}")
    bob = await swarm.node("bob", "--room", "dev", "--tracker", f"127.0.0.1:{there}")
    await alice.send(f"/join dev 127.0.0.1:{here}")  # where it is: nothing moves
    refused = await alice.wait_for(event="error")
    assert refused["message"] == f"already in dev: 127.0.0.1:{here} is in it too", refused
    mark = len(alice.events)
    await alice.send(f"/join dev localhost:{here}")  # (a review: it moved to itself)
    refused = await alice.wait_for(event="error", since=mark)
    assert refused["message"] == f"already in dev: localhost:{here} is in it too", refused
    mark = len(alice.events)
    await alice.send(f"/join dev 127.0.0.1:{there}")
    moved = await alice.wait_for(event="room_left", since=mark)
    assert moved["moved_to"] == f"127.0.0.1:{there}", moved
    ready = await alice.wait_for(event="ready", room="dev", since=mark)
    await bob.wait_for(event="peer_joined", node_id=ready["node_id"])  # (ephemeral: a new key)
    await alice.send("found you")
    said = await bob.wait_for(event="message", text="found you")
    assert said["from_id"] == ready["node_id"]


async def test_the_room_started_in_is_joined_again_with_the_secret_it_started_with(
    swarm: Swarm, tmp_path: Path
) -> None:
    """Trial 54: alice, started in the team's room with PEERCHAT_SECRET_FILE, typed /part team
    and /join team, and read "missing room secret": a /join'ed room's secret is looked for
    in the config dir alone."""
    dev, ops = free_port(), free_port()
    secret = {"PEERCHAT_SECRET": "a secret of the team's own", "XDG_CONFIG_HOME": str(tmp_path)}
    alice = await swarm.node("alice", "--room", "dev", "--tracker", f"127.0.0.1:{dev}", env=secret)
    bob = await swarm.node("bob", "--room", "dev", "--tracker", f"127.0.0.1:{dev}", env=secret)
    await swarm.node("carol", "--room", "ops", "--tracker", f"127.0.0.1:{ops}")
    await alice.send(f"/join ops 127.0.0.1:{ops}")
    await alice.wait_for(event="ready", room="ops")
    await alice.send("/part dev")
    await alice.wait_for(event="room_left", room="dev")
    mark = len(alice.events)
    await alice.send(f"/join dev 127.0.0.1:{dev}")
    ready = await alice.wait_for(event="ready", room="dev", since=mark)
    assert ready["private"] is True, alice.describe()
    await alice.send("/room dev\nback with the secret")
    await bob.wait_for(event="message", text="back with the secret")


async def test_part_with_one_room_takes_its_words_as_the_message(swarm: Swarm) -> None:
    """irssi's way: a user's "/part see ya" read "not in a room see" and parted nothing."""
    dev = free_port()
    alice = await swarm.node("alice", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    bob = await swarm.node("bob", "--room", "dev", "--tracker", f"127.0.0.1:{dev}")
    await say_and_expect(alice, "hi", [bob])
    await alice.send("/part see ya")
    left = await bob.wait_for(event="peer_left", username="alice")
    assert left["reason"] == "parted: see ya"
    assert await alice.wait_exit() == 0  # its last room, which it says it left (not silently)
    assert [(e["room"], e["joined"]) for e in alice.find(event="room_left")] == [("dev", True)]


class _Room:
    """A node as ``Rooms`` sees it: it runs until told to quit, then takes ``goodbye`` s."""

    def __init__(self, goodbye: float, data_dir: DataDir | None = None) -> None:
        self.goodbye = goodbye
        self.said_bye = False
        self._quit = trio.Event()
        self.data_dir = data_dir
        self.started = trio.Event()  # never set: quit while still joining
        self.files = types.SimpleNamespace(taken=set)  # fetching nothing

    async def run(self) -> None:
        await self._quit.wait()
        await trio.sleep(self.goodbye)
        self.said_bye = True

    def quit(self, reason: str = "quit") -> None:
        self._quit.set()


async def test_the_program_ends_once_every_room_has_said_goodbye(
    autojump_clock: trio.testing.MockClock,
) -> None:
    shown: list[events.Event] = []
    async with trio.open_nursery() as nursery:
        rooms = Rooms(nursery, None, lambda event, room: shown.append(event))
        quick, slow = _Room(0.1), _Room(2.0)
        rooms.start("dev", quick, first=True)  # type: ignore[arg-type]
        rooms.start("ops", slow)  # type: ignore[arg-type]
        await trio.sleep(1)
        rooms.quit()
        await rooms.ended.wait()
        assert quick.said_bye and slow.said_bye
    assert shown == []  # and no "you left the room" for either


async def test_rooms_kept_at_one_end_are_kept_whatever_ends_the_program_next() -> None:
    """A review: a closed terminal ends the program by a SIGHUP (rooms kept) and by its
    prompt's failed read, in either order; the second cleared the rooms kept."""
    kept: list[list[tuple[str, object, object]]] = []
    async with trio.open_nursery() as nursery:
        rooms = Rooms(nursery, None, lambda event, room: None, remember=kept.append)
        rooms.start("dev", _Room(0), first=True)  # type: ignore[arg-type]
        rooms._joined["ops"] = (None, "alice")  # (as a /join records it)
        rooms.quit(keep_rooms=True)
        rooms.quit()
        await rooms.ended.wait()
    assert kept == []  # never written empty: the file still holds ops


class _Unreachable:
    """A room's node whose join fails the way a real one does: a StartupError in the groups
    of the nurseries it passed through."""

    reporting = False

    def __init__(self, data_dir: DataDir | None = None) -> None:
        self.data_dir = data_dir
        self.started = trio.Event()
        self.files = types.SimpleNamespace(taken=set)

    async def run(self) -> None:
        raise ExceptionGroup("nursery", [ExceptionGroup("join", [StartupError("nobody there")])])

    def quit(self, reason: str = "quit") -> None:
        pass


async def test_a_later_room_that_cannot_be_joined_says_why() -> None:
    """From a user trial: every failed /join read "internal error (ExceptionGroup)"."""
    shown: list[tuple[events.Event, str]] = []
    async with trio.open_nursery() as nursery:
        rooms = Rooms(nursery, None, lambda event, room: shown.append((event, room)))
        rooms.start("dev", _Room(0), first=True)  # type: ignore[arg-type]
        rooms.start("zzz", _Unreachable())  # type: ignore[arg-type]
        await trio.testing.wait_all_tasks_blocked()
        assert shown == [
            (events.Error("cannot join the room zzz: nobody there"), "zzz"),
            (events.RoomLeft("zzz", joined=False, failed=True), "zzz"),
        ]
        assert list(rooms.nodes) == ["dev"]
        rooms.quit()


async def test_a_room_that_cannot_be_joined_leaves_no_data_dir_it_made(tmp_path: Path) -> None:
    """A user trial: each /join of a room that failed left a folder with a key behind."""
    (tmp_path / "alice@old").mkdir()
    (tmp_path / "alice@old" / "kept").write_text("the user's")
    async with trio.open_nursery() as nursery:
        rooms = Rooms(nursery, None, lambda event, room: None)
        first = DataDir(tmp_path / "alice")  # made now too, but the input history is kept there
        rooms.start("dev", _Room(0, first), first=True)  # type: ignore[arg-type]
        for name in ("typo", "old"):
            folder = DataDir(tmp_path / f"alice@{name}")
            Identity.load_or_create(folder.path)  # as a room's node does on its way in
            rooms.start(name, _Unreachable(folder))  # type: ignore[arg-type]
        await trio.testing.wait_all_tasks_blocked()
        assert list(rooms.nodes) == ["dev"]
        rooms.quit()
    assert not (tmp_path / "alice@typo").exists()
    assert (tmp_path / "alice@old" / "kept").read_text() == "the user's"  # was there before
    assert (tmp_path / "alice").is_dir()  # the first room's, parted before it got in


def test_a_goodbye_says_what_was_said_with_it_if_peers_can_take_it() -> None:
    assert goodbye("quit", "") == "quit"
    assert goodbye("parted", "  back   soon ") == "parted: back soon"
    assert goodbye("quit", "\x1b[2Jgotcha") == "quit"  # a peer would refuse the goodbye
    assert len(goodbye("quit", "x" * 1000)) == MAX_REASON


class _Named:
    """A room's node as ``Rooms.room_for`` sees it: who is there, which offers it numbers."""

    def __init__(
        self,
        me: str,
        others: list[str],
        offers: list[int],
        away: list[str] | None = None,
        ignored: tuple[str, ...] = (),
    ) -> None:
        self.me = types.SimpleNamespace(username=me)
        self.username = me
        folded = {name.casefold() for name in others}
        gone = {name.casefold() for name in away or []}
        self.talk = types.SimpleNamespace(
            addressee=lambda name: name.casefold() in folded | gone or None,
            namesakes=lambda name: [name] if name.casefold() in folded else [],
        )
        self.files = types.SimpleNamespace(
            numbered=lambda id: id in offers, lists_any=lambda: bool(offers), named=lambda n: []
        )
        self.room_name = ""
        self.ignored_key = lambda name: name if name in ignored else None


def test_unignore_typed_in_another_room_than_the_ignores_points_at_it() -> None:
    """Trial 73 F8: ``/unignore bob`` in ops, bob ignored in dev, said only "not ignored
    here"."""
    shown: list[tuple[events.Event, str]] = []
    rooms = Rooms(None, None, lambda event, room: shown.append((event, room)))  # type: ignore[arg-type]
    rooms.nodes = {  # type: ignore[dict-item]
        "dev": _Named("alice", ["bob"], [], ignored=("bob", "zed")),
        "ops": _Named("alice", ["bob"], [], ignored=("zed",)),
        "qa": _Named("alice", [], []),
    }
    assert rooms.room_for("dev", commands.Unignore("bob")) == "dev"
    assert rooms.room_for("ops", commands.Unignore("zed")) == "ops"  # this room's, first
    assert rooms.room_for("ops", commands.Unignore("carol")) == "ops"  # which says nobody is
    assert shown == []
    assert rooms.room_for("ops", commands.Unignore("bob")) is None
    assert rooms.room_for("qa", commands.Unignore("zed")) is None
    assert shown == [
        (events.Error("bob is ignored in dev, not here (/room dev first)"), "ops"),
        (events.Error("zed is ignored in dev, ops, not here (/room dev first)"), "qa"),
    ]


def test_a_command_goes_to_the_room_of_its_offer_or_points_at_the_room_of_its_name(
    tmp_path: Path,
) -> None:
    shown: list[tuple[events.Event, str]] = []
    rooms = Rooms(None, None, lambda event, room: shown.append((event, room)))  # type: ignore[arg-type]
    rooms.nodes = {  # type: ignore[dict-item]
        "dev": _Named("alice", ["bob"], [1]),
        "ops": _Named("alicia", ["carol", "alice"], [2]),  # another alice, as alice is alicia
    }
    assert rooms.room_for("dev", commands.GetFile(2)) == "ops"
    assert rooms.room_for("dev", commands.CancelFile(1)) == "dev"
    assert rooms.room_for("dev", commands.GetFile(3)) == "dev"  # which says it has none
    assert rooms.room_for("dev", commands.Private("bob", "hi")) == "dev"
    assert rooms.room_for("dev", commands.Whois("ALICE")) == "dev"  # oneself, not ops' alice
    assert rooms.room_for("dev", commands.Private("nobody", "hi")) == "dev"
    assert shown == []
    assert rooms.room_for("dev", commands.Private("carol", "hi")) is None
    pointed = events.Error("nobody called carol is in dev; carol is in ops (/room ops first)")
    assert shown == [(pointed, "dev")]
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    assert rooms.room_for("dev", commands.SendFile(f"bob {notes}")) == "dev"
    assert rooms.room_for("dev", commands.SendFile(str(notes))) == "dev"
    assert rooms.room_for("dev", commands.SendFile(f"carol {notes}")) is None  # as /msg carol
    assert rooms.room_for("dev", commands.Ignore("carol")) is None  # each room has its list
    assert rooms.room_for("dev", commands.Ignore()) == "dev"  # the list of the room in front
    assert shown == [(pointed, "dev")] * 3
    # "/names ops" in dev: ops' members (trial 51: dev's, without a word); a room not joined
    assert rooms.room_for("dev", commands.Who("ops")) == "ops"
    assert rooms.room_for("dev", commands.Who()) == "dev"
    assert rooms.room_for("dev", commands.Who("qa")) is None
    assert shown[-1] == (events.Error("not in a room qa; /rooms lists yours"), "dev")
    # /get NAME: the room in front's; else the one behind that has it; never a guess
    for label, offered in (("dev", ("a.txt",)), ("ops", ("a.txt", "b.txt"))):
        files = rooms.nodes[label].files  # type: ignore[union-attr]
        files.named = lambda name, offered=offered: [1] if name in offered else []
    assert rooms.room_for("dev", commands.GetFile("a.txt")) == "dev"
    assert rooms.room_for("ops", commands.GetFile("a.txt")) == "ops"
    assert rooms.room_for("dev", commands.GetFile("b.txt")) == "ops"
    assert rooms.room_for("dev", commands.GetFile("c.txt")) == "dev"  # which says it has none
    rooms.nodes["qa"] = _Named("al", [], [])  # type: ignore[assignment]
    assert rooms.room_for("qa", commands.GetFile("a.txt")) is None
    assert shown[-1] == (
        events.Error("a file called a.txt is offered in dev, ops: /room ROOM first, or /get ID"),
        "qa",
    )
    del rooms.nodes["qa"]
    # /files: each room with an offer, or the one in front when none has (trial 70 F10)
    assert rooms.rooms_for("dev", commands.ListFiles()) == ["dev", "ops"]
    rooms.nodes["dev"] = _Named("alice", ["bob"], [])  # type: ignore[assignment]
    assert rooms.rooms_for("dev", commands.ListFiles()) == ["ops"]
    rooms.nodes["ops"] = _Named("alicia", ["carol"], [])  # type: ignore[assignment]
    assert rooms.rooms_for("dev", commands.ListFiles()) == ["dev"]


def test_each_room_sees_what_the_others_fetches_write_or_keep(tmp_path: Path) -> None:
    """Rooms share a downloads folder: a fetch in one must not write over what another
    room's fetch keeps to go on with (attack round 34 F3); a file saved in one is had in the
    others (trial 73 F3: offered in ops, a file saved in dev was not said to be had)."""
    rooms = Rooms(None, None, lambda event, room: None)  # type: ignore[arg-type]
    nursery = types.SimpleNamespace(start_soon=lambda *args: None)
    rooms._nursery = nursery  # type: ignore[assignment]
    kept = {"dev": {tmp_path / "a.bin"}, "ops": {tmp_path / "b.bin"}, "qa": set()}
    saved = {"dev": (str(tmp_path / "a.bin"), 1)}
    nodes = {
        room: types.SimpleNamespace(
            files=types.SimpleNamespace(taken=lambda t=t: t),
            store=types.SimpleNamespace(saved_at=lambda sha, size, r=room: saved.get(r)),
        )
        for room, t in kept.items()
    }
    for room, node in nodes.items():
        rooms.start(room, node)  # type: ignore[arg-type]
    assert nodes["dev"].files.elsewhere() == {tmp_path / "b.bin"}
    assert nodes["qa"].files.elsewhere() == {tmp_path / "a.bin", tmp_path / "b.bin"}
    assert nodes["ops"].files.saved_elsewhere(b"x" * 32, 1) == [saved["dev"]]
    assert nodes["dev"].files.saved_elsewhere(b"x" * 32, 1) == []  # (its own: its store's)


def test_a_name_away_from_the_room_in_front_and_in_a_room_behind_is_pointed_at() -> None:
    """Trial 42: carol typed /msg alice in ops, which alice had left without a goodbye (a
    crash; she came back in dev only): it waited for her return to ops, while she was in dev."""
    shown: list[tuple[events.Event, str]] = []
    rooms = Rooms(None, None, lambda event, room: shown.append((event, room)))  # type: ignore[arg-type]
    rooms.nodes = {  # type: ignore[dict-item]
        "dev": _Named("carol", ["alice"], []),
        "ops": _Named("carol", ["bob"], [], away=["alice", "dan"]),
    }
    assert rooms.room_for("ops", commands.Private("alice", "you there?")) is None
    pointed = events.Error("alice is unreachable in ops, and in dev now (/room dev first)")
    assert shown == [(pointed, "ops")]
    assert rooms.room_for("ops", commands.Private("dan", "hi")) == "ops"  # on his return
    assert rooms.room_for("dev", commands.Private("alice", "hi")) == "dev"
    assert shown == [(pointed, "ops")]


def test_a_room_joined_is_joined_under_the_name_of_the_room_it_was_typed_in() -> None:
    """From a user trial: after /nick in dev, /join ops came in under the name the program
    started with."""
    asked: list[str | None] = []

    def make(room: str, addr: object, username: str | None, emit: object) -> Node:
        asked.append(username)
        raise StartupError("not this time")

    rooms = Rooms(None, make, lambda event, room: None)  # type: ignore[arg-type]
    rooms.nodes = {"dev": types.SimpleNamespace(username="bobby")}  # type: ignore[dict-item]
    rooms.join("ops", None, "dev")
    rooms.join("ops", None, "gone")  # a room that has ended meanwhile: the program's name
    assert asked == ["bobby", None]


async def test_a_join_of_a_room_open_in_another_program_of_ones_own_says_so(
    swarm: Swarm, tmp_path: Path
) -> None:
    """A user trial's /join of a room its other program was in advised --data-dir and
    --ephemeral, options of a command line, not of the chat line."""
    dev, ops = free_port(), free_port()
    data = tmp_path / "alice"
    await swarm.node(
        "alice", "--room", "ops", "--tracker", f"127.0.0.1:{ops}", "--data-dir", f"{data}@ops"
    )
    other = await swarm.node(
        "alice2", "--room", "dev", "--tracker", f"127.0.0.1:{dev}", "--data-dir", str(data)
    )
    await other.send(f"/join ops 127.0.0.1:{ops}")
    error = await other.wait_for(event="error")
    assert "another peerchat program of yours is in the room ops" in error["message"], error
    assert "--data-dir" not in error["message"]
