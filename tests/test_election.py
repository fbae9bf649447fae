"""peerchat.election: the Bully state machine, alone and as a cluster.

``ClusterSim`` holds N pure ``Bully`` instances, each with its own table of the others, and
carries their ``Send``/``Broadcast`` actions to each other as messages, the N-way version of
h11's ``ConnectionPair``. Time is a number the test advances; nothing sleeps.
"""

from __future__ import annotations

import random
import time
import types
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest
import trio

from peerchat.config import Config
from peerchat.election import PASS_OVER_AFTER, Action, Broadcast, Bully, Follow, Phase, Send
from peerchat.leadership import Leadership
from peerchat.links import Links
from peerchat.membership import Member, MemberTable
from peerchat.protocol import Answer, Coordinator, Election, Message

# Most tests check Bully's messages step by step, with no head start for higher members; the
# stagger has tests of its own below.
CONFIG = Config(election_stagger=0)
STAGGERED = Config(election_stagger=0.002)


def member(node_id: str, priority: int) -> Member:
    return Member(node_id, f"user-{node_id}", "127.0.0.1", 5000, priority)


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    to: str
    message: Message


class ClusterSim:
    """N Bully instances and the network between them, with a fake clock."""

    MAX_DELIVERIES = 100_000

    def __init__(self, ranks: Iterable[tuple[str, int]], config: Config = CONFIG) -> None:
        self.config = config
        self.now = 0.0
        self.everyone = {node_id: member(node_id, priority) for node_id, priority in ranks}
        self.nodes: dict[str, Bully] = {}
        for me in self.everyone.values():
            table = MemberTable()
            for other in self.everyone.values():
                if other.node_id != me.node_id:
                    table.add(other)
            self.nodes[me.node_id] = Bully(me, table, config)
        self.alive = set(self.nodes)
        self.wire: deque[Envelope] = deque()
        self.follows: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        self.winners: list[str] = []  # every node that ever took the tracker role, in order
        self.sent: list[Envelope] = []

    # -- the network ------------------------------------------------------------------------

    def apply(self, node_id: str, actions: Sequence[Action]) -> None:
        for action in actions:
            match action:
                case Send(to, message):
                    self._post(Envelope(node_id, to, message))
                case Broadcast(message):
                    for other in self.nodes[node_id].members:
                        self._post(Envelope(node_id, other.node_id, message))
                case Follow(target):
                    self.follows[node_id].append(target)
                    if target == node_id:
                        self.winners.append(node_id)
                case _:
                    raise AssertionError(f"unknown action {action!r}")

    def _post(self, envelope: Envelope) -> None:
        assert envelope.sender != envelope.to, f"{envelope.sender} sent itself {envelope.message}"
        self.sent.append(envelope)
        self.wire.append(envelope)

    def run(self) -> None:
        """Deliver messages, in order, until none is in flight."""
        for _ in range(self.MAX_DELIVERIES):
            if not self.wire:
                return
            env = self.wire.popleft()
            if env.to in self.alive:  # to a dead node: lost
                self.apply(env.to, self._dispatch(self.nodes[env.to], env))
        raise AssertionError("messages never stopped flowing")

    def _dispatch(self, node: Bully, env: Envelope) -> list[Action]:
        match env.message:
            case Election():
                return node.on_election(env.sender, self.now)
            case Answer():
                return node.on_answer(env.sender, self.now)
            case Coordinator(tracker, priority):
                assert tracker == env.sender, "claims come from the claimant itself"
                return node.on_claim(tracker, priority, self.now)
        raise AssertionError(f"unexpected message {env.message!r}")

    # -- time -------------------------------------------------------------------------------

    def advance(self, dt: float) -> None:
        """Move the clock on, fire every node's timer, deliver what that sent."""
        self.now += dt
        for node_id in sorted(self.alive):
            self.apply(node_id, self.nodes[node_id].on_timer(self.now))
        self.run()

    def settle(self, seconds: float = 10.0, step: float = 0.05) -> None:
        self.run()
        end = self.now + seconds
        while self.now < end:
            self.advance(step)

    # -- membership events ------------------------------------------------------------------

    def found(self, tracker: str) -> None:
        """Everybody trusts ``tracker`` (as after a welcome)."""
        priority = self.everyone[tracker].priority
        for node_id in sorted(self.alive):
            self.apply(node_id, self.nodes[node_id].follow(tracker, priority))
        self.run()

    def kill(self, victim: str, noticed_by: Iterable[str] | None = None) -> None:
        """``victim`` dies: what it had not yet sent is lost; who notices drops it at once."""
        self.alive.discard(victim)
        self.wire = deque(e for e in self.wire if victim not in (e.sender, e.to))
        self.notice(victim, sorted(self.alive) if noticed_by is None else noticed_by)

    def notice(self, victim: str, by: Iterable[str]) -> None:
        for node_id in by:
            node = self.nodes[node_id]
            assert node.members.remove(victim) is not None
            self.apply(node_id, node.on_member_lost(victim, self.now))

    def join(self, newcomer: str, priority: int) -> None:
        """A late joiner: everybody adds it, and it trusts whoever the tracker is."""
        trackers = {self.nodes[n].tracker for n in self.alive}
        assert len(trackers) == 1, trackers
        (tracker,) = trackers
        me = self.everyone[newcomer] = member(newcomer, priority)
        table = MemberTable()
        for node_id in self.alive:
            table.add(self.everyone[node_id])
            self.nodes[node_id].members.add(me)
        self.nodes[newcomer] = Bully(me, table, self.config)
        self.alive.add(newcomer)
        self.follows[newcomer] = []
        assert tracker is not None
        self.apply(newcomer, self.nodes[newcomer].follow(tracker, self.everyone[tracker].priority))

    # -- checks -----------------------------------------------------------------------------

    def highest_alive(self) -> str:
        return max((self.everyone[n] for n in self.alive), key=lambda m: m.rank).node_id

    def trackers(self) -> dict[str, str | None]:
        return {node_id: self.nodes[node_id].tracker for node_id in sorted(self.alive)}

    def assert_converged(self, expected: str) -> None:
        assert not self.wire, "messages still in flight"
        assert set(self.trackers().values()) == {expected}, self.trackers()
        assert [n for n in self.alive if self.nodes[n].is_tracker] == [expected]
        for node_id in self.alive:
            node = self.nodes[node_id]
            assert node.phase is Phase.IDLE, (node_id, node.phase)
            assert node.deadline is None, (node_id, node.deadline)
            assert self.follows[node_id][-1] == expected, (node_id, self.follows[node_id])


