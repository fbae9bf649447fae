"""Fan-out latency: one sender at a steady rate, the time each message takes to each receiver.

Latency is the receiver's ``received_mono`` minus the sender's ``sent_mono`` (one host, one
monotonic clock), so neither the bench's reading speed nor its pacing enters it. The reader
thread is lazy meanwhile, so that watching does not take CPU from the nodes.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from .driver import Bench, Proc, log
from .plan import Plan
from .report import Check, Figure, Raw, ratio, without
from .rooms import text

KINDS = ("peerchat", "baseline")


def room_sizes(plan: Plan) -> tuple[list[int], list[int]]:
    """Receiver counts that fit in the throughput room, and those that need a bigger room."""
    room = plan.flood_receivers + 1
    small = [n for n in plan.lat_receivers if n + 1 <= room]
    big = [n for n in plan.lat_receivers if n + 1 > room]
    return small, big


def measure(bench: Bench, plan: Plan, raw: Raw, kind: str, procs: list[Proc], n: int) -> None:
    """One latency run from ``procs[0]`` to the next ``n``, kept under ``kind``."""
    log(f"{kind}: fan-out latency to {n} at {plan.lat_rate:g}/s for {plan.lat_seconds:g} s")
    raw[f"{kind}_latency_{n}"].append(
        fanout(bench, procs[: n + 1], plan.lat_rate, plan.lat_seconds, plan.msg_size)
    )


def fanout(
    bench: Bench, procs: list[Proc], rate: float, seconds: float, size: int
) -> dict[str, Any]:
    """One sender at ``rate`` messages/s; each receiver's received_mono - sent_mono."""
    sender, receivers = procs[0], procs[1:]
    count = max(1, round(rate * seconds))
    with bench.reader.cond:
        marks = {p: p.mark() for p in receivers}
    tag = f"lat{time.monotonic_ns()}"
    with bench.reader.lazily():
        start = time.monotonic() + 0.05
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sender.write((text(tag, i, size) + "\n").encode())
        complete = bench.wait_progress(
            lambda: all(p.received - marks[p][1] >= count for p in receivers),
            lambda: sum(p.received for p in receivers),
            stall=5,
            cap=60,
        )
    latencies: list[float] = []
    lost = duplicated = 0
    with bench.reader.cond:
        got = {p: p.messages_since(marks[p]) for p in receivers}
    for events in got.values():
        seen: collections.Counter[str] = collections.Counter()
        for e in events:
            if e["from_id"] != sender.node_id or not e["text"].startswith(tag + ":"):
                continue
            seen[e["text"]] += 1
            if seen[e["text"]] == 1:
                latencies.append((e["received_mono"] - e["sent_mono"]) * 1000)
        lost += count - len(seen)
        duplicated += sum(seen.values()) - len(seen)
    return {
        "receivers": len(receivers),
        "rate": rate,
        "messages": count,
        "complete": complete,
        "lost": lost,
        "duplicated": duplicated,
        "latency_ms": latencies,
    }


TARGETS: dict[int, tuple[str, Check]] = {
    10: ("p50 <= 1, p99 <= 10", lambda s: s["p50"] <= 1 and (s["p99"] or s["max"]) <= 10)
}


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """PeerChat and baseline rows for each receiver count; a target on PeerChat's alone."""
    out = []
    for n in plan.lat_receivers:
        for kind in KINDS:
            runs = raw[f"{kind}_latency_{n}"]
            target, check = TARGETS.get(n, ("", None)) if kind == "peerchat" else ("", None)
            lost = sum(r["lost"] for r in runs)
            duplicated = sum(r["duplicated"] for r in runs)
            out.append(
                Figure(
                    key=f"{kind}_latency_{n}",
                    title=f"{kind} fan-out latency, 1 -> {n} at {plan.lat_rate:g}/s",
                    unit="ms",
                    samples=[x for r in runs for x in r["latency_ms"]],
                    target=f"{target + ', ' if target else ''}0 lost",
                    check=(lambda s, c=check: c is None or c(s)),
                    extra={
                        "lost": lost,
                        "duplicated": duplicated,
                        "runs": without(runs, "latency_ms"),
                    },
                    bad=lost + duplicated,
                )
            )
    return out


def ratios(plan: Plan, results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median and p99 against the baseline's, lower is better."""
    out = {}
    for n in plan.lat_receivers:
        pc = results[f"peerchat_latency_{n}"]["summary"]
        bl = results[f"baseline_latency_{n}"]["summary"]
        for q in ("p50", "p99"):
            if pc.get(q) and bl.get(q):
                out[f"latency_{n}_{q}"] = ratio(
                    f"latency {q}, 1 -> {n} (lower is better)", pc[q], bl[q], "ms"
                )
    return out
