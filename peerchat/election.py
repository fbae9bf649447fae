"""The Bully election and the node's view of who the tracker is. No I/O, no clocks read here.

Rules, in the order they apply:

* A node that loses its tracker (connection closed, heartbeats silent, or a goodbye) starts an
  election: it sends ``Election`` to every member that ranks above it. If there is none, it has
  won. It waits ``election_stagger`` per higher member first, so that when everyone notices
  at once the highest node's claim usually arrives before any election message is sent.
* A node that gets ``Election`` from below answers it. If it is the tracker it also repeats its
  ``Coordinator`` claim to the asker; if it has no tracker either, it starts its own election;
  if it still trusts a live tracker it only answers, so a live tracker is never deposed.
* No answer within ``answer_timeout``: the node wins, takes the tracker role and broadcasts
  ``Coordinator``. An answer means a higher node is alive: wait ``coordinator_timeout`` for its
  claim, and start over if it does not come or if a higher node is lost meanwhile. The second
  wait is twice as long, and longer still for each higher member that answered past the first
  (``_patience``); when it too ends without a claim, the members that answered are passed over:
  this node's elections no longer ask them, until one of them claims. A higher member that
  answers and never claims (one following a tracker this node cannot reach, or one that means
  to keep the room without a tracker: attack round 20 did so at --priority 65535, and every
  newcomer was turned away for as long as it stayed) holds an election up for 3 s, once (a few
  of them, some seconds more: ``_patience``).
* Claims (``Coordinator``, and the tracker's own ``Ping``) come from the claimant itself. A node
  without a tracker accepts a claim from above and bullies a claim from below by electing
  itself; a node that follows a tracker switches only to a higher claimant; a tracker that hears
  a higher claim steps down and repeats its own claim to a lower one. So every connected
  member ends with the highest claimant, and a member that joins later never deposes anyone.

Rank is (priority, node id): priority defaults to the listen port, so the highest port wins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from peerchat.config import Config
from peerchat.membership import Member, MemberTable, Rank
from peerchat.protocol import Answer, Coordinator, Election, Message


@dataclass(frozen=True, slots=True)
class Send:
    to: str
    message: Message


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: Message


@dataclass(frozen=True, slots=True)
class Follow:
    """The tracker is now ``node_id`` (this node itself when it won)."""

    node_id: str


Action = Send | Broadcast | Follow

PASS_OVER_AFTER = 2  # waits for a claim in a row that end without one, then those answering
MAX_PATIENT_STEPS = 4  # a last wait grows so for this many higher members at most
MAX_PASSED_OVER = 1024  # members passed over, kept while they are away too


class Phase(enum.Enum):
    IDLE = "idle"
    DEFERRED = "deferred"  # lost the tracker; giving higher members a head start
    ELECTING = "electing"  # waiting for any higher node to answer
    AWAITING = "awaiting"  # a higher node answered; waiting for its claim


class Bully:
    def __init__(self, me: Member, members: MemberTable, config: Config) -> None:
        self.me = me
        self.members = members
        self.config = config
        self.phase = Phase.IDLE
        self.deadline: float | None = None
        self.tracker: str | None = None
        self._lost = ""  # the last tracker this node lost, named in its claims
        self._tracker_rank: Rank | None = None
        self._unclaimed = 0  # waits for a claim in a row that ended with none
        self._answered: set[str] = set()  # higher members that answered since the last claim
        self._passed_over: set[str] = set()  # answered, then never claimed: not asked again

    @property
    def is_tracker(self) -> bool:
        return self.tracker == self.me.node_id

    def follow(self, node_id: str, priority: int) -> list[Action]:
        """Trust ``node_id`` as tracker (from the room's welcome, or on founding the room)."""
        self.phase, self.deadline = Phase.IDLE, None
        self._unclaimed = 0
        self._answered.clear()
        if node_id == self.tracker:
            return []
        self.tracker, self._tracker_rank = node_id, (priority, node_id)
        return [Follow(node_id)]

    def reset(self) -> None:
        """Forget the tracker and any election: the node is about to join the room afresh."""
        self.phase, self.deadline = Phase.IDLE, None
        self.tracker = self._tracker_rank = None
        self._unclaimed = 0
        self._answered.clear()
        self._passed_over.clear()

    def tracker_lost(self, now: float) -> list[Action]:
        """Start an election, after a pause that grows with the number of higher members:
        when the whole room notices at once, the highest claims before the others have sent
        their n-squared election messages, and the claim settles it."""
        self._lost = self.tracker or self._lost
        self.tracker = self._tracker_rank = None
        if self.phase is not Phase.IDLE:
            return []
        higher = len(self._higher())
        if not higher or not self.config.election_stagger:
            return self._start(now)
        self.phase, self.deadline = Phase.DEFERRED, now + higher * self.config.election_stagger
        return []

    def on_election(self, sender: str, now: float) -> list[Action]:
        actions: list[Action] = [Send(sender, Answer())]
        if self.is_tracker:
            actions.append(Send(sender, self._claim()))
        elif self.tracker is None and self.phase is Phase.IDLE:
            actions += self._start(now)
        return actions

    def on_answer(self, sender: str, now: float) -> list[Action]:
        if self.phase is Phase.ELECTING or self.phase is Phase.AWAITING:
            self._answered.add(sender)
        if self.phase is Phase.ELECTING:
            wait = self.config.coordinator_timeout * 2**self._unclaimed
            if self._unclaimed == PASS_OVER_AFTER - 1:  # the last wait: see ``_patience``
                wait += self._patience()
            self.phase, self.deadline = Phase.AWAITING, now + wait
        return []

    def _patience(self) -> float:
        """More time for a claim, for each higher member that answered past the first: one
        higher up is waiting out the same member that never claims, and must claim first. The
        lower members passed it over with that member, 20-30 ms before it claimed, and all held
        the role a moment (attack round 21). Each step covers the answers such a member may
        hold back from the one above, ``answer_timeout`` each round, and its claim's way."""
        above = min(len(self._answered) - 1, MAX_PATIENT_STEPS)
        return max(above, 0) * (PASS_OVER_AFTER + 1) * self.config.answer_timeout

    def on_claim(self, claimant: str, priority: int, now: float) -> list[Action]:
        rank = (priority, claimant)
        self._passed_over.discard(claimant)  # it claims after all
        if claimant == self.tracker:
            return []
        if self.is_tracker:
            if rank > self.me.rank:
                return self.follow(claimant, priority)
            return [Send(claimant, self._claim())]
        if self.tracker is None:
            if rank > self.me.rank:
                return self.follow(claimant, priority)
            return self._start(now) if self.phase is Phase.IDLE else []
        if self._tracker_rank is not None and rank > self._tracker_rank:
            return self.follow(claimant, priority)
        return []

    def on_member_lost(self, node_id: str, now: float) -> list[Action]:
        """What a member that answered did is kept by its id, as it may link again: one that
        left and came back at each election began it afresh, and kept the room without a
        tracker for good (attack round 22, 3 keys, 60 s and 90 s)."""
        if node_id == self.tracker:
            return self.tracker_lost(now)
        waited_on = any(n in self.members for n in self._answered)
        if self.phase is Phase.AWAITING and not waited_on:  # the one that answered is lost
            self.phase = Phase.IDLE
            return self._start(now)
        return []

    def on_timer(self, now: float) -> list[Action]:
        if self.deadline is None or now < self.deadline:
            return []
        if self.phase is Phase.ELECTING:
            return self._win()
        if self.phase is Phase.AWAITING:
            self._unclaimed += 1
            if self._unclaimed >= PASS_OVER_AFTER:
                self._passed_over |= self._answered
                if len(self._passed_over) > MAX_PASSED_OVER:  # those gone first
                    self._passed_over = {n for n in self._passed_over if n in self.members}
                self._answered.clear()
                self._unclaimed = 0
        self.phase = Phase.IDLE
        return self._start(now)

    def _higher(self) -> list[Member]:
        """The members that rank above this node, but those passed over."""
        higher = self.members.higher_than(self.me.rank)
        return [m for m in higher if m.node_id not in self._passed_over]

    def _start(self, now: float) -> list[Action]:
        higher = self._higher()
        if not higher:
            return self._win()
        self.phase, self.deadline = Phase.ELECTING, now + self.config.answer_timeout
        return [Send(m.node_id, Election()) for m in higher]

    def _win(self) -> list[Action]:
        actions = self.follow(self.me.node_id, self.me.priority)
        # Only the victory names the lost tracker: by any later claim it may have come back.
        announcement = Coordinator(self.me.node_id, self.me.priority, self._lost)
        self._lost = ""
        return [Broadcast(announcement), *actions]

    def _claim(self) -> Coordinator:
        return Coordinator(self.me.node_id, self.me.priority)
