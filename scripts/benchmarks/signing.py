"""Signing and checking: what a batch's Ed25519 signature costs its author and each receiver.

Timed in this process with the installed peerchat, on batches of 1 message (a person typing)
and of ``batch.MAX_ITEMS`` (a burst): sealing (pack + sign) and opening (unpack + shape checks
+ signature check). The throughput rows show what that costs a room in full flow; these show
why a batch, not a message, carries the signature.
"""

from __future__ import annotations

import time

from .driver import log
from .plan import Plan
from .report import Figure, Raw
from .rooms import text

ROUNDS = 200  # timings per figure; each is the median of its samples


def measure(plan: Plan, raw: Raw) -> None:
    from peerchat import batch, identity
    from peerchat.chat import Chat

    me = identity.Identity.generate()
    log(f"peerchat: sign and check batches of 1 and {batch.MAX_ITEMS} messages")
    for size in (1, batch.MAX_ITEMS):
        chats = [
            Chat(me.node_id, k + 1, k + 1, text("sg", k, plan.msg_size), 0.0, 0.0)
            for k in range(size)
        ]
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            sealed = batch.seal(me, "bench", chats)
            t1 = time.perf_counter()
            opened = batch.open_batch(sealed.data, sealed.sig)
            ok = opened.signed()
            t2 = time.perf_counter()
            if not ok:
                raise RuntimeError("a batch this process sealed did not check")
            raw[f"seal_{size}"].append((t1 - t0) * 1e6)
            raw[f"open_{size}"].append((t2 - t1) * 1e6)


def figures(plan: Plan, raw: Raw) -> list[Figure]:
    out = []
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
