"""Failover: how long a room goes without an agreed tracker after it loses its tracker.

The bench notes its clock, kills (SIGKILL) or freezes (SIGSTOP) the tracker, and waits until
every survivor has reported the same new tracker; the figure is the last survivor's arrival
stamp of that ``tracker`` event minus the kill. Rooms are reused across trials: after each
trial the dead tracker is reaped and one newcomer joins through the tracker address (once the
new tracker listens on it), so the room is back to its size.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from typing import Any

from .driver import HEARTBEAT_TIMEOUT, Bench, BenchError, Proc, log
from .plan import Plan
from .report import Check, Figure, Raw
from .rooms import Room

MAX_RESTARTS = 3  # per series: a room that keeps breaking is reported, not retried forever


def measure(bench: Bench, plan: Plan, room: Room, raw: Raw) -> None:
    """Every failover series of ``plan``, growing ``room`` from the smallest size up."""
    for n in sorted(set(plan.crash_rooms) | set(plan.silent_rooms)):
        log(f"peerchat: growing the room to {n}: {room.grow(n):.1f} s")
        if n in plan.crash_rooms:
            log(f"peerchat: crash failover, room of {n}, {plan.crash_trials} trials")
            series(bench, room, n, signal.SIGKILL, plan.crash_trials, raw[f"crash_{n}"])
        if n in plan.silent_rooms:
            log(f"peerchat: silent failover, room of {n}, {plan.silent_trials} trials")
            series(bench, room, n, signal.SIGSTOP, plan.silent_trials, raw[f"silent_{n}"])


def trial(bench: Bench, room: Room, sig: signal.Signals) -> dict[str, Any]:
    """Kill or freeze the tracker; time until every survivor reports the same new tracker."""
    old = room.tracker_proc()
    survivors = [p for p in room.procs if p is not old]
    highest = max(survivors, key=lambda p: p.rank)
    marks = {p: len(p.events) for p in survivors}

    def reports(p: Proc) -> list[tuple[float, str]]:
        return [(t, e["node_id"]) for t, e in p.events[marks[p] :] if e.get("event") == "tracker"]

    def agreed() -> bool:
        latest = {p.tracker for p in survivors}
        return len(latest) == 1 and old.node_id not in latest and all(map(reports, survivors))

    t0 = time.monotonic()
    os.kill(old.pid, sig)
    failed = None
    try:
        bench.wait(agreed, HEARTBEAT_TIMEOUT + 5, f"survivors to agree after {sig.name}")
    except BenchError as exc:
        with bench.reader.cond:
            views = collections.Counter(p.tracker for p in survivors)
        failed = f"{exc}; trackers reported: {dict(views)}"
    finally:
        bench.kill([old])  # a frozen tracker is killed now: it must not hold the tracker port
        room.remove(old)
    if failed:
        return {"signal": sig.name, "room": len(survivors) + 1, "ms": None, "failed": failed}
    new = survivors[0].tracker
    with bench.reader.cond:
        per_node = []
        changes = 0
        for p in survivors:
            seen = reports(p)
            changes += len(seen)
            settled = t0
            for t, node_id in seen:  # the start of the final run of reports naming ``new``
                if node_id != new:
                    settled = t0
                elif settled == t0:
                    settled = t
            per_node.append((settled - t0) * 1000)
    return {
        "signal": sig.name,
        "room": len(survivors) + 1,
        "ms": max(per_node),
        "survivor_ms": sorted(per_node),
        "new_tracker_is_highest": new == highest.node_id,
        "extra_tracker_reports": changes - len(survivors),
        "failed": None if new == highest.node_id else "the new tracker is not the highest survivor",
    }


def series(
    bench: Bench,
    room: Room,
    size: int,
    sig: signal.Signals,
    trials: int,
    out: list[dict[str, Any]],
) -> None:
    """``trials`` failovers in one room, refilled to ``size`` after each.

    A trial fails when the survivors do not agree on a tracker, or when the room is not whole
    again (everyone lists everyone, one tracker) once a newcomer has joined after it; the room
    is then started afresh.
    """
    room.grow(size)
    room.wait_meshed(10, "a settled room before the trials")
    restarts = 0
    for _ in range(trials):
        result = trial(bench, room, sig)
        out.append(result)
        try:
            if result["ms"] is None:  # no agreement: the room is in pieces
                raise BenchError(result["failed"])
            room.grow(size)  # back to full size: a newcomer joins through the new tracker
            room.wait_meshed(5, "the room after the failover")
        except BenchError as exc:
            result["failed"] = result["failed"] or f"the room did not recover: {exc}"
            log(f"  trial failed: {result['failed'][:300]}")
            restarts += 1
            if restarts > MAX_RESTARTS:
                log(f"  {restarts - 1} restarts already: skipping the rest of this series")
                room.restart(size)
                return
            room.restart(size)


CRASH_TARGETS: dict[int, tuple[str, Check]] = {
    20: ("median <= 100, max <= 500", lambda s: s["p50"] <= 100 and s["max"] <= 500),
    50: ("median <= 250", lambda s: s["p50"] <= 250),
}


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """Crash rows, then silent rows, one per room size."""
    hb = HEARTBEAT_TIMEOUT * 1000
    silent = (f"max <= {hb:g} (timeout) + 250", lambda s: s["max"] <= hb + 250)
    rows: list[tuple[str, str, int, tuple[str, Check | None], dict[str, Any]]] = [
        ("crash", "SIGKILL", n, CRASH_TARGETS.get(n, ("", None)), {}) for n in plan.crash_rooms
    ]
    rows += [
        ("silent", "SIGSTOP", n, silent, {"heartbeat_timeout_ms": hb}) for n in plan.silent_rooms
    ]
    return [
        timed_row(
            f"{kind}_failover_{n}",
            f"{kind} failover ({sig}), room of {n}",
            raw[f"{kind}_{n}"],
            target,
            check,
            extra,
        )  # fmt: skip
        for kind, sig, n, (target, check), extra in rows
    ]


def timed_row(
    key: str,
    title: str,
    trials: list[dict[str, Any]],
    target: str,
    check: Check | None,
    extra: dict[str, Any],
) -> Figure:
    """A row of trials timed in ms (``ms`` None and ``failed`` set for those that failed)."""
    return Figure(
        key=key,
        title=title,
        unit="ms",
        samples=[t["ms"] for t in trials if t["ms"] is not None],
        target=target,
        check=check,
        extra={**extra, "trials": trials},
        bad=sum(bool(t["failed"]) for t in trials),
    )
