"""File transfer: how fast a file goes from one member to one and to five, beside a bare copy
of the same file over loopback sockets in the same run, and how chat latency fares meanwhile.

A room of ``FILE_ROOM`` nodes. The sender offers a file of ``plan.file_mib`` MiB (``/send``);
the receivers fetch it at once (``/get``); a transfer takes from the first ``/get`` written to
the last ``file_done`` read. The offer before it (the sender hashes the whole file) is a row
of its own. The baseline is the kernel's ``sendfile`` of the same file to as
many connected sockets, one thread each, each reader discarding what it reads: no encryption,
no framing, no disk writes, no hashing, so it is the ceiling. Issue 11's target: PeerChat's
MiB/s at least 0.5 of it. A second copy, each reader writing the file to the disk the fetches
write to, shows how much of the gap the disk alone makes, and a third (``least_work.py``) does
only what a fetch cannot avoid: seal, open, SHA-256 and write, in plain Python, one process
per end. Each of the three also gives the CPU it spent, both ends together, for each MiB a
receiver got: on a machine whose cores are all busy, that and not the copy's pace is what
bounds MiB/s. Chat latency: fan-out from the
sender to one receiver for a second, idle and again while the sender streams a file to that
receiver, ``plan.file_trials`` times; each pair gives a ratio of medians; target: their median
within 2x.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import latency
from .driver import Bench, BenchError, Proc, log
from .plan import Plan
from .report import Figure, Raw
from .rooms import Room

LEAST_WORK = Path(__file__).resolve().parent / "least_work.py"
FILE_ROOM = 6  # a sender and five receivers
FANOUTS = (1, 5)
LATENCY_SECONDS = 1.0


def measure(bench: Bench, plan: Plan, raw: Raw) -> None:
    log(f"files: {plan.file_mib} MiB to 1 and to 5, beside sendfile; {plan.file_trials} trials")
    path = bench.logdir / "bench-file.bin"
    with open(path, "wb") as f:
        for _ in range(plan.file_mib):
            f.write(os.urandom(1 << 20))
    room = Room(bench, plan.batch)
    try:
        room.grow(FILE_ROOM)
        sender, receivers = room.procs[0], room.procs[1:]
        for _ in range(plan.file_trials):
            for n in FANOUTS:
                raw[f"copy_{n}"].append(bare_copy(path, n))
                raw[f"saved_copy_{n}"].append(bare_copy(path, n, save_in=bench.logdir))
                raw[f"least_work_{n}"].append(least_work(path, n, bench.logdir))
                raw[f"file_{n}"].append(transfer(bench, sender, receivers[:n], path))
        for _ in range(plan.file_trials):
            chat_idle_and_busy(bench, plan, room, path, raw)
    except BenchError as exc:
        log(f"  file transfer failed: {str(exc)[:300]}")
        raw["file_failed"].append(str(exc))
    finally:
        room.close()
        path.unlink(missing_ok=True)


def chat_idle_and_busy(bench: Bench, plan: Plan, room: Room, path: Path, raw: Raw) -> None:
    """Fan-out latency from the sender to one receiver, idle, then while it streams ``path``
    to that receiver."""
    size, pair = plan.msg_size, room.procs[:2]
    raw["file_chat_idle"].append(latency.fanout(bench, pair, plan.lat_rate, LATENCY_SECONDS, size))
    sender, receiver = pair
    with offered(bench, sender, [receiver], path) as fetches:
        stop = threading.Event()
        fetch = fetches[receiver]
        again = threading.Thread(target=keep_fetching, args=(bench, receiver, fetch, stop))
        again.start()
        try:
            busy = latency.fanout(bench, pair, plan.lat_rate, LATENCY_SECONDS, size)
        finally:
            stop.set()
            again.join()
    raw["file_chat_busy"].append(busy)


def transfer(bench: Bench, sender: Proc, receivers: list[Proc], path: Path) -> dict[str, Any]:
    """One offer fetched by every receiver at once: MiB/s each and for them all, from the
    first ``/get``; and the offer's seconds before it (the sender hashes the file)."""
    offered_at = time.monotonic()
    ends = [sender, *receivers]
    with offered(bench, sender, receivers, path) as fetches:
        start = min(f.asked for f in fetches.values())
        cpu = sum(p.cpu_seconds() for p in ends)
        seconds = max(wait_done(bench, fetches)) - start
        cpu = sum(p.cpu_seconds() for p in ends) - cpu
    mib = path.stat().st_size / (1 << 20)
    n = len(receivers)
    return {
        "seconds": seconds,
        "mib_s_each": mib / seconds,
        "mib_s_all": mib * n / seconds,
        "offer_s": start - offered_at,
        "cpu_ms_per_mib": cpu * 1000 / (mib * n),
    }


