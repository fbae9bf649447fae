"""Private rooms, end to end: a room secret keeps outsiders out, and nothing is sent in clear."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from pathlib import Path

import pytest
import trio
from attacks import (
    FakeIdentity,
    connect,
    connect_raw,
    frame,
    read_until_closed,
    split_frames,
)
from e2e_helpers import Swarm, say_and_expect, slow, wait_mesh

from peerchat.handshake import Handshake, LocalKeys, room_key

SECRET = "correct horse battery staple"
ETH_P_ALL = 0x0003


async def test_without_the_room_secret_a_node_learns_nothing_and_exits_with_one_line(
    swarm: Swarm, tmp_path: Path
) -> None:
    secret_file = tmp_path / "room-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    alice = await swarm.node("alice", env={"PEERCHAT_SECRET": SECRET})
    bob_dir = tmp_path / "bob-data"
    bob = await swarm.node(
        "bob", "--data-dir", str(bob_dir), env={"PEERCHAT_SECRET_FILE": str(secret_file)}
    )
    await wait_mesh([alice, bob])
    await say_and_expect(alice, "for members only", [bob])

    outsiders = {"nosecret": {}, "wrongsecret": {"PEERCHAT_SECRET": "battery horse"}}
    for name, env in outsiders.items():
        eve = await swarm.node(name, wait=False, env=env)
        assert await eve.wait_exit() == 1, eve.describe()
        lines = eve.stderr().strip().splitlines()
        why = {"nosecret": "missing room secret", "wrongsecret": "wrong room secret"}[name]
        assert len(lines) == 1 and why in lines[0], eve.describe()
        # Nothing of the room: no event at all (no member list, no message), no name.
        assert eve.events == [], eve.describe()
        for said in (eve.stderr(), eve.log()):
            assert "alice" not in said and "bob" not in said and "members only" not in said

    for member in (alice, bob):
        joined = {e["username"] for e in member.find(event="peer_joined")}
        assert joined <= {"alice", "bob"}, member.describe()
    await say_and_expect(bob, "still just us", [alice])
    # The secret is in no log, no event, no argument, not in the environment the process shows
    # (`ps e`), and not in the data dir in plain form.
    for member in (alice, bob):
        shown = member.log() + member.stderr() + repr(member.events) + " ".join(member.argv)
        assert SECRET not in shown
        environ = Path(f"/proc/{member.process.pid}/environ")
        if environ.exists():
            assert SECRET.encode() not in environ.read_bytes()
    for path in bob_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_a_node_with_a_secret_at_an_open_room_is_told_the_room_is_open(swarm: Swarm) -> None:
    """A user trial: with a secret, at a room that has none, the line read "the room ... has
    another one"."""
    await swarm.node("alice")
    frank = await swarm.node("frank", wait=False, env={"PEERCHAT_SECRET": SECRET})
    assert await frank.wait_exit() == 1, frank.describe()
    lines = frank.stderr().strip().splitlines()
    assert len(lines) == 1 and "is open, with no secret" in lines[0], frank.describe()
    assert "PEERCHAT_SECRET" in lines[0] and frank.events == []


@pytest.mark.skipif(
    not hasattr(socket, "AF_PACKET") or os.geteuid() != 0, reason="captures need root and Linux"
)
async def test_a_capture_of_the_loopback_during_a_chat_shows_no_text_and_no_name(
    swarm: Swarm,
) -> None:
    capture = trio.socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    await capture.bind(("lo", 0))
    seen = bytearray()

    async def record() -> None:
        while len(seen) < 256 << 20:
            seen.extend(await capture.recv(65536))

    tag = uuid.uuid4().hex[:8]
    names = [f"alice{tag}", f"bob{tag}"]
    text = f"meet at the old mill at nine {tag}"
    control = f"in clear {tag}".encode()
    with capture:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(record)
            alice, bob = await swarm.room(*names)  # their hellos and welcomes are captured too
            await say_and_expect(alice, text, [bob])
            # The capture works: bytes sent in clear on the loopback are in it.
            listener = trio.socket.socket()
            await listener.bind(("127.0.0.1", 0))
            listener.listen()
            sender = trio.socket.socket()
            with listener, sender:
                await sender.connect(listener.getsockname())
                await sender.send(control)
                accepted, _ = await listener.accept()
                with accepted:
                    assert await accepted.recv(100) == control
            with trio.fail_after(5):
                while control not in seen:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert text.encode() not in seen
    for name in names:
        assert name.encode() not in seen


async def test_a_name_in_use_or_one_like_it_cannot_be_taken_by_another_key(swarm: Swarm) -> None:
    alice, bob = await swarm.room("alice", "bob")
    for name, port, join in (
        ("bob", bob.port, False),  # straight to a member, as if it were bob coming back
        ("bob", swarm.tracker_port, True),
        ("B0b", swarm.tracker_port, True),
    ):
        impostor = FakeIdentity(name)
        stream = await connect(port, identity=impostor)
        await stream.send_all(frame(impostor.hello(join=join, room=swarm.tracker_addr)))
        answer, closed = await read_until_closed(stream, 10)
        await stream.aclose()
        assert closed
        refusals = [f for f in split_frames(answer) if f.get("t") == "refuse"]
        assert refusals and "taken" in refusals[0]["reason"], (name, split_frames(answer))
    for member in (alice, bob):
        joined = {e["node_id"] for e in member.find(event="peer_joined")}
        assert joined <= {alice.node_id, bob.node_id}, member.describe()
    await say_and_expect(bob, "still the real bob", [alice])


