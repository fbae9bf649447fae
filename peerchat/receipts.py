"""Which private messages reached their member. No I/O.

A private message goes over one link and is never stored, so a link that dies before anyone
notices (a cable pulled, a partition) takes the message with it. The receiver acknowledges
each one; what is not acknowledged when the link is lost is sent again when the member is back,
and the receiver knows a copy by its number and time (the number alone starts again at 1 when
the sender restarts). Both sides are bounded: per member, and in members.
"""

from __future__ import annotations

from collections import OrderedDict

from peerchat.bounded import keep_latest
from peerchat.protocol import Private

PER_MEMBER = 256  # unacknowledged messages to one member, and copies remembered from one
MEMBERS = 1024


class Receipts:
    def __init__(self, per_member: int = PER_MEMBER, members: int = MEMBERS) -> None:
        self._per_member, self._members = per_member, members
        self._unacked: OrderedDict[str, dict[int, Private]] = OrderedDict()
        self._resent: dict[str, int] = {}  # member -> messages sent again, not all acked yet
        self._lost: set[str] = set()  # members whose link was lost since they last had one
        self._told: dict[str, int] = {}  # member -> the last number said to be lost
        self._seen: OrderedDict[str, OrderedDict[tuple[int, float], None]] = OrderedDict()

    def sent(self, to: str, message: Private) -> None:
        waiting = _entry(self._unacked, to, dict, self._members)
        keep_latest(waiting, message.n, message, self._per_member)  # the oldest: not followed

    def acked(self, by: str, n: int) -> int:
        """``by`` has message ``n``. Returns how many were sent again once all of them are
        acknowledged (then, once), else 0."""
        waiting = self._unacked.get(by)
        if waiting is None or waiting.pop(n, None) is None:
            return 0
        if waiting:
            return 0
        del self._unacked[by]
        self._told.pop(by, None)
        return self._resent.pop(by, 0)

    def unacked(self, to: str) -> list[Private]:
        """What ``to`` has not acknowledged, oldest first."""
        return list(self._unacked.get(to, {}).values())

    def lost(self, to: str) -> list[Private]:
        """The link to ``to`` was lost: what it has not acknowledged, but only what was not
        said so before (a member that comes and goes must not repeat the notices)."""
        if to not in self._unacked:
            return []
        self._lost.add(to)
        told = self._told.get(to, 0)
        new = [m for m in self.unacked(to) if m.n > told]
        if new:
            self._told[to] = new[-1].n
        return new

    def resend(self, to: str) -> list[Private]:
        """``to`` is linked again: what it has not acknowledged goes again (the receiver
        knows a copy). A link replaced unreported may have taken some with it: trial 67's
        "/msg bob" typed as a frozen node woke went into the link bob had given up on, and the
        rejoin that replaced it reports no losses. Only what was said to be lost is said to
        have come, once acknowledged (a review: "now has your private message" after a
        crossing dial, though bob was never away)."""
        again = self.unacked(to)
        if to in self._lost:
            self._lost.discard(to)
            if again:
                self._resent[to] = len(again)
        return again

    def give_up(self, to: str) -> int:
        """``to`` is not coming back: how many of ours it never acknowledged."""
        self._resent.pop(to, None)
        self._lost.discard(to)
        self._told.pop(to, None)
        return len(self._unacked.pop(to, {}))

    def seen_before(self, sender: str, message: Private) -> bool:
        """Whether ``message`` from ``sender`` came before (a copy sent again); noted if not."""
        seen = _entry(self._seen, sender, OrderedDict, self._members)
        key = (message.n, message.time)
        if key in seen:
            return True
        keep_latest(seen, key, None, self._per_member)
        return False


def _entry(table: OrderedDict, key: str, make: type, most: int):  # noqa: ANN202
    """``table[key]``, made if missing, the table keeping its ``most`` latest keys."""
    entry = table.get(key)
    if entry is None:
        entry = table[key] = make()
        if len(table) > most:
            table.popitem(last=False)
    return entry
