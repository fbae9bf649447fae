"""peerchat.receipts: which private messages reached their member, and copies sent again."""

from __future__ import annotations

from peerchat.protocol import Private
from peerchat.receipts import Receipts


def private(n: int, time: float = 1.0) -> Private:
    return Private(f"message {n}", time, 0.0, n)


def test_acknowledged_messages_are_not_sent_again() -> None:
    receipts = Receipts()
    receipts.sent("bob", private(1))
    receipts.sent("bob", private(2))
    assert receipts.acked("bob", 1) == 0  # not sent again: nothing to report
    assert receipts.lost("bob") == [private(2)]
    assert receipts.resend("bob") == [private(2)]


def test_once_all_that_went_again_is_acknowledged_it_says_how_many_once() -> None:
    receipts = Receipts()
    for n in (1, 2):
        receipts.sent("bob", private(n))
    receipts.lost("bob")
    assert receipts.resend("bob") == [private(1), private(2)]
    assert receipts.acked("bob", 1) == 0
    assert receipts.acked("bob", 2) == 2
    assert receipts.acked("bob", 2) == 0
    assert receipts.resend("bob") == []


def test_a_link_replaced_but_never_said_lost_sends_again_and_says_nothing() -> None:
    """A review: a crossing dial replaced the link, everything was sent again, and "now has
    your private message" followed, though bob was never away. Trial 67: a link replaced
    unreported (a rejoin after a freeze) had taken a message with it, and it never went."""
    receipts = Receipts()
    receipts.sent("bob", private(1))
    assert receipts.resend("bob") == [private(1)]
    assert receipts.acked("bob", 1) == 0  # nothing to say: nothing was said lost


def test_each_message_is_said_lost_once_however_often_the_member_comes_and_goes() -> None:
    """An attacker's run: a member that never acknowledged came and went 40 times, and each
    time every message was reported again."""
    receipts = Receipts()
    receipts.sent("bob", private(1))
    assert receipts.lost("bob") == [private(1)]
    assert receipts.resend("bob") == [private(1)]
    assert receipts.lost("bob") == []
    receipts.sent("bob", private(2))
    assert receipts.lost("bob") == [private(2)]


def test_giving_up_says_how_many_never_came() -> None:
    receipts = Receipts()
    receipts.sent("bob", private(1))
    assert receipts.give_up("bob") == 1
    assert receipts.give_up("bob") == 0
    assert receipts.unacked("bob") == []


def test_a_copy_is_known_by_number_and_time_not_number_alone() -> None:
    receipts = Receipts()
    assert not receipts.seen_before("alice", private(1))
    assert receipts.seen_before("alice", private(1))
    assert not receipts.seen_before("alice", private(1, time=2.0))  # alice restarted: numbers anew
    assert not receipts.seen_before("carol", private(1))


def test_bounded_per_member_and_in_members() -> None:
    receipts = Receipts(per_member=2, members=2)
    for n in (1, 2, 3):
        receipts.sent("bob", private(n))
    assert receipts.unacked("bob") == [private(2), private(3)]
    receipts.sent("carol", private(1))
    receipts.sent("dave", private(1))
    assert receipts.unacked("bob") == []  # the member followed longest ago
    for n in (1, 2, 3):
        receipts.seen_before("alice", private(n))
    assert not receipts.seen_before("alice", private(1))  # forgotten: shown again, at worst