async def test_a_known_name_back_under_another_key_is_pointed_out(
    swarm: Swarm, tmp_path: Path
) -> None:
    alice = await swarm.node("alice")
    first = await swarm.node("bob", "--data-dir", str(tmp_path / "first-computer"))
    await wait_mesh([alice, first])
    await first.close_stdin()
    assert await first.wait_exit() == 0
    await alice.wait_for(event="peer_left", node_id=first.node_id)
    again = await swarm.node("bob", "--data-dir", str(tmp_path / "first-computer"))
    await wait_mesh([alice, again])
    assert again.node_id == first.node_id and not alice.find(event="new_key")
    mark = len(alice.events)
    await again.close_stdin()
    await alice.wait_for(event="peer_left", node_id=again.node_id, since=mark)
    other = await swarm.node("bob", "--data-dir", str(tmp_path / "another-computer"))
    warning = await alice.wait_for(event="new_key", node_id=other.node_id)
    assert warning["username"] == "bob" and warning["old_node_id"] == first.node_id
    # Told before its join: a bot that greets each join had greeted it first (trial 67)
    joined = await alice.wait_for(event="peer_joined", node_id=other.node_id)
    assert alice.events.index(warning) < alice.events.index(joined), alice.describe()
    # The other key gone, the first comes back to its own name (a user trial: it was refused
    # for good, "the name 'bob' is taken", though nobody in the room had it).
    mark = len(alice.events)
    await other.close_stdin()
    await alice.wait_for(event="peer_left", node_id=other.node_id, since=mark)
    home = await swarm.node("bob", "--data-dir", str(tmp_path / "first-computer"))
    assert home.node_id == first.node_id
    await wait_mesh([alice, home])


@slow
async def test_a_name_whose_owner_a_cut_keeps_away_is_not_given_to_a_new_key(
    swarm: Swarm,
) -> None:
    """A user trial: a stranger took "bob" during a few seconds' cut, and the real bob was
    shut out on his return. Stopped, bob is cut off but not gone (its port still takes a
    connection), so the room keeps his name for him."""
    alice, bob = await swarm.room("alice", "bob")
    mark = len(alice.events)
    bob.signal(signal.SIGSTOP)
    await alice.wait_for(event="peer_left", node_id=bob.node_id, since=mark)
    squatter = await swarm.spawn(
        "squatter", "--username", "bob", "--headless", "--tracker", swarm.tracker_addr
    )
    assert await squatter.wait_exit() == 1
    assert "name 'bob' is taken" in squatter.stderr(), squatter.describe()
    bob.signal(signal.SIGCONT)
    await alice.wait_for(event="peer_joined", node_id=bob.node_id, since=mark, timeout=20)
    await say_and_expect(alice, "welcome back, the real bob", [bob])


async def test_a_stranger_that_says_no_at_one_address_does_not_stop_a_join_at_the_next(
    swarm: Swarm,
) -> None:
    """The refusal a node with another secret gets is not signed: a stranger at the first
    address that sends it must not make a newcomer give up the room at the second."""
    alice = await swarm.node("alice")

    async def say_no(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(b"\x00\x00")  # an empty handshake message: "another secret"
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    squatter = listeners[0].socket.getsockname()[1]
    await swarm.nursery.start(trio.serve_listeners, say_no, listeners)
    bob = await swarm.spawn(
        "bob", "--username", "bob", "--headless", "--tracker", f"127.0.0.1:{squatter},"
        f"{swarm.tracker_addr}",
    )  # fmt: skip
    await bob.wait_for(event="ready")
    await wait_mesh([alice, bob])
    await say_and_expect(bob, "in anyway", [alice])


async def test_guesses_at_the_secret_from_one_address_are_answered_once_a_second(
    swarm: Swarm,
) -> None:
    alice = await swarm.node("alice", env={"PEERCHAT_SECRET": SECRET})
    guess = room_key("a wrong guess at it")

    async def attempt() -> bytes:
        stream = await connect_raw(swarm.tracker_port, source="127.0.0.2")
        first = Handshake(LocalKeys.make(FakeIdentity()), guess, initiator=True).first()  # type: ignore[arg-type]
        await stream.send_all(len(first).to_bytes(2, "big") + first)
        answer, _ = await read_until_closed(stream, 5)
        return answer

    assert await attempt() == b"\x00\x00"  # told no
    began, unanswered = trio.current_time(), 0
    while (answer := await attempt()) != b"\x00\x00":
        assert answer == b""  # closed before any handshake: no answer to learn from
        unanswered += 1
    assert unanswered >= 1 and trio.current_time() - began >= 0.8
    bob = await swarm.node("bob", env={"PEERCHAT_SECRET": SECRET})  # from 127.0.0.1
    await wait_mesh([alice, bob])
