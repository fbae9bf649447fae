"""Telling a frozen node (SIGSTOP, Ctrl-Z) from a starved one (``Entrance.stalled``)."""

from __future__ import annotations

import itertools
import time
import types

import pytest
import trio
import trio.testing

from peerchat import entrance
from peerchat.config import Config

SHORTEST = Config(heartbeat_interval=1.5, heartbeat_timeout=3.0)  # two intervals: the least
AWAY = 3 * Config().heartbeat_timeout  # away well past the timeout
AT_A_PIPE = types.SimpleNamespace(job_control=False)  # a headless node's settings


@pytest.mark.parametrize(
    ("config", "away", "waited", "frozen"),
    [
        (Config(), AWAY, 0.0, True),  # stopped: it neither ran nor waited
        (Config(), AWAY, 0.4, True),  # resumed on a loaded machine: it waited before the look
        (Config(), AWAY, AWAY - 0.4, False),  # starved: runnable all along but its sleep
        (SHORTEST, 3.2, 1.5, False),  # starved, where its own sleep is half the time away
    ],
)
async def test_a_loop_away_past_the_timeout_is_frozen_unless_it_waited_for_a_cpu(
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.testing.MockClock,
    config: Config,
    away: float,
    waited: float,
    frozen: bool,
) -> None:
    door = entrance.Entrance(types.SimpleNamespace(config=config, settings=AT_A_PIPE))  # type: ignore[arg-type]
    wait = iter([10.0, 10.0 + waited])
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: next(wait))
    door._last_tick, door._last_wait = trio.current_time(), entrance._run_queue_wait()
    door._last_cpu = time.process_time()  # the mock clock jumps: hardly any CPU is burnt
    await trio.sleep(away)
    assert door.stalled() is frozen


async def test_a_freeze_before_the_watcher_first_ran_counts_from_the_node_getting_in(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Stopped right after it reported ready: the watcher had not ticked yet (found in CI)."""
    door = entrance.Entrance(types.SimpleNamespace(config=Config(), settings=AT_A_PIPE))  # type: ignore[arg-type]
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: 10.0)
    assert not door.stalled()  # not in a room yet: nothing to be frozen out of
    door.tick()  # as the node does once it is in, before its tasks start
    await trio.sleep(AWAY)
    assert door.stalled()


async def test_a_starved_loop_is_looked_at_once_an_interval_a_frozen_one_each_time(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Every batch received asks; the look reads /proc and, for a starved loop, logs (a review:
    a syscall and a log line per batch). A heartbeat interval more away, or a new tick, brings
    a new look (a review: a kept "starved" could hide a freeze that began after it)."""
    door = entrance.Entrance(types.SimpleNamespace(config=Config(), settings=AT_A_PIPE))  # type: ignore[arg-type]
    looks = []
    waited = itertools.chain([10.0, 10.0 + AWAY], itertools.repeat(10.0 + AWAY))  # runnable
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: looks.append(1) or next(waited))
    door.tick()
    await trio.sleep(AWAY)
    assert [door.stalled() for _ in range(100)] == [False] * 100
    assert len(looks) == 2  # the tick's and one look
    await trio.sleep(1.5 * Config().heartbeat_interval)  # (not one: float rounding)
    assert not door.stalled()
    assert len(looks) == 3
    door.tick()
    await trio.sleep(AWAY)
    assert door.stalled()  # no time waiting for a CPU since that tick: frozen
    assert door.stalled()
    assert len(looks) == 6  # a frozen verdict is looked at each time


async def test_a_reader_that_sees_a_freeze_before_the_watcher_tells_of_it_first(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """After SIGCONT a reader may run before the watcher (on a loaded machine, for long
    enough that what it read was shown before the notice: found by a failing e2e test)."""
    told: list[object] = []
    node = node_with(told, links=types.SimpleNamespace(conns={"bob": object()}))
    door = entrance.Entrance(node)  # type: ignore[arg-type]
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: 10.0)
    door.tick()
    await trio.sleep(AWAY)  # stopped, the watcher asleep
    assert door.coming_back()  # a reader asks first
    assert len(told) == 1 and "unresponsive" in told[0].message  # type: ignore[attr-defined]
    headless = told[0].as_json()  # type: ignore[attr-defined]
    assert headless["event"] == "error" and headless["unresponsive"] >= AWAY  # (a trial's bot)
    assert door.rejoining and door.coming_back()
    assert len(told) == 1  # told once


async def test_a_freeze_in_a_room_of_one_is_not_told(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """A user trial read of rejoining and fetching what was said in a room nobody else was in."""
    told: list[object] = []
    door = entrance.Entrance(node_with(told))  # type: ignore[arg-type]
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: 10.0)
    door.tick()
    await trio.sleep(AWAY)
    assert door.coming_back() and door.rejoining  # it rejoins all the same
    assert told == []


async def test_a_freeze_continued_behind_the_shell_is_acted_on_in_front_as_one(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """A user trial, 3 of 3: ``kill -STOP``, ``kill -CONT`` (behind the shell: it stops again
    at once), then ``fg``: the node rejoined twice, and its freeze was told by halves."""
    told: list[object] = []
    node = node_with(told, links=types.SimpleNamespace(conns={"bob": object()}))
    node.settings = types.SimpleNamespace(job_control=True)
    held: list[bool] = []
    node.hold_history = lambda: held.append(True)
    door = entrance.Entrance(node)  # type: ignore[arg-type]
    monkeypatch.setattr(entrance, "_run_queue_wait", lambda: 10.0)
    behind = True
    monkeypatch.setattr(entrance, "_behind_the_shell", lambda: behind)
    door.tick()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(door.watch_stall)
        await trio.sleep(AWAY)  # stopped, then continued behind the shell
        assert not held
        assert door.coming_back()  # what it reads now is stale: shown as history,
        assert held  # and held for the rejoin's, after the notice (a trial: before it)
        assert not door.rejoining and told == []  # acted on once in front, as one
        await trio.sleep(AWAY)  # stopped again
        behind = False  # fg
        await trio.sleep(1.5 * Config().heartbeat_interval)  # (not one: the tick may come after)
        assert door.rejoining
        (notice,) = told
        away = notice.seconds  # type: ignore[attr-defined]
        assert away >= 2 * AWAY  # the whole freeze, behind the shell too
        nursery.cancel_scope.cancel()


def node_with(told: list[object], **more: object) -> types.SimpleNamespace:
    """As much of a node as ``Entrance`` looks at when it finds itself frozen: alone, unless
    ``more`` says otherwise."""
    alone = {"node_id": "me", "members": [], "links": types.SimpleNamespace(conns={})}
    return types.SimpleNamespace(
        config=Config(),
        emit=told.append,
        hold_history=lambda: None,
        settings=AT_A_PIPE,
        **(alone | more),
    )
