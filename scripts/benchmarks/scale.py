"""Scale and memory: a large room forms, one message reaches everyone, and what a node weighs.

The room grows ``batch`` nodes at a time to the plan's size; then one message goes from the
founder to all, and every node's VmRSS is read. The baseline's RSS per process, read in the
large latency mesh, is the floor to compare with.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .driver import Bench, BenchError, log
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room

MESSAGE = "one message for everybody"


def measure(bench: Bench, plan: Plan, room: Room, raw: Raw) -> None:
    log(f"peerchat: a room of {plan.scale}")
    raw["scale"].append(scale_check(bench, room, plan.scale))


def scale_check(bench: Bench, room: Room, size: int) -> dict[str, Any]:
    """Grow ``room`` to ``size``, send one message to all, and weigh every node. A room that
    does not form is a failed row (the nodes there are weighed), not the end of the run."""
    try:
        grow_s = room.grow(size)
        room.wait_meshed(30, "the scale room")
    except BenchError as exc:
        log(f"peerchat: the room of {size} did not form: {exc}")
        rss, pss = [], []
        for p in room.procs:
            with contextlib.suppress(OSError, BenchError):  # gone meanwhile (or not yet reaped)
                rss.append(p.rss_mib())
                pss.append(p.pss_mib())
        return {
            "nodes": size,
            "all_joined": False,
            "failed": str(exc),
            "grow_s": None,
            "reached": 0,
            "complete": False,
            "last_arrival_ms": None,
            "rss_mib": rss,
            "pss_mib": pss,
        }
    sender, others = room.procs[0], room.procs[1:]
    with bench.reader.cond:
        marks = {p: p.mark() for p in others}
    sender.write(f"{MESSAGE}\n".encode())
    complete = bench.wait_progress(
        lambda: all(p.received > marks[p][1] for p in others),
        lambda: sum(p.received for p in others),
        stall=5,
        cap=30,
    )
    with bench.reader.cond:
        got = [p.messages_since(marks[p]) for p in others]
    reached = sum(any(e["text"] == MESSAGE for e in g) for g in got)
    arrival = [
        (e["received_mono"] - e["sent_mono"]) * 1000 for g in got for e in g if e["text"] == MESSAGE
    ]
    rss = [p.rss_mib() for p in room.procs]
    pss = [p.pss_mib() for p in room.procs]
    return {
        "nodes": len(room.procs),
        "all_joined": room.meshed(),
        "grow_s": grow_s,
        "reached": reached,
        "complete": complete,
        "last_arrival_ms": max(arrival) if arrival else None,
        "rss_mib": rss,
        "pss_mib": pss,
    }


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """RSS per node and the one message's time to all; then the baseline's RSS."""
    out = []
    for sc in raw["scale"]:
        ok = sc["all_joined"] and sc["reached"] == sc["nodes"] - 1
        out.append(
            Figure(
                key="scale_rss",
                title=f"room of {sc['nodes']}: RSS per node",
                unit="MiB",
                samples=sc["rss_mib"],
                target=f"all join, 1 msg reaches {sc['nodes'] - 1}, median <= 40",
                check=lambda s, ok=ok: ok and s["p50"] <= 40,
                extra={k: v for k, v in sc.items() if k not in ("rss_mib", "pss_mib")},
            )
        )
        out.append(
            Figure(
                key="scale_pss",
                title=f"room of {sc['nodes']}: PSS per node (shared pages split)",
                unit="MiB",
                samples=sc["pss_mib"],
            )
        )
        if sc["last_arrival_ms"] is not None:
            out.append(
                Figure(
                    key="scale_message",
                    title=f"room of {sc['nodes']}: one message to all",
                    unit="ms",
                    samples=[sc["last_arrival_ms"]],
                    target=f"reached {sc['reached']}/{sc['nodes'] - 1}",
                    check=lambda s, ok=ok: ok,
                )
            )
    for rss in raw["baseline_rss"]:
        out.append(Figure("baseline_rss", f"baseline RSS per process ({len(rss)})", "MiB", rss))
    for pss in raw["baseline_pss"]:
        out.append(Figure("baseline_pss", f"baseline PSS per process ({len(pss)})", "MiB", pss))
    return out
