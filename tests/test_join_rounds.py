"""A join's rounds (``Entrance._find_room``) with its dials and answers played by the test."""

from __future__ import annotations

import contextlib
import types
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from peerchat import entrance
from peerchat.config import Config

HOME, MEMBER = ("127.0.0.1", 5000), ("10.0.0.7", 40000)


async def test_a_tracker_that_dials_from_a_member_silent_earlier_is_joined(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Review 56: a remembered member that did not answer is not dialled again in that join
    (trial 52), but a tracker that dials this node from that address is: left out, the join
    ran out and never founded either."""
    dialled: list[tuple[str, int]] = []
    entered: list[object] = []

    async def never_free() -> None:
        return None

    node = types.SimpleNamespace(
        config=Config(),
        settings=types.SimpleNamespace(trackers=(HOME,), discover=False),
        discovered=[],
        lan=None,
        room_name="",
        candidates=lambda: [HOME, MEMBER],
        home_address=types.SimpleNamespace(try_bind=never_free),
    )

    @contextlib.asynccontextmanager
    async def no_dials(addresses: object, timeout: float) -> AsyncIterator[None]:
        yield None

    monkeypatch.setattr(entrance, "dialled", no_dials)
    door = entrance.Entrance(node)  # type: ignore[arg-type]
    door.seeking, door._known = True, frozenset({"tracker"})

    async def join_at(host: str, port: int, *args: object, **kwargs: object) -> object:
        dialled.append((host, port))
        if (host, port) == MEMBER:
            if dialled.count(MEMBER) == 1:  # its network was not up yet
                raise entrance._NoAnswer
            return ("welcomed",)
        if dialled.count(HOME) == 2:  # the tracker dials in meanwhile, from there
            door.tracker_knocked("tracker", *MEMBER)
            await trio.sleep(1)
        raise entrance._NoAnswer

    async def enter(*welcomed: object) -> None:
        entered.append(welcomed)

    monkeypatch.setattr(door, "_join_at", join_at)
    monkeypatch.setattr(door, "_enter", enter)
    await door._find_room(8)
    assert entered == [("welcomed",)]
    assert dialled.count(MEMBER) == 2  # silent once, then dialled as the tracker
