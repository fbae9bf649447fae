"""The read pace (``peerchat.read_pace``): every frame a member sends counts, small ones for
``FRAME_COST`` at least; past the pace its link is held."""

from __future__ import annotations

import types

import pytest
import trio
from test_cluster import Room

from peerchat import read_pace
from peerchat.protocol import Private, Typing
from peerchat.read_pace import FRAME_COST, MESSAGE_COST, ReadPace, batch_cost


def link(address: str = "") -> types.SimpleNamespace:
    return types.SimpleNamespace(
        member=types.SimpleNamespace(node_id="b" * 32), address=address, hold=0.0
    )


def test_small_frames_count_for_a_frame_cost_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack round 18: 2 million typing notices of 20 bytes in 10 s, read unpaced."""
    monkeypatch.setattr(read_pace, "MEMBER_AT_ONCE", 100 * FRAME_COST)
    monkeypatch.setattr(read_pace, "MEMBER_PER_SECOND", 10 * FRAME_COST)
    pace, conn = ReadPace(), link()
    for _ in range(100):
        pace.charge(conn, 20, now=0.0)  # type: ignore[arg-type]
    assert conn.hold == 0.0
    pace.charge(conn, 20, now=0.0)  # type: ignore[arg-type]
    assert conn.hold == pytest.approx(0.1)  # one frame past: a tenth of a second
    conn.hold = 0.0
    pace.charge(conn, 10 * FRAME_COST, now=1.1)  # type: ignore[arg-type]
    assert conn.hold == pytest.approx(0.0, abs=1e-9)  # a second later: paid back, and this


def test_a_batch_counts_for_a_message_cost_each_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack round 49: batches of 256 empty lines, 5 KB each, let one key say 50,000 messages
    a second, and the others' lines waited behind them for as long as it went on."""
    monkeypatch.setattr(read_pace, "MEMBER_AT_ONCE", 256 * MESSAGE_COST)
    monkeypatch.setattr(read_pace, "MEMBER_PER_SECOND", 256 * MESSAGE_COST)
    pace, conn = ReadPace(), link()
    pace.charge(conn, batch_cost(5_000, 256), now=0.0)  # type: ignore[arg-type]
    assert conn.hold == 0.0  # the batch's 256 messages: the pace of a second, all of it
    pace.charge(conn, batch_cost(200, 1), now=0.0)  # type: ignore[arg-type]
    assert conn.hold == pytest.approx(FRAME_COST / (256 * MESSAGE_COST))  # a frame past it
    conn.hold = 0.0
    big = 256 * MESSAGE_COST  # a batch whose bytes cost more than its messages: those only
    pace.charge(conn, batch_cost(big, 256), now=2.0)  # type: ignore[arg-type]
    assert conn.hold == pytest.approx(0.0, abs=1e-9)


def test_the_members_of_one_address_share_its_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_pace, "ADDRESS_AT_ONCE", 4 * FRAME_COST)
    monkeypatch.setattr(read_pace, "ADDRESS_PER_SECOND", FRAME_COST)
    pace = ReadPace()
    one, other, local = link("10.0.0.7"), link("10.0.0.7"), link("")
    one.member.node_id, other.member.node_id = "1" * 32, "2" * 32
    for conn in (one, one, other, other, local, local, local, local, local):
        pace.charge(conn, 1, now=0.0)  # type: ignore[arg-type]
    assert (one.hold, other.hold, local.hold) == (0.0, 0.0, 0.0)
    pace.charge(other, 1, now=0.0)  # type: ignore[arg-type]
    assert other.hold == pytest.approx(1.0)  # this computer's own are not counted there


async def test_every_frame_but_a_file_chunk_is_charged_at_its_size() -> None:
    """Attack round 18: private messages (366,848 in 15 s) and typing notices skipped the
    pace that lines keep."""
    async with trio.open_nursery() as nursery:
        room = Room(nursery)
        alice, bob = await room.add("alice"), await room.add("bob")
        await room.fully_connected()
        charged: list[int] = []
        charge = alice.node.read_pace.charge
        alice.node.read_pace.charge = lambda conn, size, now, kind=None: (  # type: ignore[method-assign]
            charged.append(size) if conn.member.node_id == bob.node.node_id else None,
            charge(conn, size, now, kind),
        )[1]
        to_alice = bob.node.links.conns[alice.node.node_id]
        to_alice.send(Typing())
        to_alice.send(Private("x" * 5000, 0.0, 0.0, 1))
        with trio.fail_after(5):
            while len(charged) < 2 or max(charged) < 5000:
                await trio.sleep(0.01)
        assert min(charged) < 64 and 5000 < max(charged) < 5200
        nursery.cancel_scope.cancel()