@dataclass(frozen=True)
class Fetch:
    id: int  # the offer's number at the receiver
    mark: int  # the receiver's event count at its ``/get``
    asked: float  # when the ``/get`` was written (the bench's clock)


Fetches = dict[Proc, Fetch]


@contextlib.contextmanager
def offered(bench: Bench, sender: Proc, receivers: list[Proc], path: Path) -> Iterator[Fetches]:
    """Offer ``path`` and have each receiver fetch it; withdrawn after (``/cancel``), as a
    user would: a node offers a file once at a time, and the next round offers it anew."""
    everyone = [sender, *receivers]
    marks = {p: len(p.events) for p in everyone}
    sender.write(f"/send {path}\n".encode())
    bench.wait(lambda: all(_offer(p, marks[p]) is not None for p in everyone), 30, "the offer")
    fetches = {}
    for p in receivers:
        fetches[p] = Fetch(_offer(p, marks[p]) or 0, len(p.events), time.monotonic())
        p.write(f"/get {fetches[p].id}\n".encode())
    yield fetches
    mark = len(sender.events)
    sender.write(f"/cancel {_offer(sender, marks[sender])}\n".encode())
    bench.wait(lambda: _withdrawn(sender, mark), 10, "the offer withdrawn")


def wait_done(bench: Bench, fetches: Fetches) -> list[float]:
    """When each fetch ended (the bench's clock); fails unless each file checked."""
    bench.wait(lambda: all(_done(p, f.id, f.mark) for p, f in fetches.items()), 300, "fetches")
    ends = []
    for p, f in fetches.items():
        t, event = _done(p, f.id, f.mark) or (0.0, {})
        if not event["ok"]:
            raise BenchError(f"{p.name}'s fetch failed: {event['reason']}")
        Path(event["path"]).unlink(missing_ok=True)
        ends.append(t)
    return ends


def keep_fetching(bench: Bench, receiver: Proc, fetch: Fetch, stop: threading.Event) -> None:
    """Fetch the offer again each time a fetch ends, until ``stop``: a transfer runs for as
    long as the latency is measured (a thread beside the one measuring). The fetch under way
    then is cancelled, and waited for: it must not run into what is measured next."""
    id, mark = fetch.id, fetch.mark
    while not stop.is_set():
        with bench.reader.cond:
            done = _done(receiver, id, mark)
            if done is None:
                bench.reader.cond.wait(0.05)
                continue
            mark = len(receiver.events)
        Path(done[1]["path"]).unlink(missing_ok=True)
        receiver.write(f"/get {id}\n".encode())
    receiver.write(f"/cancel {id}\n".encode())
    with contextlib.suppress(BenchError):  # it may have ended just before
        bench.wait(lambda: _done(receiver, id, mark) is not None, 10, "the cancelled fetch")


def _done(proc: Proc, id: int, since: int) -> tuple[float, dict[str, Any]] | None:
    for t, event in proc.events[since:]:
        if event.get("event") == "file_done" and event.get("id") == id:
            return t, event
    return None


def _withdrawn(proc: Proc, since: int) -> bool:
    return any(event.get("event") == "offer_withdrawn" for _, event in proc.events[since:])


def _offer(proc: Proc, since: int) -> int | None:
    for _, event in proc.events[since:]:
        if event.get("event") == "file_offer":
            return event["id"]
    return None


