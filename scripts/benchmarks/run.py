"""One run: the order the families are measured in, and the figures they make together.

The order is chosen for fairness and for reuse. Latency and throughput come first, in a small
room with a baseline mesh of the same size beside it: both stay up (idle, they cost next to
nothing) and take turns, so that a change in the machine's background load does not favour
either. Failover, join, the large latency room and the scale room then reuse one PeerChat room
that grows from the smallest size up. Rooms on five hosts (network namespaces; left out, with
the reason, where they cannot be made) follow, alone. The baseline's large mesh comes last.
"""

from __future__ import annotations

import collections
import os
import platform
import sys
from pathlib import Path
from typing import Any

from . import (
    catchup,
    failover,
    files,
    join,
    latency,
    member_join,
    multihost,
    scale,
    signing,
    throughput,
)
from .driver import HEARTBEAT_TIMEOUT, Bench, log
from .plan import Plan
from .report import Raw
from .rooms import Room, baseline_mesh

BASELINE_NOTE = (
    "scripts/bench_baseline.py: trio + msgpack, a writer task per peer sending all queued "
    "frames in one send_all, backpressure at 256 KiB queued per peer, one JSON line per "
    "received message written once per received chunk"
)


def run(plan: Plan, logdir: Path) -> dict[str, Any]:
    """Run every measurement of ``plan``; return the figures, the ratios and the raw trials."""
    bench = Bench(logdir)
    raw: Raw = collections.defaultdict(list)
    try:
        measure(bench, plan, raw)
    finally:
        bench.close()
    return collect(plan, raw)


def measure(bench: Bench, plan: Plan, raw: Raw) -> None:
    small, big = latency.room_sizes(plan)
    join.measure_startup(bench, plan, raw)  # first, on a quiet machine
    signing.measure(plan, raw)

    size = plan.flood_receivers + 1
    log(f"a PeerChat room and a baseline mesh of {size}")
    room = Room(bench, plan.batch)
    room.grow(size)
    mesh = baseline_mesh(bench, size)
    for n in small:
        for kind, procs in (("peerchat", room.procs), ("baseline", mesh)):
            latency.measure(bench, plan, raw, kind, procs, n)
    mesh = throughput.measure(bench, plan, room, mesh, raw)
    room.close()
    bench.kill(mesh)
    catchup.measure(bench, plan, raw)
    files.measure(bench, plan, raw)

    room = Room(bench, plan.batch)
    failover.measure(bench, plan, room, raw)
    join.measure_joins(bench, plan, room, raw)
    member_join.measure(bench, plan, room, raw)
    for n in big:
        room.grow(n + 1)
        latency.measure(bench, plan, raw, "peerchat", room.procs, n)
    scale.measure(bench, plan, room, raw)
    room.close()

    multihost.measure(bench, plan, raw)  # rooms on 5 hosts, each its own network namespace

    for n in big:
        mesh = baseline_mesh(bench, n + 1)
        latency.measure(bench, plan, raw, "baseline", mesh, n)
        raw["baseline_rss"].append([p.rss_mib() for p in mesh])  # the floor for scale's RSS
        raw["baseline_pss"].append([p.pss_mib() for p in mesh])
        bench.kill(mesh)


def collect(plan: Plan, raw: Raw) -> dict[str, Any]:
    """Every family's rows, in the table's order, and the ratios to the baseline."""
    figures = [
        *failover.figures(plan, raw),
        *multihost.figures(plan, raw),
        *latency.figures(plan, raw),
        *throughput.figures(plan, raw),
        *catchup.figures(plan, raw),
        *files.figures(plan, raw),
        *signing.figures(plan, raw),
        *join.figures(plan, raw),
        *member_join.figures(plan, raw),
        *scale.figures(plan, raw),
    ]
    results = {f.key: f.result() for f in figures}
    ratios = {**latency.ratios(plan, results), **throughput.ratios(plan, results)}
    return {
        "figures": results,
        "ratios": ratios,
        "broken_rooms": raw["broken_rooms"],
        "skipped": raw["skipped"],  # families that could not run here, and why
    }


def describe(
    mode: str, plan: Plan, date: str, seconds: float, load: tuple[float, ...]
) -> dict[str, Any]:
    """The run's circumstances, printed in the heading and kept in the JSON."""
    return {
        "date": date,
        "mode": mode,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": seconds,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT,
        "plan": plan.__dict__,
        "room_secret": "PEERCHAT_SECRET" in os.environ,  # links are encrypted either way
        "baseline": BASELINE_NOTE,
    }
