"""Join through a member: a newcomer whose ``--tracker`` is an ordinary member's own address.

Issue 8 asks that any member admit newcomers (forwarding the join or answering with the
tracker's address), so that a room stays reachable through whoever is known, not only through
the tracker address. Each trial goes through another non-tracker member of a settled room and
is timed as an ordinary join (process start to ``ready``, and until every member lists the
newcomer). A newcomer that does not get in (it gives up, or founds a room of its own) is a
failed trial: it is stopped, listed under the table, and the room goes on.
"""

from __future__ import annotations

from typing import Any

from .driver import Bench, BenchError, log
from .join import join_rows, join_trial
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room


def measure(bench: Bench, plan: Plan, room: Room, raw: Raw) -> None:
    n, trials = plan.join_room, plan.member_join_trials
    log(f"peerchat: join a room of {n} through a member, {trials} trials")
    room.grow(plan.join_room)
    for i in range(plan.member_join_trials):
        raw["member_join"].append(trial(bench, room, i))


def trial(bench: Bench, room: Room, i: int) -> dict[str, Any]:
    """Join through the ``i``-th non-tracker member (by rank, round the room)."""
    room.wait_meshed(10, "a settled room before the join")
    tracker = room.tracker_proc()
    members = sorted((p for p in room.procs if p is not tracker), key=lambda p: p.rank)
    via = members[i % len(members)]
    before = list(room.procs)
    try:
        return {**join_trial(bench, room, via), "via": via.name, "failed": None}
    except BenchError as exc:
        failed = f"through {via.name}: {exc}"
    log(f"  trial failed: {failed[:300]}")
    strays = [p for p in room.procs if p not in before]
    bench.kill(strays)
    room.procs = before
    try:
        room.wait_meshed(10, "the room after a failed join")
    except BenchError:
        room.restart(len(before))
    return {"room": len(before), "via": via.name, "failed": failed}


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    return join_rows(
        "member_join", f"join a room of {plan.join_room} through a member", raw["member_join"]
    )
