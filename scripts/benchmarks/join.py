"""Entering a room: a founder's start-up, and a newcomer joining a settled room.

Start-up is timed twice, so that a slow ``ready`` can be told from a slow Python: the floor of
starting Python with what a headless node imports, and process start to ``ready`` for a node
that founds a room. A join is timed from the newcomer's process start to its ``ready``, and
until every member lists it; the newcomer then quits cleanly, so the room keeps its size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from .driver import Bench, BenchError, Proc, free_port, log
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room


def measure_startup(bench: Bench, plan: Plan, raw: Raw) -> None:
    log("peerchat: start-up of a lone founder, on a quiet machine")
    for _ in range(plan.startup_trials):
        raw["imports"].append(import_trial())
        raw["startup"].append(startup_trial(bench))


def measure_joins(bench: Bench, plan: Plan, room: Room, raw: Raw) -> None:
    log(f"peerchat: join into a room of {plan.join_room}, {plan.join_trials} trials")
    room.grow(plan.join_room)
    for _ in range(plan.join_trials):
        raw["join"].append(join_trial(bench, room))


def import_trial() -> float:
    """Start a Python that imports what a headless node imports, and exits: the floor under
    every ``ready``."""
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import peerchat.cli, peerchat.headless, peerchat.node"],
        check=True,
    )
    return (time.monotonic() - t0) * 1000


def startup_trial(bench: Bench) -> float:
    """Process start to ``ready`` for a node founding a room at an empty tracker address."""
    port = free_port()
    t0 = time.monotonic()
    proc = bench.peerchat(port)
    bench.wait(lambda: proc.ready_t is not None or proc.eof, 15, "a founder to start")
    if proc.ready_t is None:
        raise BenchError(f"a founder exited before ready (see {bench.logdir}/{proc.name}.err)")
    ms = (proc.ready_t - t0) * 1000
    bench.kill([proc])
    return ms


def join_trial(bench: Bench, room: Room, via: Proc | None = None) -> dict[str, Any]:
    """A newcomer joins a settled room; time to its ready and until everyone lists it.

    Its ``--tracker`` is the room's tracker address, or ``via``'s own address: any member
    should let a newcomer in.
    """
    room.wait_meshed(10, "a settled room before the join")
    room.wait_listening()
    members = list(room.procs)
    t0 = time.monotonic()
    new = bench.peerchat(via.port if via else room.port)
    room.procs.append(new)
    room.wait_meshed(15, "the newcomer")
    with bench.reader.cond:
        assert new.ready_t is not None
        result = {
            "room": len(members),
            "ready_ms": (new.ready_t - t0) * 1000,
            "newcomer_lists_all_ms": (max(new.peers.values()) - t0) * 1000,
            "all_list_newcomer_ms": (max(p.peers[new.node_id] for p in members) - t0) * 1000,
            "role": new.role,
        }
    new.close_stdin()  # a clean quit, so the room is back to its size for the next trial
    bench.wait(lambda: new.eof, 10, "the newcomer to quit")
    new.popen.wait()
    room.remove(new)
    room.wait_meshed(10, "the room after the newcomer left")
    return result


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """Start-up rows, then the join rows."""
    return [
        Figure("imports", "python start + peerchat imports", "ms", raw["imports"]),
        Figure("startup", "found a room at a free address (to ready)", "ms", raw["startup"]),
        *join_rows("join", f"join a room of {plan.join_room}", raw["join"]),
    ]


def join_rows(key: str, what: str, trials: list[dict[str, Any]]) -> list[Figure]:
    """The newcomer's ready (the target: within a second) and everyone listing it."""
    ok = [t for t in trials if not t.get("failed")]
    failed = len(trials) - len(ok)
    return [
        Figure(
            key=f"{key}_ready_ms",
            title=f"{what}: newcomer ready",
            unit="ms",
            samples=[t["ready_ms"] for t in ok],
            target="median <= 1000",
            check=lambda s: s["p50"] <= 1000,
            extra={"trials": trials},
            bad=failed,
        ),
        Figure(
            key=f"{key}_all_list_newcomer_ms",
            title=f"{what}: all members list the newcomer",
            unit="ms",
            samples=[t["all_list_newcomer_ms"] for t in ok],
            extra={"trials": trials},
            bad=failed,
        ),
    ]
