"""The members a node remembers for its next start: only at addresses their links came from,
and a few of each host (attack round 38 F3: 64 made-up members took every place, an honest
member who had quit was forgotten, and a restart dialled only the attacker's addresses)."""

from __future__ import annotations

import types
from pathlib import Path

import trio
from attacks import FakeIdentity, FrameReader, connect, open_room_at
from attacks import frame as frame_of
from test_cluster import Room

from peerchat.datadir import MAX_PEERS_PER_HOST, DataDir
from peerchat.links import _came_from, _proved_at
from peerchat.membership import Member

TRACKERS = (("10.9.0.1", 5000),)


def test_a_link_dialled_by_its_peer_proves_only_the_host_it_came_from() -> None:
    def came(host: str) -> object:
        return types.SimpleNamespace(remote_host=host)

    assert _came_from(came("10.0.0.5"), "10.0.0.5")  # type: ignore[arg-type]
    assert _came_from(came("::ffff:10.0.0.5"), "10.0.0.5")  # type: ignore[arg-type]
    assert not _came_from(came("10.0.0.5"), "10.0.0.6")  # type: ignore[arg-type]
    assert not _came_from(came("10.0.0.5"), "pi.lan")  # type: ignore[arg-type]
    assert _came_from(came("127.0.0.1"), "127.0.0.1")  # type: ignore[arg-type]
    assert _came_from(came(""), "127.0.0.1")  # (no IP socket: as loopback)  # type: ignore[arg-type]
    assert not _came_from(came("127.0.0.1"), "10.0.0.5")  # type: ignore[arg-type]
    # Attack round 39 F3: an IPv6 address counts with its /48, but proves none of the others
    assert _came_from(came("2001:db8:1:2::5"), "2001:db8:1:2::5")  # type: ignore[arg-type]
    assert not _came_from(came("2001:db8:1:2::5"), "2001:db8:1:3::9")  # type: ignore[arg-type]


def test_a_member_dialled_is_remembered_where_it_was_reached_at_its_own_port() -> None:
    """Review 58: one reached at the room's home address, which it held, was remembered
    there, and not at its own port, lost with the home."""
    alice = Member("a1", "alice", "10.0.0.5", 40000, 0)
    came = types.SimpleNamespace(remote_host="10.0.0.9")  # (not where it says it is)
    assert _proved_at(came, alice, "10.0.0.5:5000") == ("10.0.0.5", 40000)  # type: ignore[arg-type]
    assert _proved_at(came, alice, "10.0.0.7:6000") == ("10.0.0.7", 6000)  # type: ignore[arg-type]
    assert _proved_at(came, alice, None) is None  # type: ignore[arg-type]


def test_a_few_members_of_each_host_are_remembered(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    try:
        honest = [("10.0.0.2", 6000), ("10.0.0.3", 6000)]
        data.remember(TRACKERS, "room", honest)
        many = [("10.0.0.66", port) for port in range(7000, 7064)]  # one computer's 64 keys
        many += [(f"2001:db8:1:{n:x}::1", 9) for n in range(64)]  # one site's /48
        data.remember(TRACKERS, "room", many)
        kept = data.peers(TRACKERS)
        assert kept == many[:MAX_PEERS_PER_HOST] + many[64 : 64 + MAX_PEERS_PER_HOST] + honest
    finally:
        data.close()


async def test_a_member_whose_hello_names_another_host_is_not_remembered(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "alice")
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice = await room.add("alice", data=data)
        bob = await room.add("bob")
        await room.fully_connected()
        mallory = FakeIdentity(room=open_room_at(room.tracker_port))
        stream = await connect(room.tracker_port, identity=mallory)
        hello = mallory.hello(join=True, host="10.66.0.1", port=9)  # not where it came from
        await stream.send_all(frame_of(hello))
        await FrameReader(stream).until(lambda f: f.get("t") == "welcome", timeout=10)
        with trio.fail_after(5):
            while mallory.node_id not in alice.node.links.conns:
                await trio.sleep(0.01)
        alice.node._save_peers()
        remembered = data.peers((("127.0.0.1", room.tracker_port),))
        assert ("10.66.0.1", 9) not in remembered
        assert (bob.node.me.host, bob.node.me.port) in remembered  # a member it came from
        await stream.aclose()
        nursery.cancel_scope.cancel()
    data.close()


async def test_members_only_named_by_the_tracker_are_not_remembered(tmp_path: Path) -> None:
    """Review 57: a newcomer remembered members the tracker's welcome named, at the addresses
    they claimed, though it never reached them."""
    data = DataDir(tmp_path / "carol")
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        bob = await room.add("bob")
        streams = []
        for n in range(3):  # made-up members, at addresses where nothing listens
            mallory = FakeIdentity(room=open_room_at(room.tracker_port))
            stream = await connect(room.tracker_port, identity=mallory)
            await stream.send_all(frame_of(mallory.hello(join=True, host=f"10.66.0.{n}", port=9)))
            await FrameReader(stream).until(lambda f: f.get("t") == "welcome", timeout=10)
            streams.append(stream)
        carol = await room.add("carol", data=data)
        with trio.fail_after(10):  # each dialled in vain, and waited for
            while len(list(carol.node.links.redial)) < 3:
                await trio.sleep(0.01)
        carol.node._save_peers()
        remembered = data.peers((("127.0.0.1", room.tracker_port),))
        assert remembered == [(bob.node.me.host, bob.node.me.port)], remembered
        for stream in streams:
            await stream.aclose()
        nursery.cancel_scope.cancel()
    data.close()
