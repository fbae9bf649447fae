"""The room's home address between a tracker on its host and the members there that stand by
(``TrackerAddress``, ``standby``): real listening sockets on loopback, trio's clock jumping."""

from __future__ import annotations

import random
import socket

import pytest
import trio
import trio.testing

from peerchat.config import Config
from peerchat.tracker_address import StartupError, TrackerAddress, bind

CONFIG = Config()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _unused(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def _no_knock() -> None:
    pass


def address(port: int, knock=_no_knock) -> TrackerAddress:  # noqa: ANN001 - an async callable
    return TrackerAddress("127.0.0.1", port, CONFIG, _unused, knock)


async def test_a_tracker_that_knocks_and_never_takes_the_address_is_heeded_less_and_less(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A review: a claimant knocking every second on the address a member held for it, and
    never binding it, kept it free 96% of the time, and newcomers founded a second room."""
    async with trio.open_nursery() as nursery:
        member = address(free_port())
        member.hold(nursery, None, standby=True)
        with trio.fail_after(5):
            while not member.serving:
                await trio.sleep(0.01)
        free = samples = 0
        for _ in range(120):  # two minutes of a knock a second
            member.step_aside(nursery)
            for _ in range(20):
                await trio.sleep(0.05)
                samples += 1
                free += not member.serving
        assert free / samples < 0.05, free / samples
        nursery.cancel_scope.cancel()


async def test_an_honest_tracker_takes_the_address_from_many_members_standing_by(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A review: with 50 members standing by, each took the address back on its own tick
    after another let go for the tracker's knock, and the tracker did not get it in 60 s."""
    port = free_port()
    async with trio.open_nursery() as nursery:
        members = [address(port) for _ in range(50)]
        ticks = random.Random(7)
        for m in members:  # each on a tick of its own
            m.hold(nursery, None, standby=True)
            await trio.sleep(ticks.uniform(0, CONFIG.knock_interval / 25))
        with trio.fail_after(5):
            while not any(m.serving for m in members):
                await trio.sleep(0.01)

        async def knock() -> None:  # the holder's doorman, at the tracker's hello
            for m in members:
                if m.serving:
                    m.step_aside(nursery)

        tracker = address(port, knock)
        tracker.hold(nursery, None)
        with trio.fail_after(5):
            while not tracker.serving:
                await trio.sleep(0.01)
        await trio.sleep(30)
        assert tracker.serving and not any(m.serving for m in members)
        nursery.cancel_scope.cancel()


async def test_an_address_not_of_this_computer_is_named_without_port_0() -> None:
    """A user trial's ``--host 10.9.9.9`` read "cannot listen on 10.9.9.9:0" (any free port)."""
    with pytest.raises(StartupError) as failed:
        await bind("192.0.2.1", 0)  # (binding sends nothing)
    said = str(failed.value)
    assert said.startswith("cannot listen on 192.0.2.1: ") and ":0" not in said, said
    assert failed.value.status == 2