def ids(n: int) -> list[str]:
    return [f"n{i:03d}" for i in range(n)]


def by_index(n: int) -> list[tuple[str, int]]:
    """n nodes whose priority grows with the id: n000 lowest."""
    return [(node_id, 1000 + i) for i, node_id in enumerate(ids(n))]


def shuffled(n: int, seed: int) -> list[tuple[str, int]]:
    """n nodes with priorities in random order, some of them tied."""
    rng = random.Random(seed)
    return [(node_id, rng.randrange(n // 2 + 1)) for node_id in ids(n)]


# -- the cluster ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 50])
def test_highest_alive_wins_when_all_notice_tracker_loss_at_once(n: int) -> None:
    sim = ClusterSim([*shuffled(n, seed=n), ("old", 10**6)])
    sim.found("old")
    sim.assert_converged("old")
    sim.kill("old")  # everyone notices at the same instant
    winner = sim.highest_alive()
    sim.run()
    sim.assert_converged(winner)  # no timer needed: the highest knows at once
    assert sim.winners == ["old", winner]  # nobody else claimed, even for a moment
    sim.settle()
    sim.assert_converged(winner)
    assert sim.winners == ["old", winner]


@pytest.mark.parametrize("n", [5, 50])
def test_with_a_head_start_for_higher_members_only_the_claim_crosses_the_room(n: int) -> None:
    sim = ClusterSim([*shuffled(n, seed=n), ("old", 10**6)], STAGGERED)
    sim.found("old")
    sim.kill("old")
    winner = sim.highest_alive()
    sent_before = len(sim.sent)
    sim.run()
    sim.assert_converged(winner)
    sim.settle()
    sim.assert_converged(winner)
    assert sim.winners == ["old", winner]
    elections = [e for e in sim.sent[sent_before:] if isinstance(e.message, Election)]
    assert elections == []  # the claim reached everyone before any head start ran out


def test_priority_beats_node_id() -> None:
    sim = ClusterSim([("zzz", 1), ("aaa", 9), ("mmm", 5), ("old", 100)])
    sim.found("old")
    sim.kill("old")
    sim.settle()
    sim.assert_converged("aaa")


def test_ties_on_priority_broken_by_node_id() -> None:
    nodes = [(node_id, 7) for node_id in ids(10)]
    random.Random(3).shuffle(nodes)
    sim = ClusterSim([*nodes, ("old", 8)])
    sim.found("old")
    sim.kill("old")
    sim.settle()
    sim.assert_converged("n009")


def test_only_the_lowest_notices_and_nobody_has_a_tracker() -> None:
    # Nobody else trusts a tracker, so the lowest node's Election sets off the others.
    sim = ClusterSim(shuffled(8, seed=1))
    lowest = min(sim.everyone.values(), key=lambda m: m.rank).node_id
    sim.apply(lowest, sim.nodes[lowest].tracker_lost(sim.now))
    sim.run()
    sim.assert_converged(sim.highest_alive())
    sim.settle()
    sim.assert_converged(sim.highest_alive())


def test_only_the_lowest_notices_at_first() -> None:
    # The others still trust the dead tracker and only answer, until their own heartbeat
    # timeouts run out one after another; the lowest must not take over meanwhile.
    sim = ClusterSim([*by_index(6), ("old", 10**6)])
    sim.found("old")
    sim.kill("old", noticed_by=["n000"])
    sim.run()
    assert sim.nodes["n000"].phase is Phase.AWAITING  # somebody higher answered
    assert set(sim.trackers().values()) == {None, "old"}
    for node_id in ids(6)[1:]:
        sim.advance(0.4)
        assert not sim.nodes["n000"].is_tracker
        sim.notice("old", [node_id])
        sim.run()
    sim.settle()
    sim.assert_converged("n005")
    assert sim.winners == ["old", "n005"]


def test_the_lowest_alone_notices_for_a_long_time() -> None:
    # The higher ones answer and never claim: they still follow the old tracker. Once they are
    # passed over, the lowest takes the role for itself (the others keep the higher one) and
    # gives it up to the claim of the room's election, when they notice.
    sim = ClusterSim([*by_index(4), ("old", 10**6)])
    sim.found("old")
    sim.kill("old", noticed_by=["n000"])
    sim.settle(seconds=20)
    assert sim.winners == ["old", "n000"]
    assert sim.trackers() == {"n000": "n000", "n001": "old", "n002": "old", "n003": "old"}
    sim.notice("old", ["n001", "n002", "n003"])
    sim.settle()
    sim.assert_converged("n003")


def test_one_that_never_claims_is_passed_over_by_the_next_highest_before_the_rest() -> None:
    """Attack round 21: the lower members passed over the rightful winner along with the one
    that answers and never claims, 20-30 ms before the winner claimed, and each held the role
    a moment. A lower member waits longer for each higher one that answered."""
    sim = ClusterSim([*by_index(4), ("mal", 10**6), ("old", 10**7)])
    mal = sim.nodes["mal"]
    mal.on_election = lambda sender, now: [Send(sender, Answer())]  # type: ignore[method-assign]
    mal.tracker_lost = mal.on_timer = mal._start = lambda now: []  # type: ignore[method-assign]
    sim.found("old")
    sim.kill("old")
    sim.settle(seconds=20)
    assert sim.winners == ["old", "n003"]
    assert {n: t for n, t in sim.trackers().items() if n != "mal"} == dict.fromkeys(ids(4), "n003")


def test_would_be_winner_dies_before_its_claim_leaves() -> None:
    sim = ClusterSim([*by_index(5), ("old", 10**6)])
    sim.found("old")
    sim.kill("old")
    sim.kill("n004")  # it won at once, but its Coordinator never got out
    sim.run()
    assert sim.nodes["n003"].phase is Phase.ELECTING  # its Election to n004 went nowhere
    sim.advance(CONFIG.answer_timeout / 2)
    assert sim.nodes["n003"].tracker is None
    sim.settle()
    sim.assert_converged("n003")


def test_would_be_winner_dies_after_answering() -> None:
    sim = ClusterSim([*by_index(5), ("old", 10**6)])
    sim.found("old")
    sim.kill("old", noticed_by=ids(4))  # n004 has not noticed yet: it only answers
    sim.run()
    for node_id in ids(4):
        assert sim.nodes[node_id].phase is Phase.AWAITING, node_id
    sim.advance(0.1)
    sim.kill("n004")  # everyone waiting on it starts over at once
    sim.run()
    sim.assert_converged("n003")
    sim.settle()
    sim.assert_converged("n003")


def test_would_be_winner_hangs_silently() -> None:
    # Nobody calls on_member_lost: the coordinator timeout has to end the wait.
    sim = ClusterSim([*by_index(5), ("old", 10**6)])
    sim.found("old")
    sim.kill("old", noticed_by=ids(4))
    sim.run()
    sim.kill("n004", noticed_by=[])
    sim.advance(CONFIG.coordinator_timeout * 0.9)
    assert sim.winners == ["old"]
    sim.settle()
    sim.assert_converged("n003")


def test_winners_die_one_after_another() -> None:
    sim = ClusterSim([*shuffled(12, seed=7), ("old", 10**6)])
    sim.found("old")
    sim.kill("old")
    for _ in range(5):
        sim.settle(seconds=3)
        winner = sim.highest_alive()
        sim.assert_converged(winner)
        sim.kill(winner)
    sim.settle()
    sim.assert_converged(sim.highest_alive())


def test_follower_of_live_tracker_only_answers_an_election() -> None:
    sim = ClusterSim(by_index(4))
    sim.found("n002")  # n003 ranks higher but joined under n002: it stays a follower
    node = sim.nodes["n003"]
    assert node.on_election("n000", now=1.0) == [Send("n000", Answer())]
    assert node.phase is Phase.IDLE and node.deadline is None
    assert node.tracker == "n002"


def test_late_joiner_with_higher_priority_never_deposes_live_tracker() -> None:
    sim = ClusterSim(by_index(4))
    sim.found("n003")
    sim.join("late", priority=10**6)
    sim.run()
    # n001 thinks the tracker is gone (its link dropped), elects among those above it.
    sim.notice("n003", ["n001"])
    sim.nodes["n001"].members.add(sim.everyone["n003"])  # and it reconnected at once
    sim.run()
    sim.settle()
    sim.assert_converged("n003")
    assert sim.follows["late"] == ["n003"]
    assert sim.winners == ["n003"]


def test_late_joiner_wins_once_the_tracker_really_dies() -> None:
    sim = ClusterSim(by_index(4))
    sim.found("n003")
    sim.join("late", priority=10**6)
    sim.settle()
    sim.assert_converged("n003")
    sim.kill("n003")
    sim.settle()
    sim.assert_converged("late")


def test_two_trackers_meet_and_the_higher_stays() -> None:
    # A healed split: {n000, n001} follow n001, {n002, n003, n004} follow n004.
    sim = ClusterSim(by_index(5))
    for node_id in ["n000", "n001"]:
        sim.apply(node_id, sim.nodes[node_id].follow("n001", 1001))
    for node_id in ["n002", "n003", "n004"]:
        sim.apply(node_id, sim.nodes[node_id].follow("n004", 1004))
    # Each tracker's next heartbeat reaches everybody (here, as a claim).
    sim.apply("n001", [Broadcast(Coordinator("n001", 1001))])
    sim.apply("n004", [Broadcast(Coordinator("n004", 1004))])
    sim.settle()
    sim.assert_converged("n004")


def test_lower_tracker_that_claims_is_put_in_its_place() -> None:
    sim = ClusterSim(by_index(3))
    sim.apply("n000", sim.nodes["n000"].follow("n000", 1000))
    for node_id in ["n001", "n002"]:
        sim.apply(node_id, sim.nodes[node_id].follow("n002", 1002))
    sim.apply("n000", [Send("n002", Coordinator("n000", 1000))])
    sim.run()
    sim.assert_converged("n002")


# -- one instance -----------------------------------------------------------------------------


def bully(me: tuple[str, int], *others: tuple[str, int]) -> Bully:
    table = MemberTable()
    for node_id, priority in others:
        table.add(member(node_id, priority))
    return Bully(member(*me), table, CONFIG)


def test_alone_wins_at_once() -> None:
    b = bully(("me", 5))
    assert b.tracker_lost(now=0.0) == [Broadcast(Coordinator("me", 5)), Follow("me")]
    assert b.is_tracker and b.phase is Phase.IDLE and b.deadline is None


def test_highest_wins_at_once() -> None:
    b = bully(("me", 5), ("a", 1), ("b", 5))  # b ties on priority but ranks lower by id
    assert b.tracker_lost(now=0.0) == [Broadcast(Coordinator("me", 5)), Follow("me")]


def test_election_goes_to_every_higher_member() -> None:
    b = bully(("m", 5), ("a", 1), ("z", 5), ("c", 9), ("d", 2))
    actions = b.tracker_lost(now=10.0)
    assert sorted(a.to for a in actions if isinstance(a, Send)) == ["c", "z"]
    assert all(a == Send(a.to, Election()) for a in actions)
    assert b.phase is Phase.ELECTING
    assert b.deadline == 10.0 + CONFIG.answer_timeout


def test_on_timer_before_the_deadline_does_nothing() -> None:
    b = bully(("m", 5), ("h", 9))
    b.tracker_lost(now=0.0)
    deadline = b.deadline
    assert deadline is not None
    for now in (0.0, deadline / 2, deadline - 1e-9):
        assert b.on_timer(now) == []
        assert b.phase is Phase.ELECTING and b.deadline == deadline and b.tracker is None
    assert b.on_timer(deadline) == [Broadcast(Coordinator("m", 5)), Follow("m")]


def test_on_timer_without_a_deadline_does_nothing() -> None:
    b = bully(("m", 5), ("h", 9))
    b.follow("h", 9)
    assert b.on_timer(10**9) == []
    assert b.tracker == "h"


def test_answer_means_wait_for_the_claim_then_start_over() -> None:
    b = bully(("m", 5), ("h", 9))
    b.tracker_lost(now=0.0)
    assert b.on_answer("h", now=0.1) == []
    assert b.phase is Phase.AWAITING
    assert b.deadline == pytest.approx(0.1 + CONFIG.coordinator_timeout)
    assert b.on_timer(now=0.1 + CONFIG.answer_timeout) == []  # no longer the answer timeout
    assert b.on_timer(now=0.1 + CONFIG.coordinator_timeout) == [Send("h", Election())]
    assert b.phase is Phase.ELECTING


def test_higher_members_that_answer_and_never_claim_are_passed_over_till_they_claim() -> None:
    """Attack round 20: a member at --priority 65535 answered every election and never
    claimed, and the room had no tracker for as long as it stayed. The second wait is twice
    the first; when it ends unclaimed too, the answering members are no longer asked."""
    b = bully(("m", 5), ("h", 9), ("g", 7))
    assert b.tracker_lost(now=0.0) == [Send("h", Election()), Send("g", Election())]
    now, waits = 0.0, []
    for _ in range(PASS_OVER_AFTER):
        b.on_answer("h", now)
        assert b.deadline is not None
        waits.append(b.deadline - now)
        now = b.deadline
        actions = b.on_timer(now)
    timeout = CONFIG.coordinator_timeout
    assert waits == pytest.approx([timeout, 2 * timeout])
    assert actions == [Send("g", Election())]  # h, passed over, is not asked
    now += CONFIG.answer_timeout
    assert b.on_timer(now) == [Broadcast(Coordinator("m", 5)), Follow("m")]
    assert b.tracker_lost(now) == [Send("g", Election())]  # the next election, at once
    assert b.on_claim("h", 9, now + 1) == [Follow("h")]  # h claims after all
    assert b.tracker_lost(now + 2) == [Send("h", Election()), Send("g", Election())]
    b.on_answer("h", now + 2)
    assert b.deadline == pytest.approx(now + 2 + timeout)  # followed a claim: afresh


def test_members_that_answer_and_leave_and_come_back_hold_no_election_up() -> None:
    """Attack round 22: keys that answered, one of them leaving and coming back just before
    each wait for a claim ended, began the election afresh each time; the room had no tracker
    for as long as they went on (60 s, 90 s)."""
    b = bully(("m", 5), ("h", 9), ("g", 7))
    g = b.members.get("g")
    assert g is not None
    now = 0.0
    b.tracker_lost(now)
    for _ in range(20):
        for sender in ("h", "g"):
            b.on_answer(sender, now)
        assert b.deadline is not None
        now = b.deadline - 0.01  # g leaves and comes back just before the wait ends
        b.members.remove("g")
        assert b.on_member_lost("g", now) == []  # h, which answered too, is still here
        b.members.add(g)
        now += 0.02
        b.on_timer(now)
        if b.is_tracker:
            break
    assert b.is_tracker and now < 5


def test_answer_when_not_electing_is_ignored() -> None:
    b = bully(("m", 5), ("h", 9))
    b.follow("h", 9)
    assert b.on_answer("h", now=1.0) == []
    assert b.phase is Phase.IDLE and b.deadline is None


def test_claim_from_above_ends_the_wait() -> None:
    b = bully(("m", 5), ("h", 9))
    b.tracker_lost(now=0.0)
    b.on_answer("h", now=0.1)
    assert b.on_claim("h", 9, now=0.2) == [Follow("h")]
    assert b.tracker == "h" and b.phase is Phase.IDLE and b.deadline is None


def test_losing_the_answerer_starts_over() -> None:
    b = bully(("m", 5), ("h", 9), ("g", 7))
    b.tracker_lost(now=0.0)
    b.on_answer("h", now=0.1)
    b.members.remove("h")
    assert b.on_member_lost("h", now=0.2) == [Send("g", Election())]
    assert b.deadline == pytest.approx(0.2 + CONFIG.answer_timeout)


def test_losing_a_plain_member_changes_nothing() -> None:
    b = bully(("m", 5), ("h", 9), ("a", 1))
    b.follow("h", 9)
    b.members.remove("a")
    assert b.on_member_lost("a", now=1.0) == []
    assert b.tracker == "h"


def test_tracker_answers_an_election_with_its_claim() -> None:
    b = bully(("m", 5), ("a", 1))
    b.follow("m", 5)
    assert b.on_election("a", now=0.0) == [Send("a", Answer()), Send("a", Coordinator("m", 5))]
    assert b.is_tracker


def test_node_without_tracker_answers_and_runs_its_own_election() -> None:
    b = bully(("m", 5), ("a", 1), ("h", 9))
    assert b.on_election("a", now=0.0) == [Send("a", Answer()), Send("h", Election())]
    assert b.phase is Phase.ELECTING


def test_node_already_electing_only_answers() -> None:
    b = bully(("m", 5), ("a", 1), ("h", 9))
    b.tracker_lost(now=0.0)
    assert b.on_election("a", now=0.1) == [Send("a", Answer())]
    assert b.deadline == CONFIG.answer_timeout  # not pushed back


def test_tracker_steps_down_for_a_higher_claim() -> None:
    b = bully(("m", 5), ("h", 9))
    b.follow("m", 5)
    assert b.on_claim("h", 9, now=0.0) == [Follow("h")]
    assert not b.is_tracker and b.tracker == "h"


def test_tracker_steps_down_for_a_tie_with_a_higher_id() -> None:
    b = bully(("m", 5), ("n", 5))
    b.follow("m", 5)
    assert b.on_claim("n", 5, now=0.0) == [Follow("n")]


def test_tracker_reasserts_against_a_lower_claim() -> None:
    b = bully(("m", 5), ("a", 1), ("l", 5))
    b.follow("m", 5)
    assert b.on_claim("a", 1, now=0.0) == [Send("a", Coordinator("m", 5))]
    assert b.on_claim("l", 5, now=0.0) == [Send("l", Coordinator("m", 5))]  # tie, lower id
    assert b.is_tracker


def test_follower_switches_only_to_a_higher_claimant() -> None:
    b = bully(("m", 5), ("a", 1), ("h", 9), ("k", 12))
    b.follow("h", 9)
    assert b.on_claim("a", 1, now=0.0) == []
    assert b.tracker == "h"
    assert b.on_claim("h", 9, now=0.0) == []  # the heartbeat of the tracker it follows
    assert b.on_claim("k", 12, now=0.0) == [Follow("k")]
    assert b.tracker == "k"


def test_node_without_tracker_bullies_a_lower_claim() -> None:
    b = bully(("m", 5), ("a", 1))
    assert b.on_claim("a", 1, now=0.0) == [Broadcast(Coordinator("m", 5)), Follow("m")]


def test_follow_the_same_tracker_twice_reports_once() -> None:
    b = bully(("m", 5), ("h", 9))
    assert b.follow("h", 9) == [Follow("h")]
    assert b.follow("h", 9) == []


# -- real timers, virtual time ----------------------------------------------------------------


async def test_election_timeouts_fire_on_the_autojump_clock(autojump_clock: trio.abc.Clock) -> None:
    """A tiny timer loop like the node's: sleep until ``bully.deadline``, then ``on_timer``."""
    b = bully(("m", 5), ("h", 9))
    start = trio.current_time()
    wall = time.monotonic()
    b.tracker_lost(start)
    b.on_answer("h", start)  # h answered, but its claim never comes and it stays silent
    fired: list[tuple[float, list[Action]]] = []
    with trio.fail_after(60):  # virtual seconds: fails only if the loop never ends
        while not b.is_tracker:
            assert b.deadline is not None
            await trio.sleep_until(b.deadline)
            now = trio.current_time()
            fired.append((now - start, b.on_timer(now)))
    assert fired == [
        # the coordinator timeout: ask again
        (pytest.approx(CONFIG.coordinator_timeout), [Send("h", Election())]),
        # the answer timeout: nobody answered this time, so this node wins
        (
            pytest.approx(CONFIG.coordinator_timeout + CONFIG.answer_timeout),
            [Broadcast(Coordinator("m", 5)), Follow("m")],
        ),
    ]
    assert time.monotonic() - wall < CONFIG.coordinator_timeout / 2  # no real waiting


# -- the head start for higher members ----------------------------------------------------------


def test_staggered_loss_defers_the_election_by_rank() -> None:
    members = MemberTable()
    for name, priority in (("a", 1), ("b", 9), ("c", 8)):
        members.add(Member(name, name, "h", priority, priority))
    me = Member("m", "m", "h", 5, 5)
    bully = Bully(me, members, STAGGERED)
    bully.follow("x", 100)
    assert bully.tracker_lost(now=10.0) == []  # two members rank higher: wait 2 x 2 ms
    assert bully.deadline == pytest.approx(10.004)
    assert bully.on_timer(10.003) == []
    sent = bully.on_timer(10.004)
    assert sorted(a.to for a in sent if isinstance(a, Send)) == ["b", "c"]


def test_staggered_node_accepts_a_higher_claim_during_its_head_start_wait() -> None:
    members = MemberTable()
    members.add(Member("b", "b", "h", 9, 9))
    bully = Bully(Member("m", "m", "h", 5, 5), members, STAGGERED)
    bully.follow("x", 100)
    bully.tracker_lost(now=0.0)
    assert bully.on_claim("b", 9, now=0.001) == [Follow("b")]
    assert bully.on_timer(1.0) == []  # the deferred election never starts
    assert bully.tracker == "b"


def test_staggered_top_member_claims_at_once() -> None:
    members = MemberTable()
    members.add(Member("a", "a", "h", 1, 1))
    bully = Bully(Member("m", "m", "h", 5, 5), members, STAGGERED)
    bully.follow("x", 100)
    actions = bully.tracker_lost(now=0.0)
    assert actions[-1] == Follow("m")


async def test_a_new_tracker_gives_each_member_the_probe_timeout_not_a_whole_new_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A member silent since a partition began was let go a second heartbeat timeout after it
    (8.4 s, found in the namespace tests): the new tracker had reset every link's clock."""
    config = Config()
    await trio.sleep(100.0)
    now = trio.current_time()
    silent = types.SimpleNamespace(last_heard=now - config.heartbeat_timeout)  # since the cut
    chatty = types.SimpleNamespace(last_heard=now - 0.1)
    node = types.SimpleNamespace(
        node_id="me",
        config=config,
        links=types.SimpleNamespace(conns={"a": silent, "b": chatty}),
        hold_home=lambda: None,
        reporting=False,
    )
    Leadership(node)._follow("me", announce=False)  # type: ignore[arg-type]
    assert silent.last_heard == now - config.heartbeat_timeout + config.probe_timeout
    assert chatty.last_heard == now - 0.1  # heard lately: its own time stands


@pytest.mark.parametrize("on_word", [True, False])
async def test_a_probe_on_the_trackers_word_waits_out_a_pause_shorter_than_the_timeout(
    autojump_clock: trio.abc.Clock, on_word: bool
) -> None:
    """Attack round 50: a hostile tracker that said four times a second that a member had
    left had the others cut their links to it at each pause of 1.2 s; the heartbeat timeout
    lets such a pause be."""
    config = Config()
    links = Links.__new__(Links)
    links.node = types.SimpleNamespace(config=config)  # type: ignore[assignment]
    await trio.sleep(100.0)
    cut: list[str] = []
    conn = types.SimpleNamespace(probed=trio.current_time(), heard=trio.current_time() - 1.0)
    conn.abort = cut.append
    async with trio.open_nursery() as nursery:
        nursery.start_soon(links._await_answer, conn, on_word)
        await trio.sleep(config.probe_timeout + 0.5)  # still paused past the probe's second
        conn.heard = trio.current_time()  # then heard from again
    assert cut == ([] if on_word else [f"no answer within {config.probe_timeout:g} s"])
    conn.probed, conn.heard = trio.current_time(), trio.current_time() - 10.0  # hung: cut
    await links._await_answer(conn, True)
    assert cut[-1] == f"no answer within {config.heartbeat_timeout:g} s"
