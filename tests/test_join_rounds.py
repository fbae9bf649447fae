"""A join's rounds (``Entrance._find_room``) with its dials and answers played by the test."""

from __future__ import annotations

import contextlib
import types
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing

from peerchat import entrance
from peerchat.config import Config
from peerchat.handshake import OPEN_ROOM, HandshakeError

HOME, MEMBER = ("127.0.0.1", 5000), ("10.0.0.7", 40000)
TIMED_OUT: set[tuple[str, int]] = set()  # what the fake dials found silent for the timeout


@contextlib.asynccontextmanager
async def no_dials(addresses: object, timeout: float) -> AsyncIterator[object]:
    """The dials, played by each test's ``_join_at``."""
    yield types.SimpleNamespace(timed_out=TIMED_OUT)


async def never_free() -> None:
    """The home address, taken (by the room's tracker elsewhere on this machine)."""
    return None


def door_at(
    monkeypatch: pytest.MonkeyPatch,
    trackers: tuple[tuple[str, int], ...],
    candidates: list[tuple[str, int]],
    try_bind: Callable[[], Awaitable[object]] = never_free,
    by_name: bool = False,
) -> entrance.Entrance:
    """A join's entrance over the fake dials, given ``trackers`` (--tracker) and trying
    ``candidates`` in order; ``try_bind``: founding the room at the home address; ``by_name``:
    a room found by its name on the local network."""
    node = types.SimpleNamespace(
        config=Config(),
        settings=types.SimpleNamespace(trackers=trackers, discover=by_name),
        discovered=[],
        lan=object() if by_name else None,
        room_name="",
        candidates=lambda: candidates,
        home_address=types.SimpleNamespace(try_bind=try_bind),
    )
    monkeypatch.setattr(entrance, "dialled", no_dials)
    return entrance.Entrance(node)  # type: ignore[arg-type]


async def test_a_tracker_that_dials_from_a_member_silent_earlier_is_joined(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Review 56: a remembered member that did not answer is not dialled again in that join
    (trial 52), but a tracker that dials this node from that address is: left out, the join
    ran out and never founded either."""
    dialled: list[tuple[str, int]] = []
    entered: list[object] = []

    door = door_at(monkeypatch, (HOME,), [HOME, MEMBER])
    door.seeking, door._known = True, {"tracker": None}

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


async def test_a_given_address_that_lets_the_timeout_pass_is_not_dialled_again(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Trial 53: --tracker at an address of no host took 9.9 s to be told so, a connect
    timeout in each of three rounds. One that refuses at once is asked each round (a home
    being bound)."""
    gone, refusing = ("10.53.0.9", 5000), ("10.53.0.8", 5000)
    dialled: list[tuple[str, int]] = []

    async def not_here() -> None:
        raise entrance.StartupError("no tracker answers at 10.53.0.9:5000, and ...")

    door = door_at(monkeypatch, (gone, refusing), [gone, refusing], not_here)

    async def join_at(host: str, port: int, *args: object, **kwargs: object) -> object:
        dialled.append((host, port))
        if (host, port) == gone:
            await trio.sleep(Config().connect_timeout)
            TIMED_OUT.add(gone)
        raise entrance._NoAnswer

    monkeypatch.setattr(door, "_join_at", join_at)
    start = trio.current_time()
    with pytest.raises(entrance.StartupError, match="no tracker answers"):
        await door._find_room(3)
    TIMED_OUT.clear()
    assert dialled.count(gone) == 1 and dialled.count(refusing) == 3
    assert trio.current_time() - start < 2 * Config().connect_timeout


@pytest.mark.parametrize("cut_short", [True, False])
async def test_another_secret_is_said_when_the_others_only_cut_the_handshake_short(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock, cut_short: bool
) -> None:
    """Trial 54 F3: a second node without the secret on one computer was turned down by one
    member ("another secret") while the others, holding that address off for a moment after
    the first node's try, cut its handshakes short: taken for answers, they kept it trying 25
    times a second till the join ran out. A member that answers in words still does."""
    secret_at, held_at = ("10.54.0.1", 5000), ("10.54.0.2", 6000)
    door = door_at(monkeypatch, (secret_at,), [secret_at, held_at])
    rounds = []

    async def join_at(host: str, port: int, *args: object, **kwargs: object) -> object:
        if (host, port) == secret_at:
            rounds.append(1)
            raise entrance._OtherSecret
        cause = HandshakeError("closed") if cut_short else OSError("reset")
        raise entrance._Retry("no handshake") from cause

    async def said_why(host: str, port: int) -> str:
        return "missing room secret: ..."

    monkeypatch.setattr(door, "_join_at", join_at)
    monkeypatch.setattr(door, "_other_secret", said_why)
    with pytest.raises(entrance.StartupError) as ended:
        await door._find_room(3)
    if cut_short:
        assert str(ended.value) == "missing room secret: ..." and len(rounds) == 1
    else:  # answered in words: tried till the join runs out
        assert "missing room secret" not in str(ended.value) and len(rounds) > 1


async def test_a_room_by_name_that_nothing_answers_for_in_time_is_founded(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Attack round 45: 64 answers at dead addresses, dialled a few at a time, ran a join
    out, and each newcomer stopped with "cannot join the room through 127.0.0.1:5118"."""
    dead = [(f"10.45.0.{n}", 20000 + n) for n in range(64)]
    founded: list[object] = []

    async def free() -> object:
        return ["listener"]

    door = door_at(monkeypatch, (HOME,), [*dead, HOME], free, by_name=True)
    door.node.found_room = founded.append

    async def join_at(host: str, port: int, *args: object, **kwargs: object) -> object:
        await trio.sleep(Config().connect_timeout if (host, port) != HOME else 0)
        raise entrance._NoAnswer

    monkeypatch.setattr(door, "_join_at", join_at)
    await door._find_room(3)
    assert founded == [["listener"]]


@pytest.mark.parametrize("psk", [OPEN_ROOM, b"k" * 32])
async def test_a_secret_turned_down_for_a_room_named_says_the_room_may_be_another(
    monkeypatch: pytest.MonkeyPatch, psk: bytes
) -> None:
    """Trial 63 F6: /join ops at an address hosting another, private room read "missing room
    secret: the room at ... has one", as if ops had a secret."""
    door = door_at(monkeypatch, (), [])
    door.node.settings = types.SimpleNamespace(
        psk=psk, secret_from="PEERCHAT_SECRET", room_name="ops"
    )

    async def closed(host: str, port: int) -> bool:
        return False

    monkeypatch.setattr(door, "_open_at", closed)
    why = await door._other_secret("10.63.0.2", 5000)
    assert why.endswith("the room at 10.63.0.2:5000 may not be ops)"), why
    door.node.settings.room_name = ""  # joined at an address alone: whichever room is there
    assert "may not be" not in await door._other_secret("10.63.0.2", 5000)
