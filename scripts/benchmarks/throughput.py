"""Throughput: how many deliveries a room makes per second when its senders write all at once.

All lines are written to the senders' stdin at once; the time runs from the bench's clock
before the first write to the last ``received_mono`` of any receiver. msg/s counts the
messages that reached every receiver, deliv/s every (message, receiver) pair that arrived. A
"burst" fits in PeerChat's send queues and socket buffers; a "flood" does not, and needs
backpressure. CPU is utime + stime summed over the run's processes, per delivery.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from .driver import Bench, Proc, log
from .plan import Plan
from .report import Figure, Raw, ratio
from .rooms import Room, shrink_mesh, text

KINDS = ("peerchat", "baseline")


def runs(plan: Plan) -> list[tuple[str, str]]:
    """The three kinds of run, by key, with the words their rows use."""
    n = plan.flood_receivers
    return [
        ("burst", f"1 -> {n}, burst of {plan.burst_count}"),
        ("flood", f"1 -> {n}, flood of {plan.flood_count}"),
        ("all", f"all {plan.all_senders}, {plan.all_count} each"),
    ]


def measure(bench: Bench, plan: Plan, room: Room, mesh: list[Proc], raw: Raw) -> list[Proc]:
    """Burst, flood and all-send runs, PeerChat and baseline in turn; the mesh left after."""

    def group(kind: str) -> list[Proc]:
        return room.procs if kind == "peerchat" else mesh

    def take_turns(key: str, count: int, all_send: bool, what: str) -> None:
        for _ in range(plan.flood_repeats):
            since = time.monotonic()
            for kind in KINDS:
                log(f"{kind}: {what}")
                procs = group(kind)
                senders = procs if all_send else procs[:1]
                raw[f"{kind}_{key}"].append(flood(bench, procs, senders, count, plan.msg_size))
            label = "the all-send flood" if all_send else f"the {key}"
            if broken := room.heal(label, since):
                raw["broken_rooms"].append(broken)

    for key, count in (("burst", plan.burst_count), ("flood", plan.flood_count)):
        take_turns(key, count, False, f"{key} 1 -> {plan.flood_receivers}, {count} messages")
    n = plan.all_senders
    if n < len(room.procs):
        room.shrink(n)
        room.wait_meshed(10, "the all-send room")
        mesh = shrink_mesh(bench, mesh, n)
    take_turns("all", plan.all_count, True, f"all {n} send {plan.all_count} messages each")
    return mesh


def flood(
    bench: Bench, procs: list[Proc], senders: list[Proc], count: int, size: int
) -> dict[str, Any]:
    """Every sender writes ``count`` lines at once; time until all arrived everywhere."""
    tag = f"fl{time.monotonic_ns()}"
    with bench.reader.cond:
        marks = {p: p.mark() for p in procs}
    expect = {p: count * sum(s is not p for s in senders) for p in procs}
    payloads = [
        "".join(text(f"{tag}.{k}", i, size) + "\n" for i in range(count)).encode()
        for k in range(len(senders))
    ]
    errors: list[str] = []

    def write(proc: Proc, data: bytes) -> None:
        try:
            proc.write(data)
        except OSError as exc:
            errors.append(f"{proc.name}: {exc}")

    cpu0 = sum(p.cpu_seconds() for p in procs)
    threads = [
        threading.Thread(target=write, args=(s, data), daemon=True)
        for s, data in zip(senders, payloads, strict=True)
    ]
    with bench.reader.lazily(0.005):
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        complete = bench.wait_progress(
            lambda: all(p.received - marks[p][1] >= expect[p] for p in procs),
            lambda: sum(p.received for p in procs),
            stall=5,
            cap=120,
        )
    for thread in threads:
        thread.join(5)
    cpu = sum(p.cpu_seconds() for p in procs) - cpu0
    with bench.reader.cond:
        got = {p: p.messages_since(marks[p]) for p in procs}
    sender_ids = {s.node_id: k for k, s in enumerate(senders)}
    lost = duplicated = deliveries = 0
    end = t0
    reached: collections.Counter[str] = collections.Counter()  # text -> receivers it reached
    for p, events in got.items():
        seen: collections.Counter[str] = collections.Counter()
        for e in events:
            k = sender_ids.get(e["from_id"])
            if k is None or not e["text"].startswith(f"{tag}.{k}:"):
                continue
            seen[e["text"]] += 1
            end = max(end, e["received_mono"])
        reached.update(seen.keys())
        deliveries += len(seen)
        lost += expect[p] - len(seen)
        duplicated += sum(seen.values()) - len(seen)
    seconds = end - t0
    sent = count * len(senders)
    everywhere = sum(n == len(procs) - 1 for n in reached.values())
    return {
        "senders": len(senders),
        "receivers_per_message": len(procs) - 1,
        "messages": sent,
        "messages_everywhere": everywhere,
        "deliveries": deliveries,
        "complete": complete,
        "lost": lost,
        "duplicated": duplicated,
        "seconds": seconds,
        "msgs_per_s": everywhere / seconds if seconds > 0 else 0.0,  # that reached everyone
        "deliveries_per_s": deliveries / seconds if seconds > 0 else 0.0,
        "cpu_s": cpu,
        "cpu_us_per_delivery": cpu / deliveries * 1e6 if deliveries else None,
        "write_errors": errors,
    }


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    """For each kind of run and each program: msg/s, deliv/s and CPU per delivery."""
    out = []
    for key, what in runs(plan):
        for kind in KINDS:
            trials = raw[f"{kind}_{key}"]
            lost = sum(r["lost"] + r["duplicated"] for r in trials)
            for metric, unit in (("msgs_per_s", "msg/s"), ("deliveries_per_s", "deliv/s")):
                out.append(
                    Figure(
                        key=f"{kind}_{key}_{metric}",
                        title=f"{kind} throughput {what}",
                        unit=unit,
                        samples=[r[metric] for r in trials],
                        target="0 lost, 0 duplicated",
                        check=lambda s: True,
                        extra={"runs": trials},
                        bad=lost,
                    )
                )
            out.append(
                Figure(
                    key=f"{kind}_{key}_cpu",
                    title=f"{kind} CPU per delivery, {what}",
                    unit="us",
                    samples=[r["cpu_us_per_delivery"] for r in trials if r["cpu_us_per_delivery"]],
                )
            )
    return out


def ratios(plan: Plan, results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deliveries/s against the baseline's (target 0.70 for one sender), then CPU."""
    out = {}
    for key, what in runs(plan):
        pc_result = results[f"peerchat_{key}_deliveries_per_s"]
        pc, bl = pc_result["summary"], results[f"baseline_{key}_deliveries_per_s"]["summary"]
        if pc.get("p50") and bl.get("p50"):
            out[f"throughput_{key}"] = ratio(
                f"deliveries/s, {what} (higher is better)",
                pc["p50"],
                bl["p50"],
                "deliv/s",
                ">= 0.70, 0 lost" if key != "all" else "",
                lossless=pc_result["bad"] == 0,
            )
    for key, what in runs(plan):
        pc = results[f"peerchat_{key}_cpu"]["summary"]
        bl = results[f"baseline_{key}_cpu"]["summary"]
        if pc.get("p50") and bl.get("p50"):
            out[f"cpu_{key}"] = ratio(
                f"CPU per delivery, {what} (lower is better)", pc["p50"], bl["p50"], "us"
            )
    return out
