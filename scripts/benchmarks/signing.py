"""Signing, checking and storing: what a batch costs its author and each receiver.

Timed in this process with the installed peerchat, on batches of 1 message (a person typing)
and of ``batch.MAX_ITEMS`` (a burst): sealing (pack + sign), opening (unpack + shape checks +
signature check), and writing to a store on disk (``STORE_MESSAGES`` messages added, then one
flush: one transaction, as the node does every 0.5 s). The throughput rows show what all of it
costs a room in full flow; these show why a batch, not a message, is signed and stored.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .driver import log
from .plan import Plan
from .report import Figure, Raw
from .rooms import text

if TYPE_CHECKING:
    from peerchat.identity import Identity

ROUNDS = 200  # timings per figure; each is the median of its samples
STORE_MESSAGES = 2048  # messages written per flush timed
STORE_ROUNDS = 10


def measure(plan: Plan, raw: Raw) -> None:
    from peerchat import batch, identity
    from peerchat.chat import Chat

    me = identity.Identity.generate()
    room = batch.room_tag("bench", "", b"")
    log(f"peerchat: sign and check batches of 1 and {batch.MAX_ITEMS} messages")
    for size in (1, batch.MAX_ITEMS):
        chats = [
            Chat(me.node_id, k + 1, k + 1, text("sg", k, plan.msg_size), 0.0, 0.0)
            for k in range(size)
        ]
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            sealed = batch.seal(me, "bench", chats, room)
            t1 = time.perf_counter()
            opened = batch.open_batch(sealed.data, sealed.sig, room=room)
            ok = opened.signed()
            t2 = time.perf_counter()
            if not ok:
                raise RuntimeError("a batch this process sealed did not check")
            raw[f"seal_{size}"].append((t1 - t0) * 1e6)
            raw[f"open_{size}"].append((t2 - t1) * 1e6)
    measure_store(me, raw)


def measure_store(me: Identity, raw: Raw) -> None:
    """Add then flush ``STORE_MESSAGES`` messages as batches of 1 and of MAX_ITEMS, to a store
    in a temporary data dir; per message, in microseconds."""
    from peerchat import batch
    from peerchat.chat import Chat
    from peerchat.store import Store

    room = batch.room_tag("bench", "", b"")
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder)) as store:
        seq = 0
        for size in (1, batch.MAX_ITEMS):
            for _ in range(STORE_ROUNDS):
                batches = []
                for _ in range(STORE_MESSAGES // size):
                    chats = [
                        Chat(me.node_id, seq + k + 1, seq + k + 1, "x" * 64, 0.0, 0.0)
                        for k in range(size)
                    ]
                    seq += size
                    batches.append(batch.seal(me, "bench", chats, room))
                t0 = time.perf_counter()
                for b in batches:
                    store.add(b, 0.0)
                store.flush()
                raw[f"store_{size}"].append((time.perf_counter() - t0) * 1e6 / STORE_MESSAGES)


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    out = []
    for key in sorted(k for k in raw if k.startswith(("store_",))):
        size = key.split("_")[1]
        out.append(
            Figure(
                key=f"{key}_us",
                title=f"store a message, in batches of {size} (add + one flush of "
                f"{STORE_MESSAGES})",
                unit="us",
                samples=raw[key],
            )
        )
    for key in sorted(k for k in raw if k.startswith(("seal_", "open_"))):
        what, size = key.split("_")
        doing = "seal (pack + sign)" if what == "seal" else "open (unpack + check signature)"
        out.append(
            Figure(
                key=f"{key}_us",
                title=f"{doing} a batch of {size} message{'s' if size != '1' else ''}",
                unit="us",
                samples=raw[key],
                extra={"per_message_us": sorted(raw[key])[len(raw[key]) // 2] / int(size)},
            )
        )
    return out
