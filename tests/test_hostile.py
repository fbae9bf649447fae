"""Hostile peers end to end (issue 7): real `peerchat --headless` processes on loopback, attacked
with what once killed, bloated or jammed a node, each at a size the suite can afford.

After every attack the room must be unharmed: both members alive, chatting both ways, no
traceback in their stderr or logs, their descriptors back near where they were. Memory is read
from /proc (VmHWM is the process's peak resident size, VmRSS the present one). The attackers are
in ``attacks.py``; ``scripts/attack.py`` runs the same attacks at the issue's full size and prints
figures.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable
from functools import partial

import attacks
import msgpack
import pytest
import trio
from attacks import (
    FakeIdentity,
    FakeTracker,
    FrameReader,
    RawProc,
    batch_data,
    batch_frame,
    connect,
    fd_count,
    fresh_id,
    hwm_kib,
    nested_batch_data,
    nested_batch_frame,
    nested_type_frame,
    node_id_of,
    open_flood,
    open_room_at,
    partial_frame,
    poke,
    read_until_closed,
    rss_kib,
    spawn_raw_node,
    split_frames,
    sustain_flood,
)
from attacks import frame as frame_of
from attacks import hello as hello_frame
from attacks import long_version_hello as version_hello
from attacks import member as member_map
from e2e_helpers import SLOW, Swarm, free_port, slow, wait_mesh

import peerchat
from peerchat.batch import MAX_LAMPORT as BATCH_MAX_LAMPORT
from peerchat.config import Config
from peerchat.secure_stream import SecureStream

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MIB = 1024  # KiB per MiB: /proc reports KiB

# The node's limits (peerchat.config.Config defaults) that these tests lean on.
ADMIT_TIMEOUT = 2.0  # a direct hello the tracker has not announced is let go after this
FRAME_TIMEOUT = 5.0  # a begun frame must be whole by then
MAX_PENDING = 256  # connections from non-members, in all
MAX_PENDING_PER_ADDRESS = 64

# 150 peers each holding 1 MiB - 1 B of a frame would make the node hold 150 MiB more than its
# ~30 MiB at rest, were each buffered. Partial frames over 80 KiB share a 32 MiB budget, so the
# node should stay near 30 + 32 + copies: 150 MiB leaves room for the allocator and still fails
# a node that buffers them all.
RSS_PEAK_PARTIAL_MIB = 150
# Once the attackers are gone the node must give most of it back: the budget, at most, may stay
# with the allocator.
RSS_AFTER_ABOVE_BASELINE_MIB = 40


def test_the_attackers_speak_the_nodes_protocol_version() -> None:
    """Else every attack is refused at the hello, and the tests fail far from the cause."""
    assert attacks.PROTOCOL_VERSION == peerchat.PROTOCOL_VERSION


# Floods of small hellos (hundreds of connections) cost a few MiB; anything near this is a leak.
RSS_PEAK_FLOOD_MIB = 100
# Descriptors: the node's own (listeners, log, stdio, its member connections) come back within
# this many once the attack is over.
FD_SLACK = 3
RSS_ANSWERS_MIB = 60  # above the resting RSS, 40 askers that never read (109 before round 46)
HISTORY_WAIT_MOST = 20  # seconds a newcomer waits for its history behind 40 such (10; 23 before 47)
# While held, a flood from non-members may occupy at most the pending cap, plus connections
# that were accepted and are being refused at the moment of a sample.
FD_FLOOD_SLACK = 32

SAFE_RAW = {
    "U+2028": "\u2028".encode(),
    "U+2029": "\u2029".encode(),
    "U+0085": "\u0085".encode(),
    "U+202E": "\u202e".encode(),
    "U+200F": "\u200f".encode(),
    "ESC": b"\x1b",
    "BEL": b"\x07",
}


async def two_members(swarm: Swarm) -> tuple[RawProc, RawProc]:
    """``target`` founds the room (the tracker) and ``friend`` joins it."""
    target = await spawn_raw_node(swarm, "target", swarm.tracker_addr)
    await target.wait_for(event="ready")
    friend = await spawn_raw_node(swarm, "friend", swarm.tracker_addr)
    await friend.wait_for(event="ready")
    await wait_mesh([target, friend])
    return target, friend


_said = 0


async def chat_both_ways(a: RawProc, b: RawProc, timeout: float = 10.0) -> None:
    """Each says a line and the other shows it once, as from the sender."""
    global _said
    for sender, receiver in ((a, b), (b, a)):
        _said += 1
        text = f"line {_said} from {sender.name}"
        await sender.send(text)
        event = await receiver.wait_for(event="message", text=text, timeout=timeout)
        assert event["from_id"] == sender.node_id and event["own"] is False


async def assert_unharmed(*procs: RawProc) -> None:
    for proc in procs:
        assert proc.returncode is None, proc.describe()
    await chat_both_ways(procs[0], procs[1])
    for proc in procs:
        assert "Traceback" not in proc.stderr(), proc.describe()
        assert "Traceback" not in proc.log(), proc.describe()
        assert "internal error" not in proc.log(), proc.describe()


def assert_log_lines_short(proc: RawProc, limit: int = 400) -> None:
    """Peer data is quoted short and flat: no log line grows with what a peer sent."""
    longest = max(proc.log().splitlines(), key=len, default="")
    assert len(longest) < limit, longest[:500]


def assert_no_raw_unsafe(proc: RawProc) -> None:
    """No control, bidi or line-separator character reaches stdout unescaped."""
    data = b"\n".join(proc.raw_lines)
    found = [name for name, raw in SAFE_RAW.items() if raw in data]
    assert not found, f"raw {found} on {proc.name}'s stdout\n{proc.describe()}"


async def fds_back_near(pid: int, baseline: int, timeout: float = 10.0) -> int:
    """Wait (bounded) until the process has at most ``baseline + FD_SLACK`` descriptors."""
    with trio.move_on_after(timeout):
        while (count := fd_count(pid)) > baseline + FD_SLACK:
            await trio.sleep(0.05)  # polling /proc, bounded by the deadline above
        return count
    return fd_count(pid)


class Peaks:
    """The most descriptors a process had, sampled 20 times a second while running."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fds = 0

    async def run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.fds = max(self.fds, fd_count(self.pid))
                await trio.sleep(0.05)


