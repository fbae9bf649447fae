"""Catch-up: how fast a restarted node backfills what the room said while it was down.

A room of ``CATCHUP_ROOM`` ephemeral nodes and one node with a data dir. The latter is killed
(SIGKILL); one member then says ``plan.catchup_count`` messages and the bench waits until every
other member has them; the killed node is started again with the same data dir. The figure runs
from its ``ready`` event to the last of those messages shown there (each must come once, marked
as history); msg/s is the count over that time. Issue 9's target: 20,000 msg/s.

Two ways of saying them: all at once (a paste: batches of up to 256 under one signature each),
and typed, one line per write with a pause between (about one batch, one signature, per line),
which is what a room of people leaves behind.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from .driver import Bench, BenchError, log
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room, text

CATCHUP_ROOM = 3  # ephemeral members besides the node that restarts
TYPING_GAP = 0.0008  # seconds between two typed lines: each goes out as a batch of its own


def measure(bench: Bench, plan: Plan, raw: Raw) -> None:
    n = plan.catchup_count
    for typed in (False, True):
        how = "typed" if typed else "said at once"
        log(f"peerchat: catch-up of {n} messages {how}, {plan.catchup_trials} trials")
        for i in range(plan.catchup_trials):
            room = Room(bench, plan.batch)
            try:
                room.grow(CATCHUP_ROOM)
                raw["catchup"].append({"typed": typed, **trial(bench, plan, room, i, typed)})
            except BenchError as exc:
                log(f"  trial failed: {str(exc)[:300]}")
                raw["catchup"].append({"typed": typed, "ms": None, "failed": str(exc)})
            finally:
                room.close()


def trial(bench: Bench, plan: Plan, room: Room, i: int, typed: bool) -> dict[str, Any]:
    folder = bench.logdir / f"catchup-{i}{'-typed' if typed else ''}"
    name = f"keeper{i}"
    keeper = bench.peerchat(room.port, folder, name)
    room.procs.append(keeper)
    room.wait_meshed(10, "the room with the node that will restart")
    node_id = keeper.node_id
    room.remove(keeper)
    bench.kill([keeper])
    others = list(room.procs)
    bench.wait(lambda: all(node_id not in p.peers for p in others), 10, "the others to see it gone")

    sender, count = others[-1], plan.catchup_count
    tag = f"cu{time.monotonic_ns()}"
    with bench.reader.cond:
        marks = {p: p.received for p in others}
    lines = [f"{text(tag, k, plan.msg_size)}\n".encode() for k in range(count)]
    if typed:
        for line in lines:
            sender.write(line)
            time.sleep(TYPING_GAP)
    else:
        sender.write(b"".join(lines))
    bench.wait(
        lambda: all(p.received - marks[p] >= count for p in others if p is not sender),
        60,
        f"the {count} messages to reach every member",
    )

    back = bench.peerchat(room.port, folder, name)
    room.procs.append(back)
    bench.wait(lambda: back.ready_t is not None, 10, "the restarted node to be ready")
    if back.node_id != node_id:
        raise BenchError(f"restarted with another node id: {back.node_id} != {node_id}")
    bench.wait_progress(
        lambda: back.received >= count,
        lambda: back.received,
        stall=10,
        cap=120,
    )
    with bench.reader.cond:
        got = [e for e in back.messages_since((0, 0)) if e["text"].startswith(f"{tag}:")]
    seen = collections.Counter(e["text"] for e in got)
    last = max((e["received_mono"] for e in got), default=None)
    if last is None or back.ready_t is None:
        raise BenchError("the restarted node showed none of the messages")
    seconds = last - back.ready_t
    missing = count - len(seen)
    duplicated = sum(seen.values()) - len(seen)
    live = sum(not e.get("history") for e in got)
    return {
        "ms": seconds * 1000,
        "msgs_per_s": len(seen) / seconds if seconds > 0 else 0.0,
        "from_spawn_ms": (last - back.spawned) * 1000,
        "missing": missing,
        "duplicated": duplicated,
        "not_marked_history": live,
        "failed": (
            f"{missing} missing, {duplicated} duplicated, {live} not marked history"
            if missing or duplicated or live
            else None
        ),
    }


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    out = []
    for typed, key, how in (
        (False, "catchup_rate", "said at once"),
        (True, "catchup_typed", "typed"),
    ):
        trials = [t for t in raw["catchup"] if t.get("typed", False) == typed]
        if not trials:
            continue
        out.append(
            Figure(
                key=key,
                title=f"catch-up after a restart, {plan.catchup_count} missed messages, {how}",
                unit="msg/s",
                samples=[t["msgs_per_s"] for t in trials if t.get("ms") is not None],
                target="median >= 20000",
                check=lambda s: s["p50"] >= 20_000,
                extra={"trials": trials, "room": CATCHUP_ROOM + 1},
                bad=sum(bool(t["failed"]) for t in trials),
            )
        )
    return out
