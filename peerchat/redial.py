"""Members lost without a goodbye, and when to dial each of them again. No I/O, no clocks.

The first attempt comes soon after the loss (a blip heals at once), later ones back off
exponentially up to a cap of a few seconds, so a healed partition is noticed within the cap.
Where the member's host says nothing listens any more (its process is gone) the delay grows to
a longer cap instead, as for one never reached: a room does not keep hammering the ports of
those who crashed, nor an address a tracker's welcome made up. After
``give_up_after`` the member is let go for good. At most ``max_lost`` members are dialled
so: beyond that, one this node never had a link to (known only from another's word) is let go
first, then one whose host last said nothing listens there, the oldest first: a tracker's word
cannot set a node dialling without end, nor push out the members it really lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from peerchat.bounded import keep_latest
from peerchat.membership import Member


@dataclass
class _Lost:
    member: Member
    since: float
    delay: float
    due: float
    dialling: bool = False
    gone: bool = False  # the last dial found nothing listening at its address
    gone_since: float = 0.0  # since when each dial has found so
    told_gone: bool = False  # said to be gone (``gone_for``), once
    linked: bool = True  # this node had a link to it once
    failures: int = 0  # dials that failed in a row


# Dials a member never reached is given at the short cap's pace before it backs off as far as
# a gone one: a newcomer on a slow link, or one back from a freeze (whose welcome lists members
# it was linked to a moment before), dials on as often as for a member lost (a review).
QUICK_TRIES = 4
# Members never reached kept on the schedule at most: a welcome of 9,999 made-up members had
# a newcomer dial 1,024 of them for 30 minutes (attack round 18). One that dials in is let in.
MAX_UNREACHED = 64


class Redial:
    def __init__(
        self,
        first: float,
        cap: float,
        give_up_after: float,
        gone_cap: float | None = None,
        max_lost: int = 1024,
        max_unreached: int = MAX_UNREACHED,
    ) -> None:
        self._first, self._cap, self._give_up_after = first, cap, give_up_after
        self._gone_cap = cap if gone_cap is None else gone_cap
        self._max_lost = max_lost
        self._max_unreached = max_unreached
        self._lost: dict[str, _Lost] = {}
        self._found: dict[str, tuple[float, float]] = {}  # found again -> (when, its last delay)

    def lost(self, member: Member, now: float, *, linked: bool = True) -> Member | None:
        """``member`` went without a goodbye (or, not ``linked``, was never reached): dial it
        again from ``now + first``, or, lost again within ``cap`` of being found, after twice
        its last delay up to ``cap`` (attack round 15: a key that dropped every link it got was
        dialled again 0.1 s later, for ever: two lines of join and leave a second on every
        screen). Returns the member let go to make room for it, if one was: ``member`` itself
        when it was never reached and the list holds only members lost, or ``MAX_UNREACHED``
        never reached."""
        if member.node_id in self._lost:
            return None
        delay = self._first
        found = self._found.pop(member.node_id, None)
        if found is not None and now - found[0] < self._cap:
            delay = min(found[1] * 2, self._cap)
        let_go = None
        if not linked and sum(not e.linked for e in self._lost.values()) >= self._max_unreached:
            return member
        if len(self._lost) >= self._max_lost:
            worst = max(self._lost.values(), key=lambda e: (not e.linked, e.gone, -e.since))
            if not linked and worst.linked:
                return member
            let_go = self._lost.pop(worst.member.node_id).member
        self._lost[member.node_id] = _Lost(member, now, delay, now + delay, linked=linked)
        return let_go

    def found(self, node_id: str, now: float) -> Member | None:
        """Connected again (by either side): no more dialling. Returns the lost member."""
        entry = self._lost.pop(node_id, None)
        if entry is None:
            return None
        keep_latest(self._found, node_id, (now, entry.delay), self._max_lost)
        return entry.member

    def told_gone(self, node_id: str) -> bool:
        """Whether the member, dialled still, was said to be gone (``gone_for``)."""
        entry = self._lost.get(node_id)
        return entry is not None and entry.told_gone

    def replaced_by(
        self, member: Member, looks: Callable[[str], str], reached_at: str | None = None
    ) -> list[Member]:
        """Lost members under another id that ``member`` takes the place of, removed and
        returned: one at the address where this node reached ``member`` (a new process listens
        there now; never the address its hello names, which any member may write: attack round
        15 had every node give up alice during a blip so, and a stranger took her name), or one
        whose host said nothing listens and whose name ``looks`` like its own (one back with
        another key took the name: a trial's zed, killed, back with a new key and gone again,
        stayed "away" and awaited by every line for 30 minutes)."""
        name = looks(member.username)
        gone = [
            e.member
            for e in self._lost.values()
            if e.member.node_id != member.node_id
            and (e.member.addr == reached_at or e.gone and looks(e.member.username) == name)
        ]
        for m in gone:
            del self._lost[m.node_id]
        return gone

    def let_go(self, node_id: str) -> Member | None:
        """No more dialling: another process answers at the member's address."""
        entry = self._lost.pop(node_id, None)
        return entry.member if entry else None

    def due(self, now: float) -> list[Member]:
        """The members to dial now; each stays out of the list until ``failed``."""
        out = []
        for entry in self._lost.values():
            if not entry.dialling and entry.due <= now:
                entry.dialling = True
                out.append(entry.member)
        return out

    def failed(self, node_id: str, now: float, *, gone: bool = False) -> None:
        """The dial failed; ``gone``: nothing listens at the member's address any more."""
        entry = self._lost.get(node_id)
        if entry is not None:
            if gone and not entry.gone:
                entry.gone_since = now
            entry.dialling, entry.gone = False, gone
            entry.failures += 1
            # One never reached backs off as far as a gone one after ``QUICK_TRIES``: known
            # only by another's word, it may be made up (attack round 29: a welcome's, 32
            # dials a second for 30 minutes).
            slow = gone or (not entry.linked and entry.failures > QUICK_TRIES)
            entry.delay = min(entry.delay * 2, self._gone_cap if slow else self._cap)
            entry.due = now + entry.delay

    def expired(self, now: float) -> list[Member]:
        """Members lost for ``give_up_after`` or longer: removed and returned, once."""
        gone = [e for e in self._lost.values() if now - e.since >= self._give_up_after]
        for entry in gone:
            del self._lost[entry.member.node_id]
        return [e.member for e in gone]

    def next_due(self) -> float | None:
        waiting = [e.due for e in self._lost.values() if not e.dialling]
        return min(waiting, default=None)

    def awaited(self) -> list[Member]:
        """Members this node had a link to and whose hosts have not said that nothing listens:
        away, as far as anyone knows, not gone."""
        return [e.member for e in self._lost.values() if e.linked and not e.gone]

    def gone_for(self, now: float, after: float) -> list[Member]:
        """Members this node had a link to whose hosts have said for ``after`` seconds that
        nothing listens, not told of before: taken to have quit from now on (``not_gone``)."""
        out = []
        for e in self._lost.values():
            if e.linked and e.gone and not e.told_gone and now - e.gone_since >= after:
                e.told_gone = True
                out.append(e.member)
        return out

    def next_gone(self, after: float) -> float | None:
        """When the next member is gone for ``after`` seconds (``gone_for``), if one will be."""
        times = [
            e.gone_since + after
            for e in self._lost.values()
            if e.linked and e.gone and not e.told_gone
        ]
        return min(times, default=None)

    def not_gone(self, now: float, after: float) -> Iterator[Member]:
        """Members whose hosts have not said, for ``after`` seconds, that nothing listens:
        maybe still there, or back soon (a crash, and the program started again)."""
        return (e.member for e in self._lost.values() if not e.gone or now - e.gone_since < after)

    def clear(self) -> list[Member]:
        members = [e.member for e in self._lost.values()]
        self._lost.clear()
        return members

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._lost

    def __iter__(self):  # noqa: ANN204 - an iterator of Member
        return iter([e.member for e in self._lost.values()])

    def __len__(self) -> int:
        return len(self._lost)