async def wait_log_quiet(proc: RawProc, needle: str) -> str:
    line = await proc.wait_log(needle)
    assert len(line) < 400, line[:500]
    return line


async def first_of(timeout: float, **waits: Callable[[], Awaitable[object]]) -> str | None:
    """Run ``waits`` side by side: the name of the first to finish, None after ``timeout``
    (give each wait a longer deadline of its own, or it fails the test instead)."""
    winner: list[str] = []
    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for name, wait in waits.items():

                async def one(name: str = name, wait: Callable = wait) -> None:
                    await wait()
                    winner.append(name)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(one)
    return winner[0] if winner else None


async def handed_on(stream: trio.SocketStream, author: str) -> dict:
    """Anybody's batches are there for the asking: a member (on ``stream``) asks for
    ``author``'s messages and gets the first batch frame handed on, as its author signed it."""
    await stream.send_all(frame_of({"t": "want", "author": author, "after": 0}))

    def authors_batch(received: dict) -> bool:
        if received.get("t") != "batch" or received.get("old") is not True:
            return False
        return node_id_of(msgpack.unpackb(received["data"], raw=False)[2]) == author

    return await FrameReader(stream).until(authors_batch, timeout=10)


# -- the killers: one frame each, any of which used to end a node --------------------------------


async def joined_as_member(swarm: Swarm, target: RawProc) -> tuple[FakeIdentity, SecureStream]:
    """A fresh identity that joins the room through the tracker, as any node of an open room
    can; back once ``target`` reports it joined."""
    mallory = FakeIdentity(room=open_room_at(swarm.tracker_port))
    stream = await connect(swarm.tracker_port, identity=mallory)
    await stream.send_all(frame_of(mallory.hello(join=True)))
    await target.wait_for(event="peer_joined", node_id=mallory.node_id)
    return mallory, stream


