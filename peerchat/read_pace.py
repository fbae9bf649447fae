"""How fast each member's frames are read: a token bucket of bytes per member, and one per
address, that every frame after the hello counts against (but file chunks, which come only
as fast as this node's own fetches ask for them).

Past its pace a member's link is read no faster (``Connection.hold``): its program waits to
send, the kernel's buffers fill, and the others are read as before. Attack round 15's flood of
lines put others' lines 2-10 s late; round 16's 32 keys of one address flooded at 32 paces;
round 18 found private messages and small frames (typing notices, 2 million in 10 s) read
unpaced, each keeping a core busy. A frame counts for ``FRAME_COST`` bytes at least: the work
of reading one is not in its bytes alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peerchat.admission import Paces
from peerchat.protocol import Election, Want

if TYPE_CHECKING:
    from peerchat.connection import Connection

# Bytes read from one member at once, then a second (the bench's floods, 50,000 lines of 64
# characters, stay within the first).
MEMBER_AT_ONCE = 8 << 20
MEMBER_PER_SECOND = 1 << 20
ADDRESS_AT_ONCE = 16 << 20  # and from all the members at one address (but loopback)
ADDRESS_PER_SECOND = 4 << 20
# At 64, one address's pace let 65,536 small frames a second through, and 4 keys of one
# address kept a core busy (attack round 19; this machine reads some 60,000-100,000 a second).
# At 256: 16,384 a second. A fetch's acknowledgements, one per 128 KiB or per window (16 KiB
# at the least, on a link that slow), stay well within.
FRAME_COST = 256
# A want (``protocol.Want``) counts for this much: its work is a look into the store and an
# answer. At 256, 16 keys of one address that each kept 500 wants asked took a core whole once
# their answers were past their pace and came back at once with nothing (attack round 48); at
# this, one address's wants are 256 a second. A newcomer asks one for each author it lacks,
# and again for each 1,000 lines.
WANT_COST = 16 << 10
# A batch counts for this much a message at least: showing and keeping a message is work
# whatever its size. Batches of 256 empty lines, 5 KB each, let one key through at 50,000
# messages a second, and the others' lines waited behind them for as long as it went on
# (attack round 49). At 128 a member says 8,192 a second at most, past 65,536 at once; the
# bench's flood of 50,000 lines of 64 characters stays within that.
MESSAGE_COST = 128
# An election's first word counts for this much: the tracker answers each, an answer and a
# claim of its own, which made one key's flood of them cost it 2.6 times a flood of
# heartbeats (attack round 50). An honest member says one an election.
ELECTION_COST = 4 << 10
_LEAST_COST: dict[type, int] = {Want: WANT_COST, Election: ELECTION_COST}  # at least


class ReadPace:
    def __init__(self) -> None:
        self._members = Paces(1 / MEMBER_PER_SECOND, MEMBER_AT_ONCE)
        self._addresses = Paces(1 / ADDRESS_PER_SECOND, ADDRESS_AT_ONCE)

    def charge(self, conn: Connection, size: int, now: float, kind: type | None = None) -> None:
        """A frame (of ``kind``) of ``size`` bytes read from ``conn``'s member: past the pace,
        the link is held (``Connection.hold``) until it is within it again. This computer's
        own nodes are not paced by address."""
        if conn.member is None:
            return
        cost = frame_cost(size, kind)
        hold = self._members.owe(conn.member.node_id, now, cost)
        if conn.address:
            hold = max(hold, self._addresses.owe(conn.address, now, cost))
        conn.hold = max(conn.hold, hold)


def batch_cost(size: int, count: int) -> int:
    """What a batch of ``count`` lines in a frame of ``size`` bytes counts for, its frame's
    floor aside (``MESSAGE_COST``)."""
    return max(size, count * MESSAGE_COST)


def frame_cost(size: int, kind: type | None = None) -> int:
    """What a frame of ``size`` bytes (of ``kind``) counts for on the pace."""
    return max(size, _LEAST_COST.get(kind, FRAME_COST))
