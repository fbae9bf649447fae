"""Private rooms, end to end: a room secret keeps outsiders out, and nothing is sent in clear."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
import trio
from e2e_helpers import Swarm, say_and_expect, wait_mesh

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
        assert len(lines) == 1 and "wrong or missing room secret" in lines[0], eve.describe()
        # Nothing of the room: no event at all (no member list, no message), no name.
        assert eve.events == [], eve.describe()
        for said in (eve.stderr(), eve.log()):
            assert "alice" not in said and "bob" not in said and "members only" not in said

    for member in (alice, bob):
        joined = {e["username"] for e in member.find(event="peer_joined")}
        assert joined <= {"alice", "bob"}, member.describe()
    await say_and_expect(bob, "still just us", [alice])
    # The secret is in no log, no event, no argument, and not in the data dir in plain form.
    for member in (alice, bob):
        shown = member.log() + member.stderr() + repr(member.events) + " ".join(member.argv)
        assert SECRET not in shown
    for path in bob_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


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