def bare_copy(path: Path, n: int, save_in: Path | None = None) -> dict[str, Any]:
    """``sendfile`` of ``path`` to ``n`` loopback sockets at once, each read and discarded,
    or written to a file in ``save_in`` (as a fetch writes its file on the same disk)."""
    size = path.stat().st_size
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(n)
        port = server.getsockname()[1]
        saves = [save_in / f"bench-copy-{i}.bin" if save_in else None for i in range(n)]
        cpu: list[float] = []  # each thread's own, when it ends
        readers = [threading.Thread(target=_drain, args=(port, size, s, cpu)) for s in saves]
        start = time.monotonic()
        for t in readers:
            t.start()
        conns = [server.accept()[0] for _ in range(n)]
        senders = [threading.Thread(target=_sendfile, args=(c, path, cpu)) for c in conns]
        for t in senders:
            t.start()
        for t in (*senders, *readers):
            t.join()
        seconds = time.monotonic() - start
        for c in conns:
            c.close()
    for save in saves:
        if save is not None:
            save.unlink()
    mib = size / (1 << 20)
    return {
        "seconds": seconds,
        "mib_s_each": mib / seconds,
        "mib_s_all": mib * n / seconds,
        "cpu_ms_per_mib": sum(cpu) * 1000 / (mib * n),
    }


def least_work(path: Path, n: int, save_in: Path) -> dict[str, float]:
    """``path`` to ``n`` receivers with no more than the work a fetch cannot avoid
    (``least_work.py``); MiB/s each, from the first byte in to the last written (a fetch is
    timed from its ``/get``, so this errs in PeerChat's disfavour). Fails unless every
    receiver's SHA-256 is the file's."""
    me = [sys.executable, str(LEAST_WORK)]
    outs = [save_in / f"least-work-{i}.bin" for i in range(n)]
    receivers: list[subprocess.Popen[str]] = []
    try:
        for out in outs:
            receivers.append(
                subprocess.Popen([*me, "receive", str(out)], stdout=subprocess.PIPE, text=True)
            )
        ports = [_first_line(r) for r in receivers]
        sent = subprocess.run(
            [*me, "send", str(path), *ports], check=True, timeout=120, stdout=subprocess.PIPE
        )
        ends = [r.communicate(timeout=120)[0].split() for r in receivers]
    except (subprocess.SubprocessError, OSError) as exc:
        raise BenchError(f"the least-work copy failed: {exc}") from exc
    finally:
        for r in receivers:
            r.kill()
            r.wait()
        for out in outs:
            out.unlink(missing_ok=True)
    with open(path, "rb") as f:
        expected = hashlib.file_digest(f, "sha256").hexdigest()
    if any(len(end) != 4 or end[2] != expected for end in ends):
        raise BenchError(f"a least-work copy did not come out as the file: {ends}")
    seconds = max(float(end[1]) for end in ends) - min(float(end[0]) for end in ends)
    cpu = float(sent.stdout) + sum(float(end[3]) for end in ends)
    mib = path.stat().st_size / (1 << 20)
    return {
        "seconds": seconds,
        "mib_s_each": mib / seconds,
        "mib_s_all": mib * n / seconds,
        "cpu_ms_per_mib": cpu * 1000 / (mib * n),
    }


def _thread_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_THREAD)
    return used.ru_utime + used.ru_stime