async def test_a_300000_character_version_is_refused_without_quoting_it(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    # The killer itself: larger than any hello may be.
    name, answer, closed = await poke(swarm.tracker_port, version_hello(300_000))
    assert closed and len(answer) < 1024, len(answer)
    assert b"\x00" * 16 not in answer
    await wait_log_quiet(target, name)
    # A long version that fits a hello-sized frame: refused, in the node's own words.
    name, answer, closed = await poke(swarm.tracker_port, version_hello(2000))
    assert closed, "a refused peer is disconnected"
    (refusal,) = split_frames(answer)
    assert refusal["t"] == "refuse" and refusal["retry"] is False, refusal
    assert "version" in refusal["reason"], refusal
    assert "\x00" not in refusal["reason"] and "\\x00" not in refusal["reason"], refusal
    assert len(answer) < 256, answer
    line = await wait_log_quiet(target, name)
    assert "refusing" in line, line
    await assert_unharmed(target, friend)
    assert_log_lines_short(target)


async def test_a_type_nested_1000_deep_before_the_hello_is_refused(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    name, answer, closed = await poke(swarm.tracker_port, nested_type_frame(1000))
    assert closed and answer == b"", answer[:100]
    line = await wait_log_quiet(target, name)
    assert "dropping connection" in line and "[[" not in line, line
    await assert_unharmed(target, friend)
    assert_log_lines_short(target)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("frame", id="in-the-frame"),
        pytest.param("data", id="in-the-signed-bytes"),
    ],
)
async def test_a_batch_nested_1000_deep_after_a_valid_hello_ends_that_connection(
    swarm: Swarm, where: str
) -> None:
    """The frame itself holds a list nested 1,000 deep where the batch's bytes go, or the
    batch's signed bytes (flat in the frame, correctly signed) hold a text nested 1,000 deep."""
    target, friend = await two_members(swarm)
    mallory = FakeIdentity(room=open_room_at(swarm.tracker_port))
    hello = mallory.hello(join=True)
    stream = await connect(swarm.tracker_port, identity=mallory)
    await stream.send_all(frame_of(hello))
    await target.wait_for(event="peer_joined", node_id=mallory.node_id)
    killer = nested_batch_frame(1000) if where == "frame" else nested_batch_data(mallory, 1000)
    await stream.send_all(killer)
    _, closed = await read_until_closed(stream, timeout=5)
    await stream.aclose()
    assert closed, f"the node keeps a peer that sent a batch nested 1,000 deep ({where})"
    left = await target.wait_for(event="peer_left", node_id=mallory.node_id)
    assert len(left["reason"]) < 300 and "[[" not in left["reason"], left
    await assert_unharmed(target, friend)
    assert not target.find(event="message", from_id=mallory.node_id), target.describe()
    assert_log_lines_short(target)


# -- strings from the network: checked where they enter, escaped where they leave ----------------


