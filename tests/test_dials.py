"""Dialling a join's addresses a few ahead: dead ones cost the connect timeout about once in
``AHEAD``, not once each; connections nobody took are closed."""

from __future__ import annotations

import pytest
import trio

from peerchat import dials as dials_module
from peerchat.dials import AHEAD, FRESH, Address, dialled

DEAD = [("10.0.0.7", 5000), ("10.0.0.8", 5000), ("10.0.0.9", 5000)]
LIVE = ("10.0.0.2", 5000)


class FakeStream:
    def __init__(self, address: Address) -> None:
        self.address = address
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[FakeStream]:
    """Addresses in ``DEAD`` never answer; any other answers at once. Returns the streams."""
    made: list[FakeStream] = []

    async def open_tcp_stream(host: str, port: int) -> FakeStream:
        if (host, port) in DEAD:
            await trio.sleep_forever()
        made.append(FakeStream((host, port)))
        return made[-1]

    monkeypatch.setattr(dials_module.trio, "open_tcp_stream", open_tcp_stream)
    return made


async def past_the_dead(dead: list[Address]) -> tuple[FakeStream, float]:
    """A join's take of each of ``dead``, then of ``LIVE``: its stream, and the time it took."""
    start = trio.current_time()
    async with dialled([*dead, LIVE], timeout=3.0) as dials:
        for address in dead:
            with pytest.raises(OSError):
                await dials.take(address)
        stream = await dials.take(LIVE)
    assert stream.address == LIVE
    return stream, trio.current_time() - start


async def test_dead_addresses_cost_the_timeout_once_not_each(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    assert len(DEAD) < AHEAD
    stream, took = await past_the_dead(DEAD)
    assert took == pytest.approx(3.0)
    assert not stream.closed  # taken: the taker's to close


async def test_only_a_few_are_dialled_ahead_and_those_nobody_took_are_closed(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    """Each connection a join does not take is a refusal in the log of the member it reached:
    the first ``AHEAD`` are dialled, and each one taken starts the next."""
    others = [(f"10.0.0.{i}", 5000) for i in range(10, 30)]
    start = trio.current_time()
    async with dialled([LIVE, *others, *DEAD], timeout=3.0) as dials:
        taken = await dials.take(LIVE)
        await trio.sleep(0.1)  # those dialled ahead have connected meanwhile
    assert trio.current_time() - start == pytest.approx(0.1)
    assert not taken.closed
    untaken = [s.address for s in network if s is not taken]
    assert sorted(untaken) == sorted(others[:AHEAD])  # the one taken started one more
    assert all(s.closed for s in network if s is not taken)


async def test_an_error_in_the_body_closes_what_was_dialled(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(ExceptionGroup):
        async with dialled([LIVE, ("10.0.0.3", 5000)], timeout=3.0) as dials:
            await trio.sleep(0.1)
            raise RuntimeError("the join failed")
    assert len(network) == 2 and all(s.closed for s in network)
    assert dials._streams == {}


async def test_an_address_not_dialled_is_no_connection(network: list[FakeStream]) -> None:
    async with dialled([LIVE], timeout=3.0) as dials:
        with pytest.raises(OSError):
            await dials.take(("10.0.0.5", 5000))


async def test_a_connection_left_unused_too_long_is_made_anew(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    """A join through the first address took a second; the far end of the second had closed
    its silent connection by then (a join waited on a hung tracker, then failed at the next
    address, round after round)."""
    other = ("10.0.0.3", 5000)
    async with dialled([LIVE, other], timeout=3.0) as dials:
        await dials.take(LIVE)
        await trio.sleep(2 * FRESH)
        stream = await dials.take(other)
    first, second = [s for s in network if s.address == other]
    assert first.closed and stream is second and not second.closed


async def test_while_one_does_not_answer_more_are_dialled_behind_it(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    """Attack round 18: a stranger's 64 dead answers on the LAN, dialled four at a time, each
    four costing the timeout, kept a newcomer out for good. Their timeouts run together."""
    dead = [(f"10.0.1.{i}", 5000) for i in range(64)]
    DEAD.extend(dead)
    try:
        _, took = await past_the_dead(dead)
        assert took < 2 * 3.0  # not 16 times the timeout
    finally:
        del DEAD[-len(dead) :]


async def test_the_dials_that_let_the_whole_timeout_pass_are_named(
    network: list[FakeStream], autojump_clock: trio.testing.MockClock
) -> None:
    """A join asks no more of those in that join (trial 53); a quick refusal is not one."""
    async with dialled([*DEAD, LIVE], timeout=3.0) as dials:
        for address in DEAD:
            with pytest.raises(OSError):
                await dials.take(address)
        await dials.take(LIVE)
    assert dials.timed_out == set(DEAD)