def _first_line(proc: subprocess.Popen[str]) -> str:
    """A child's first line of output, within 30 s."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline().strip() if ready else ""
    if not line:
        raise BenchError("a least-work receiver did not start")
    return line


def _sendfile(conn: socket.socket, path: Path, cpu: list[float]) -> None:
    began = _thread_cpu()
    with open(path, "rb") as f:
        conn.sendfile(f)
    cpu.append(_thread_cpu() - began)


def _drain(port: int, size: int, save: Path | None, cpu: list[float]) -> None:
    began = _thread_cpu()
    buffer = bytearray(1 << 16)
    got = 0
    with (
        socket.create_connection(("127.0.0.1", port)) as s,
        open(save or os.devnull, "wb") as out,
    ):
        while got < size:
            n = s.recv_into(buffer)
            if not n:
                raise OSError("the copy ended early")
            got += n
            if save is not None:
                out.write(memoryview(buffer)[:n])
    cpu.append(_thread_cpu() - began)


def _ratios(tops: list[float], bottoms: list[float]) -> list[float]:
    """Trial by trial: each was measured beside the other in the same round."""
    return [a / b for a, b in zip(tops, bottoms, strict=False)]


def _ratio(key: str, title: str, tops: list[float], bottoms: list[float], **more: Any) -> Figure:
    return Figure(key=key, title=title, unit="ratio", samples=_ratios(tops, bottoms), **more)


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    out = []
    for n in FANOUTS:
        ours = [t["mib_s_each"] for t in raw[f"file_{n}"]]
        bare = [t["mib_s_each"] for t in raw[f"copy_{n}"]]
        if not ours:
            continue
        saved = [t["mib_s_each"] for t in raw[f"saved_copy_{n}"]]
        ratios = _ratios(ours, bare)
        out.append(
            Figure(
                key=f"file_mib_s_{n}",
                title=f"file transfer, {plan.file_mib} MiB to {n}, MiB/s per receiver",
                unit="MiB/s",
                samples=ours,
                extra={"sendfile_mib_s": bare, "ratio_to_sendfile": ratios},
            )
        )
        out.append(
            Figure(
                key=f"file_offer_{n}",
                title=f"file offer, {plan.file_mib} MiB: /send to the offer at {n} (hashing)",
                unit="ms",
                samples=[t["offer_s"] * 1000 for t in raw[f"file_{n}"] if "offer_s" in t],
            )
        )
        # Beside it, the same copy with each receiver writing the file to disk, as a fetch
        # does: how much of the gap to ``sendfile`` the disk alone makes. No target of its own.
        out.append(
            _ratio(
                f"file_ratio_saved_{n}",
                f"file transfer to {n} / sendfile to {n} written to disk, same run",
                ours,
                saved,
                extra={"saved_copy_mib_s": saved},
            )
        )
        # And the least work a fetch must do (sealing, SHA-256, the disk; ``least_work.py``):
        # how near PeerChat comes to what this machine allows its files at all.
        least = [t["mib_s_each"] for t in raw[f"least_work_{n}"]]
        out.append(
            _ratio(
                f"file_ratio_least_work_{n}",
                f"file transfer to {n} / the least work for it, same run",
                ours,
                least,
                extra={"least_work_mib_s": least},
            )
        )
        out.append(
            _ratio(
                f"least_work_ratio_{n}",
                f"the least work for a file to {n} / sendfile to {n}, same run",
                least,
                bare,
            )
        )
        # What the CPU allows: each MiB a receiver gets costs both ends together this much.
        # With all of the machine's cores at it, a copy gets no more than cores * 1000 over it
        # MiB/s in all, however its work is spread.
        cores = os.cpu_count()
        for kind, what in (
            ("file", "file transfer"),
            ("copy", "sendfile"),
            ("least_work", "the least work"),
        ):
            out.append(
                Figure(
                    key=f"{kind}_cpu_{n}",
                    title=f"{what} to {n}: CPU ms a MiB received, both ends ({cores} cores)",
                    unit="ms",
                    samples=[t["cpu_ms_per_mib"] for t in raw[f"{kind}_{n}"]],
                )
            )
        out.append(
            _ratio(
                f"file_ratio_{n}",
                f"file transfer to {n} / sendfile to {n}, same run",
                ours,
                bare,
                target="median >= 0.5",
                check=lambda s: s["p50"] >= 0.5,
            )
        )
    pairs = list(zip(raw["file_chat_idle"], raw["file_chat_busy"], strict=False))
    if pairs:
        idle_p50 = [statistics.median(idle["latency_ms"]) for idle, _ in pairs]
        busy_p50 = [statistics.median(busy["latency_ms"]) for _, busy in pairs]
        out.append(
            _ratio(
                "file_chat_latency",
                "chat latency p50 during a file transfer / idle, same link",
                busy_p50,
                idle_p50,
                target="median <= 2",
                check=lambda s: s["p50"] <= 2,
                extra={"idle_p50_ms": idle_p50, "busy_p50_ms": busy_p50},
                bad=sum(idle["lost"] + busy["lost"] for idle, busy in pairs),
            )
        )
    return out