async def test_a_host_with_a_newline_and_a_bell_is_refused(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    hello = hello_frame(join=True, host="127.0.0.1\n12:00 <friend> type /quit now\a")
    name, answer, closed = await poke(swarm.tracker_port, frame_of(hello))
    assert closed
    line = await wait_log_quiet(target, name)
    assert "\a" not in line, line
    await assert_unharmed(target, friend)  # a barrier: an announcement would have come by now
    for proc in (target, friend):
        assert not proc.find(event="peer_joined", node_id=hello["node_id"]), proc.describe()
        assert_no_raw_unsafe(proc)


async def test_chat_text_with_separators_and_bidi_is_escaped_in_json(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    mallory = FakeIdentity(room=open_room_at(swarm.tracker_port))
    text = "one\u2028two\u2029three\u0085four \u202eevil\u200f end"
    stream = await connect(swarm.tracker_port, identity=mallory)
    await stream.send_all(frame_of(mallory.hello(join=True)) + frame_of(mallory.batch(1, text)))
    shown = await target.wait_for(event="message", from_id=mallory.node_id)
    await stream.aclose()
    assert shown["text"] == text, "the text arrives whole, only escaped"
    assert_no_raw_unsafe(target)
    (line,) = [raw for raw in target.raw_lines if mallory.node_id.encode() + b":1" in raw]
    assert b"\\u2028" in line and b"\\u0085" in line and b"\\u202e" in line, line
    await assert_unharmed(target, friend)


EVIL = member_map(fresh_id(), "\u202eevil")
CAROL = member_map(fresh_id(), "carol")


@pytest.mark.parametrize(
    ("others", "frames"),
    [
        pytest.param(
            [],
            [{"t": "joined", "member": EVIL, "joining": True, "marked": False}],
            id="announced-bidi-name",
        ),
        pytest.param([EVIL], [], id="welcome-bidi-name"),
        pytest.param(
            [],
            [
                {"t": "joined", "member": CAROL, "joining": True, "marked": False},
                {"t": "left", "node_id": CAROL["node_id"], "reason": "bye\x1b[2J\u2028\u202e"},
            ],
            id="leave-reason-with-escapes",
        ),
        pytest.param(
            [],
            [
                {
                    "t": "joined",
                    "member": {**CAROL, "host": "a\nb\x07"},
                    "joining": True,
                    "marked": False,
                }
            ],
            id="announced-host",
        ),
    ],
)
async def test_names_and_reasons_from_a_hostile_tracker_never_reach_the_output_raw(
    swarm: Swarm, others: list[dict], frames: list[dict]
) -> None:
    tracker = FakeTracker(free_port(), others=others)
    await swarm.nursery.start(tracker.serve)
    newbie = await spawn_raw_node(swarm, "newbie", f"127.0.0.1:{tracker.port}")
    await newbie.wait_for(event="ready", timeout=15)
    await tracker.joined()  # the newbie is in the fake tracker's room, not one of its own
    for payload in frames:
        await tracker.send(payload)
    # A barrier: the tracker's next chat line shows, or the newbie has dropped the tracker.
    await tracker.say("barrier")
    outcome = await first_of(
        10,
        shown=partial(newbie.wait_for, event="message", text="barrier", timeout=20),
        dropped=tracker.closed.wait,
    )
    assert outcome is not None, newbie.describe()
    assert newbie.returncode is None, newbie.describe()
    for event in newbie.find(event="peer_joined"):
        assert "\u202e" not in event["username"] and "\n" not in event["addr"], newbie.describe()
    for event in newbie.find(event="peer_left"):
        assert "\x1b" not in event["reason"] and "\u202e" not in event["reason"], event
    assert_no_raw_unsafe(newbie)
    assert "Traceback" not in newbie.stderr() + newbie.log(), newbie.describe()
    assert_log_lines_short(newbie)


# -- signatures: nobody speaks for another member ------------------------------------------------


FORGED = "forged line"


def forged_batch(how: str, mallory: FakeIdentity, real: dict) -> dict:
    """An old batch in friend's name (``real`` is friend's batch as the target handed it on)
    whose signature does not hold: friend's next number signed with mallory's key, friend's
    real batch altered by one byte, or friend's signature over new text renumbered to come
    next."""
    _, room, key, username, first, lamport, items = msgpack.unpackb(real["data"], raw=False)
    if how == "altered-after-signing":
        altered = real["data"].replace(b"real line", b"fake line")
        assert altered != real["data"] and len(altered) == len(real["data"])
        return batch_frame(altered, real["sig"], old=True)
    next_one = [(0, 0, FORGED)]
    data = batch_data(key, username, first + len(items), lamport + len(items), next_one, room)
    sig = mallory.sign(data) if how == "signed-by-another-key" else real["sig"]
    return batch_frame(data, sig, old=True)


async def asked_for(stream: trio.SocketStream, author: str) -> None:
    """Until the node asks this member for ``author``'s messages (it claimed to hold more)."""

    def want(received: dict) -> bool:
        return received.get("t") == "want" and received.get("author") == author

    await FrameReader(stream).until(want, timeout=10)


@pytest.mark.parametrize(
    "how", ["signed-by-another-key", "altered-after-signing", "real-member", "unasked"]
)
async def test_a_forged_relayed_batch_is_refused(swarm: Swarm, how: str) -> None:
    """A member (a valid hello, and its own chat shows) claims to hold more of friend's
    messages, is asked for them, and hands on a batch whose signature is not friend's: the
    target shows none of it, drops that member, and the room goes on. Old batches nobody asked
    for are refused before their signature is even looked at."""
    target, friend = await two_members(swarm)
    mallory, stream = await joined_as_member(swarm, target)
    await stream.send_all(frame_of(mallory.batch(1, "mallory's own line")))
    await target.wait_for(event="message", from_id=mallory.node_id, text="mallory's own line")
    await friend.send("friend's real line")
    await target.wait_for(event="message", from_id=friend.node_id, text="friend's real line")
    real = await handed_on(stream, friend.node_id)
    forged = forged_batch("signed-by-another-key" if how == "unasked" else how, mallory, real)
    if how != "unasked":
        claim = {"t": "summary", "heads": {friend.node_id: 1000}}
        await stream.send_all(frame_of(claim))
        await asked_for(stream, friend.node_id)
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(frame_of(forged))
    _, closed = await read_until_closed(stream, timeout=5)
    await stream.aclose()
    assert closed, f"the node keeps a member that handed on a forged batch ({how})"
    why = "asked" if how == "unasked" else "sign"
    left = await target.wait_for(event="peer_left", node_id=mallory.node_id)
    assert why in left["reason"], left
    line = await wait_log_quiet(target, f"closing connection to {mallory.username}@")
    assert why in line, line
    await assert_unharmed(target, friend)  # a barrier: the forged line would have shown by now
    for proc in (target, friend):
        shown = [e["text"].lower() for e in proc.find(event="message")]
        assert not [t for t in shown if FORGED in t or "fake line" in t], proc.describe()
    assert_log_lines_short(target)


@pytest.mark.parametrize("friend_there", [True, False], ids=["friend-there", "friend-gone"])
async def test_an_impostor_with_a_members_id_and_key_cannot_speak_for_it(
    swarm: Swarm, friend_there: bool
) -> None:
    """A stranger says its hello with friend's node id and sends a live batch under friend's
    public key (both public) with a signature it cannot make: nothing of it may show."""
    target, friend = await two_members(swarm)
    await friend.send("friend's real line")
    await target.wait_for(event="message", from_id=friend.node_id, text="friend's real line")
    mallory, spy = await joined_as_member(swarm, target)
    real = await handed_on(spy, friend.node_id)  # friend's public key is in there
    _, room, key, _, first, lamport, items = msgpack.unpackb(real["data"], raw=False)
    last, lamport = first + len(items) - 1, lamport + len(items) - 1
    if not friend_there:
        await friend.close_stdin()
        await target.wait_for(event="peer_left", node_id=friend.node_id)
    impostor = await connect(swarm.tracker_port)
    claim = hello_frame(friend.node_id, join=True, username="friend")
    data = batch_data(key, "friend", last + 1, lamport + 1, [(0, 0, FORGED)], room)
    await impostor.send_all(frame_of(claim) + frame_of(batch_frame(data, b"\x00" * 64)))
    outcome = await first_of(
        10,
        shown=partial(target.wait_for, event="message", text=FORGED, timeout=20),
        refused=partial(read_until_closed, impostor, 20),
    )
    assert outcome == "refused", target.describe()
    await impostor.aclose()
    await spy.aclose()
    if friend_there:
        await assert_unharmed(target, friend)
    assert not target.find(event="message", text=FORGED), target.describe()
    assert target.returncode is None and "Traceback" not in target.stderr(), target.describe()


async def test_a_huge_lamport_time_does_not_split_the_room(swarm: Swarm) -> None:
    """A member says one line with the largest Lamport time a batch may carry. The target's
    clock used to follow it past what the others take, and then every line it said closed its
    links, for good (an attacker's finding)."""
    target, friend = await two_members(swarm)
    mallory, stream = await joined_as_member(swarm, target)
    data = mallory.data(1, "from the far future", lamport=BATCH_MAX_LAMPORT)
    await stream.send_all(frame_of(batch_frame(data, mallory.sign(data))))
    await target.wait_for(event="message", from_id=mallory.node_id, text="from the far future")
    for _ in range(3):
        await assert_unharmed(target, friend)
    assert not target.find(event="peer_left", node_id=friend.node_id), target.describe()


async def test_a_batch_its_author_did_not_sign_is_never_handed_on(swarm: Swarm) -> None:
    """A member sends its own batch with a signature that does not hold. Whether or not the
    target takes it, it must never hand it on: a newcomer that asks the target for the room's
    recent messages must not find a forgery there, and so never drop the target for it."""
    target, friend = await two_members(swarm)
    mallory, stream = await joined_as_member(swarm, target)
    unsigned = [(0, 0, "unsigned line")]
    data = batch_data(mallory.public_key, mallory.username, 1, 0, unsigned, mallory.room)
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(frame_of(batch_frame(data, b"\x00" * 64)))
    await chat_both_ways(target, friend)  # a barrier: the target has dealt with that batch
    await stream.aclose()
    late = await spawn_raw_node(swarm, "late", swarm.tracker_addr)
    await late.wait_for(event="ready", timeout=15)
    await wait_mesh([target, friend, late], timeout=15)
    # The newcomer shows the room's recent lines as history (the barrier's too), unless it
    # drops the target for what it handed on.
    outcome = await first_of(
        10,
        history=partial(
            late.wait_for, event="message", from_id=target.node_id, history=True, timeout=20
        ),
        dropped=partial(late.wait_log, "closing connection to target@", timeout=20),
    )
    assert outcome == "history", late.describe()
    await chat_both_ways(late, target)
    await assert_unharmed(target, friend)
    assert not late.find(event="peer_left", node_id=target.node_id), late.describe()
    assert "did not sign" not in late.log(), late.describe()
    assert not late.find(event="message", text="unsigned line"), late.describe()


# -- memory and connections -------------------------------------------------------------------


@pytest.mark.parametrize(
    "join",
    [
        pytest.param(True, id="joined-at-the-tracker", marks=SLOW),
        # Toward a member that is not the tracker no heartbeat ever cuts a silent peer: this
        # is the one that held 2 GiB for good (2,000 connections, scripts/attack.py).
        pytest.param(False, id="direct-to-a-member"),
    ],
)
async def test_partial_frames_held_open_are_bounded_and_cut(swarm: Swarm, join: bool) -> None:
    target, friend = await two_members(swarm)
    victim = target if join else friend
    pid = victim.process.pid
    rss0, fd0 = rss_kib(pid), fd_count(pid)
    partial = partial_frame()  # 1 MiB announced, all but one byte sent
    ids: list[str] = []

    def payload(i: int, me: FakeIdentity) -> tuple[bytes, bytes]:
        ids.append(me.node_id)
        return frame_of(me.hello(join=join, room=swarm.tracker_addr)), partial

    port = swarm.tracker_port if join else friend.port
    async with open_flood(port, 150, payload) as flood:
        await chat_both_ways(target, friend)  # the room goes on during the attack
        # Every partial frame is cut: refused for the budget at once, at its deadline, or
        # with the stranger that sent it.
        assert await flood.all_closed(FRAME_TIMEOUT + 5), flood.summary()
    peak = hwm_kib(pid)
    assert peak < RSS_PEAK_PARTIAL_MIB * MIB, f"peak {peak // MIB} MiB (at rest {rss0 // MIB})"
    fds = await fds_back_near(pid, fd0)
    assert fds <= fd0 + FD_SLACK, (fd0, fds)
    after = rss_kib(pid)
    assert after < rss0 + RSS_AFTER_ABOVE_BASELINE_MIB * MIB, (rss0 // MIB, after // MIB)
    await assert_unharmed(target, friend)
    if not join:
        assert not [e for e in friend.find(event="peer_joined") if e["node_id"] in ids]


async def test_fresh_keys_asking_for_the_recent_history_and_never_reading_hold_little(
    swarm: Swarm,
) -> None:
    """Attack round 46: 200 fresh keys that each asked for the recent history and read none of
    it held 5 MB apiece at the tracker, 1 GB, and most of it stayed after their links were
    gone. Few answers are under way at once (``messaging.ANSWERS_AT_ONCE``). Attack round 47:
    such keys that kept their links held a newcomer's history back for minutes; one that takes
    none of its answer gives its turn up while others wait (``messaging.ANSWER_STALL``)."""
    target, friend = await two_members(swarm)
    long = "x" * 16_000
    for i in range(40):  # 640 kB of history: an answer holds it, and its frames
        await friend.send(f"{i:02d} {long}")
    await target.wait_for(event="message", text=f"39 {long}", timeout=60)
    pid = target.process.pid
    rss0, hwm0 = rss_kib(pid), hwm_kib(pid)
    streams = []  # read by nobody, and alive: a beat each second

    async def beating(stream: SecureStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while True:
                await stream.send_all(frame_of({"t": "pong"}))
                await trio.sleep(1)

    try:
        async with trio.open_nursery() as beats:
            for _ in range(40):
                me = FakeIdentity()
                streams.append(stream := await connect(swarm.tracker_port, identity=me))
                asked = frame_of(me.hello(join=True)) + frame_of({"t": "recent", "count": 1000})
                await stream.send_all(asked)
                beats.start_soon(beating, stream)
            await chat_both_ways(target, friend)  # (the answers began long before)
            began = trio.current_time()
            newcomer = await spawn_raw_node(swarm, "newcomer", swarm.tracker_addr)
            await newcomer.wait_for(event="message", text=f"39 {long}", timeout=60)
            waited = trio.current_time() - began
            beats.cancel_scope.cancel()
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)
    peak = hwm_kib(pid)
    assert peak <= max(hwm0, rss0 + RSS_ANSWERS_MIB * MIB), (rss0 // MIB, peak // MIB)
    assert waited < HISTORY_WAIT_MOST, waited
    await assert_unharmed(target, friend)


async def test_direct_hellos_from_strangers_are_let_go_and_never_reported(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    pid = friend.process.pid
    fd0 = fd_count(pid)
    peaks = Peaks(pid)
    swarm.nursery.start_soon(peaks.run)
    ids: list[str] = []

    def payload(i: int, me: FakeIdentity) -> bytes:
        ids.append(me.node_id)
        return frame_of(me.hello(join=False, room=swarm.tracker_addr))

    async with open_flood(friend.port, 300, payload) as flood:
        await chat_both_ways(target, friend)
        # Over the per-address cap at once; the rest after the admission timeout.
        assert await flood.all_closed(ADMIT_TIMEOUT + 5), flood.summary()
    await assert_unharmed(target, friend)
    for proc in (friend, target):
        reported = [e for e in proc.find(event="peer_joined") if e["node_id"] in ids]
        assert not reported, f"{len(reported)} strangers reported as joined by {proc.name}"
    assert peaks.fds <= fd0 + MAX_PENDING_PER_ADDRESS + FD_FLOOD_SLACK, (fd0, peaks.fds)
    assert hwm_kib(pid) < RSS_PEAK_FLOOD_MIB * MIB
    assert await fds_back_near(pid, fd0) <= fd0 + FD_SLACK
    assert "refusing a connection" in friend.log(), "a refusal is logged"
    assert_log_lines_short(friend)


async def test_idle_connections_from_many_addresses_cannot_lock_out_a_newcomer(
    swarm: Swarm,
) -> None:
    target, friend = await two_members(swarm)
    pid = target.process.pid
    fd0 = fd_count(pid)
    peaks = Peaks(pid)
    swarm.nursery.start_soon(peaks.run)
    sources = [f"127.0.0.{i}" for i in range(2, 12)]  # ten addresses, 60 each: under 64 apiece

    def payload(i: int, me: FakeIdentity) -> bytes:
        return frame_of(me.hello(join=False, room=swarm.tracker_addr))

    async with open_flood(swarm.tracker_port, 600, payload, sources=sources) as flood:
        await chat_both_ways(target, friend)
        # The tracker address stays open to newcomers: strangers are let go in time.
        late = await spawn_raw_node(swarm, "late", swarm.tracker_addr)
        await late.wait_for(event="ready", timeout=15)
        await wait_mesh([target, friend, late], timeout=15)
        assert await flood.all_closed(ADMIT_TIMEOUT + 5), flood.summary()
    await chat_both_ways(late, target)
    await chat_both_ways(late, friend)
    await late.close_stdin()
    assert await late.wait_exit() == 0
    await assert_unharmed(target, friend)
    assert peaks.fds <= fd0 + 2 + MAX_PENDING + FD_FLOOD_SLACK, (fd0, peaks.fds)
    assert hwm_kib(pid) < RSS_PEAK_FLOOD_MIB * MIB
    assert await fds_back_near(pid, fd0) <= fd0 + FD_SLACK
    for proc in (target, friend):
        joined = {e["node_id"] for e in proc.find(event="peer_joined")}
        assert joined <= {target.node_id, friend.node_id, late.node_id}, proc.describe()
    assert "refusing a connection" in target.log()
    assert_log_lines_short(target)


@slow
async def test_a_newcomer_reaches_a_member_that_strangers_keep_flooding(swarm: Swarm) -> None:
    """Strangers from many addresses keep the member's pending slots full (each let go after
    the admission timeout is replaced at once). A newcomer joins meanwhile: once the flood
    stops, it and the member must be connected and chatting, not each missing from the other's
    room for good."""
    target, friend = await two_members(swarm)
    sources = [f"127.0.0.{i}" for i in range(2, 12)]

    def payload(n: int, me: FakeIdentity) -> bytes:
        return frame_of(me.hello(join=False, room=swarm.tracker_addr))

    async def newcomer() -> RawProc:
        late = await spawn_raw_node(swarm, "late", swarm.tracker_addr)
        await late.wait_for(event="ready", timeout=15)
        return late

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            partial(sustain_flood, sources=sources), friend.port, 2 * MAX_PENDING, payload, 3.0
        )
        await trio.sleep(0.5)  # the attack's schedule: the newcomer comes once the flood is on
        late = await newcomer()
    await wait_mesh([target, friend, late], timeout=15)
    await chat_both_ways(late, friend)
    await assert_unharmed(target, friend)


@slow
async def test_a_peer_that_trickles_a_frame_is_cut_at_the_frame_deadline(swarm: Swarm) -> None:
    target, friend = await two_members(swarm)
    mallory = FakeIdentity()
    hello = mallory.hello(join=True)
    stream = await connect(swarm.tracker_port, identity=mallory)
    await stream.send_all(frame_of(hello) + partial_frame(4096, missing=2048))
    started = trio.current_time()
    # One byte now and then keeps the connection from ever being silent, never the frame whole.
    with trio.move_on_after(FRAME_TIMEOUT + 5) as waited:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async with trio.open_nursery() as nursery:

                async def trickle() -> None:
                    while True:
                        await stream.send_all(b"\x00")
                        await trio.sleep(0.1)

                nursery.start_soon(trickle)
                await read_until_closed(stream, FRAME_TIMEOUT + 5)
                nursery.cancel_scope.cancel()
    await stream.aclose()
    assert not waited.cancelled_caught, "a trickled frame was never cut"
    took = trio.current_time() - started
    assert took < FRAME_TIMEOUT + 2, took
    left = await target.wait_for(event="peer_left", node_id=hello["node_id"])
    assert "frame" in left["reason"], left
    await assert_unharmed(target, friend)


async def test_a_member_cannot_silence_another_by_claiming_its_messages(swarm: Swarm) -> None:
    """mallory claims to hold friend's messages up to 2**62, is asked for them, and answers
    with a skip over all of them: the target must not stop waiting for friend's messages."""
    target, friend = await two_members(swarm)
    await friend.send("before the lie")
    await target.wait_for(event="message", from_id=friend.node_id, text="before the lie")
    mallory, stream = await joined_as_member(swarm, target)
    await stream.send_all(frame_of({"t": "summary", "heads": {friend.node_id: 2**62}}))
    await asked_for(stream, friend.node_id)
    await stream.send_all(frame_of({"t": "skip", "author": friend.node_id, "seq": 2**62}))
    for i in range(3):
        await friend.send(f"after the lie {i}")
        await target.wait_for(event="message", from_id=friend.node_id, text=f"after the lie {i}")
    await stream.aclose()


async def test_a_member_whose_port_never_answers_holds_no_newcomers_ready_back(
    swarm: Swarm,
) -> None:
    """Attack round 48: a member key whose advertised port accepts and never answers made
    every newcomer wait for its dial to time out (3 s) before it was ready."""
    target, friend = await two_members(swarm)
    dialled: list[float] = []

    async def tarpit(stream: trio.SocketStream) -> None:
        dialled.append(trio.current_time())
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, tarpit, 0, host="127.0.0.1"))
        mallory = FakeIdentity(room=open_room_at(swarm.tracker_port))
        stream = await connect(swarm.tracker_port, identity=mallory)
        pit = listener.socket.getsockname()[1]
        await stream.send_all(frame_of(mallory.hello(join=True, port=pit)))
        await target.wait_for(event="peer_joined", node_id=mallory.node_id)

        async def keep_answering() -> None:  # a member in every other way
            reader = FrameReader(stream)
            while (received := await reader.next()) is not None:
                if received["t"] in ("ping", "probe"):
                    await stream.send_all(
                        frame_of({"t": "pong" if received["t"] == "ping" else "beat"})
                    )

        nursery.start_soon(keep_answering)
        late = await spawn_raw_node(swarm, "late", swarm.tracker_addr)
        await late.wait_for(event="ready", timeout=15)
        ready = trio.current_time()
        assert dialled, "the newcomer never dialled the member"
        waited = ready - dialled[0]
        assert waited < Config().connect_timeout - 0.5, waited
        await chat_both_ways(late, friend)
        nursery.cancel_scope.cancel()
