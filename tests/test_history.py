"""Issue 9, first part: a lasting identity, the message store, and history, with real
``peerchat --headless`` processes (``e2e_helpers``)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from e2e_helpers import Proc, Swarm, wait_mesh


@pytest.fixture
async def swarm(tmp_path: Path) -> AsyncIterator[Swarm]:
    async with trio.open_nursery() as nursery:
        swarm = Swarm(nursery, tmp_path)
        try:
            yield swarm
        finally:
            await swarm.aclose()
            nursery.cancel_scope.cancel()


def texts(proc: Proc, *, history: bool, since: int = 0) -> list[str]:
    return [
        e["text"]
        for e in proc.events[since:]
        if e["event"] == "message" and bool(e.get("history")) is history
    ]


async def say(sender: Proc, text: str, *receivers: Proc) -> None:
    await sender.send(text)
    for proc in (sender, *receivers):
        await proc.wait_for(event="message", text=text)


async def test_a_restarted_node_keeps_its_id_and_is_shown_what_it_missed_as_history(
    swarm: Swarm,
) -> None:
    data = str(swarm.workdir / "bob-data")
    host = await swarm.node("host")
    bob = await swarm.node("bob", "--data-dir", data)
    await wait_mesh([host, bob])
    await say(host, "before", bob)
    await say(bob, "bob before", host)
    bob.signal(signal.SIGKILL)
    await bob.wait_exit()
    for i in range(3):
        await say(host, f"while bob was away {i}")

    again = await swarm.node("bob-again", "--data-dir", data, "--username", "bob")
    assert again.node_id == bob.node_id, "the same data dir, the same node id"
    missed = [f"while bob was away {i}" for i in range(3)]
    for text in missed:
        await again.wait_for(event="message", text=text)
    await say(host, "live again", again)
    shown = texts(again, history=True)
    # Its own past and what it missed, each once, as history; one sender's order kept.
    assert sorted(shown) == sorted(["before", "bob before", *missed]), again.describe()
    assert [t for t in shown if t in missed] == missed
    assert texts(again, history=False) == ["live again"]


async def test_a_newcomer_is_shown_recent_history_first_then_live_messages(
    swarm: Swarm,
) -> None:
    host, alice = await swarm.room("host", "alice")
    said = ["one", "two", "three"]
    for text in said:
        await say(alice, text, host)
    newcomer = await swarm.node("newcomer")
    for text in said:
        event = await newcomer.wait_for(event="message", text=text)
        assert event["history"] is True and event["from"] == "alice"
    await say(host, "and now", newcomer)
    assert texts(newcomer, history=True) == said
    assert texts(newcomer, history=False) == ["and now"]


async def test_history_command_shows_the_last_n_from_the_store(swarm: Swarm) -> None:
    host, alice = await swarm.room("host", "alice")
    for text in ("a", "b", "c"):
        await say(host, text, alice)
    since = len(alice.events)
    await alice.send("/history 2")
    await alice.wait_for(event="message", text="c", since=since)
    assert texts(alice, history=True, since=since) == ["b", "c"]
