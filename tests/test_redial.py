"""peerchat.redial: when to dial a member lost without a goodbye, and when to give it up."""

from __future__ import annotations

import pytest

from peerchat.membership import Member
from peerchat.redial import Redial


def member(node_id: str) -> Member:
    return Member(node_id, f"user-{node_id}", "10.0.0.1", 7000, 1)


def redial() -> Redial:
    return Redial(first=0.5, cap=4.0, give_up_after=30.0)


def ids(members: list[Member]) -> list[str]:
    return [m.node_id for m in members]


def test_first_dial_is_due_after_first() -> None:
    r = redial()
    r.lost(member("a"), now=10.0)
    assert r.next_due() == 10.5
    assert r.due(10.4) == []
    assert r.due(10.5) == [member("a")]


def test_a_member_being_dialled_is_not_due_again_until_failed() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    assert ids(r.due(1.0)) == ["a"]
    assert r.due(1.0) == []
    assert r.due(100.0) == []
    assert r.next_due() is None  # nothing waiting while the dial is out
    assert "a" in r


def test_failed_doubles_the_delay_up_to_the_cap() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    now = 0.5
    delays = []
    for _ in range(6):
        assert ids(r.due(now)) == ["a"]
        r.failed("a", now)
        due = r.next_due()
        assert due is not None
        delays.append(due - now)
        assert r.due(due - 0.01) == []
        now = due
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_lost_again_keeps_the_first_loss() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    r.lost(member("a"), now=20.0)
    assert r.next_due() == 0.5
    assert len(r) == 1
    assert ids(r.expired(30.0)) == ["a"]  # counted from the first loss, not the second


def test_found_stops_dialling_and_returns_the_member() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    assert r.found("a", 1.0) == member("a")
    assert "a" not in r
    assert r.due(100.0) == []
    assert r.next_due() is None
    assert r.found("a", 1.0) is None


def test_found_for_a_member_never_lost_is_none() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    assert r.found("b", 1.0) is None
    assert ids(list(r)) == ["a"]


def test_found_while_dialling_then_failed_does_not_bring_it_back() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    assert ids(r.due(1.0)) == ["a"]
    r.found("a", 1.0)
    r.failed("a", 2.0)
    assert "a" not in r
    assert r.due(100.0) == []


def test_expired_after_give_up_after_once() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    r.lost(member("b"), now=10.0)
    assert r.expired(29.9) == []
    assert ids(r.expired(30.0)) == ["a"]
    assert r.expired(31.0) == []
    assert ids(list(r)) == ["b"]
    assert ids(r.expired(40.0)) == ["b"]
    assert len(r) == 0
    assert r.expired(1000.0) == []


def test_expired_includes_a_member_being_dialled() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    assert ids(r.due(0.5)) == ["a"]
    assert ids(r.expired(30.0)) == ["a"]
    r.failed("a", 31.0)  # the dial that was out fails later: nothing to bring back
    assert "a" not in r
    assert r.next_due() is None


def test_next_due_is_the_earliest_waiting() -> None:
    r = redial()
    assert r.next_due() is None
    r.lost(member("a"), now=5.0)
    r.lost(member("b"), now=2.0)
    assert r.next_due() == 2.5
    assert ids(r.due(2.5)) == ["b"]
    assert r.next_due() == 5.5  # b is being dialled, a still waits
    r.failed("b", 3.0)
    assert r.next_due() == 4.0


def test_due_returns_every_member_due() -> None:
    r = redial()
    for i, name in enumerate("abc"):
        r.lost(member(name), now=float(i))
    assert sorted(ids(r.due(1.5))) == ["a", "b"]
    assert ids(r.due(2.5)) == ["c"]


def test_clear_returns_all_and_forgets_them() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    r.lost(member("b"), now=0.0)
    r.due(1.0)
    assert sorted(ids(r.clear())) == ["a", "b"]
    assert len(r) == 0
    assert r.next_due() is None
    assert r.clear() == []


def test_contains_iter_and_len() -> None:
    r = redial()
    r.lost(member("a"), now=0.0)
    r.lost(member("b"), now=1.0)
    assert "a" in r and "b" in r and "c" not in r
    assert list(r) == [member("a"), member("b")]
    assert len(r) == 2


def test_a_member_whose_port_is_closed_backs_off_to_the_longer_cap() -> None:
    r = Redial(first=0.5, cap=4.0, give_up_after=600.0, gone_cap=32.0)
    r.lost(member("a"), now=0.0)
    now, delays = 0.0, []
    for _ in range(8):
        now = r.next_due()
        assert ids(r.due(now)) == ["a"]
        r.failed("a", now, gone=True)
        delays.append(r.next_due() - now)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0]
    r.failed("a", now)  # no answer at all (a partition): back under the short cap at once
    assert r.next_due() - now == 4.0


def test_a_new_process_at_a_lost_members_address_ends_the_redialling_of_the_old_one() -> None:
    r = redial()
    r.lost(member("old"), now=0.0)
    r.lost(Member("other", "o", "10.0.0.2", 7000, 1), now=0.0)
    # Only where this node reached the new one: a hello may name any address (attack round 15:
    # a member naming alice's had every node give her up during a blip).
    assert r.replaced_by(member("new"), str.lower) == []
    assert ids(r.replaced_by(member("new"), str.lower, "10.0.0.1:7000")) == ["old"]
    assert "old" not in r and "other" in r
    assert r.replaced_by(member("new"), str.lower, "10.0.0.1:7000") == []


def test_a_new_key_under_the_name_of_a_lost_member_whose_host_is_empty_ends_its_redialling() -> (
    None
):
    """A user trial: zed, killed, came back with a new key (at another port) and left; the old
    zed stayed "away, being reconnected" and every line waited for it."""
    r = redial()
    gone, away = Member("zed1", "Zed", "10.0.0.5", 7001, 1), Member("bob1", "bob", "10.0.0.6", 1, 1)
    for m in (gone, away):
        r.lost(m, now=0.0)
        assert ids(r.due(1.0)) == [m.node_id]
    r.failed("zed1", 0.0, gone=True)  # nothing listens at its port: that process is gone
    r.failed("bob1", 0.0)  # no answer: away, as far as anyone knows
    assert ids(r.replaced_by(Member("zed2", "zed", "10.0.0.5", 7002, 1), str.lower)) == ["zed1"]
    assert r.replaced_by(Member("bob2", "bob", "10.0.0.7", 7003, 1), str.lower) == []


def test_past_max_lost_a_member_whose_host_says_nothing_listens_is_let_go() -> None:
    """A tracker's roster of made-up members at closed ports cannot make the list grow without
    end (an attacker's run reached 100,000 dials); a member lost across a partition, whose
    dials time out instead, outlasts them."""
    r = Redial(first=0.5, cap=4.0, give_up_after=600.0, gone_cap=32.0, max_lost=3)
    assert r.lost(member("real"), now=0.0) is None
    for fake in ("f1", "f2"):
        assert r.lost(member(fake), now=0.0) is None
    for now in (1.0, 2.0, 3.0):
        for m in r.due(now + 10):
            r.failed(m.node_id, now + 10, gone=m.node_id != "real")
    assert ids(list(r)) == ["real", "f1", "f2"]
    assert r.lost(member("f3"), now=20.0) == member("f1")  # nothing listens there; the oldest
    assert r.lost(member("f4"), now=20.0) == member("f2")
    assert len(r) == 3 and "real" in r
    assert r.lost(member("f4"), now=21.0) is None  # already dialled: nobody let go


def test_past_max_lost_a_member_known_only_by_word_goes_before_one_this_node_lost() -> None:
    """A second attacker's run: made-up members whose dials time out (not refused) pushed out
    a real member lost across a partition. Those never linked go first."""
    r = Redial(first=0.5, cap=4.0, give_up_after=600.0, max_lost=2)
    r.lost(member("real"), now=0.0)  # linked once: lost
    assert r.lost(member("word1"), now=1.0, linked=False) is None
    assert r.lost(member("word2"), now=2.0, linked=False) == member("word1")
    assert set(ids(list(r))) == {"real", "word2"}
    assert r.lost(member("real2"), now=3.0) == member("word2")
    assert r.lost(member("word3"), now=4.0, linked=False) == member("word3")  # not added
    assert set(ids(list(r))) == {"real", "real2"}


def test_a_member_lost_again_soon_after_it_was_found_is_dialled_later_each_time() -> None:
    """Attack round 15: a key that dropped every link it got was dialled again 0.1 s later,
    for ever (two lines of join and leave a second on every screen)."""
    r = redial()
    now, delays = 0.0, []
    for _ in range(5):
        r.lost(member("a"), now=now)
        due = r.next_due()
        assert due is not None
        delays.append(due - now)
        assert ids(r.due(due)) == ["a"]
        r.found("a", due)
        now = due + 0.3  # it drops the link at once
    assert delays == pytest.approx([0.5, 1.0, 2.0, 4.0, 4.0])
    r.lost(member("a"), now=now + 10.0)  # a loss long after: a blip, dialled soon again
    assert r.next_due() == pytest.approx(now + 10.5)


def test_only_a_few_members_never_reached_are_kept_on_the_schedule() -> None:
    """Attack round 18: a welcome of 9,999 made-up members had a newcomer dial 1,024 of them
    for 30 minutes. Past ``max_unreached`` never reached, one more is not kept; one lost is."""
    r = Redial(first=0.5, cap=4.0, give_up_after=600.0, max_unreached=2)
    assert r.lost(member("w1"), now=0.0, linked=False) is None
    assert r.lost(member("w2"), now=0.0, linked=False) is None
    assert r.lost(member("w3"), now=0.0, linked=False) == member("w3")  # not added
    assert r.lost(member("real"), now=0.0) is None  # linked once: kept
    assert set(ids(list(r))) == {"w1", "w2", "real"}
    r.found("w1", now=1.0)
    assert r.lost(member("w3"), now=1.0, linked=False) is None  # room again


@pytest.mark.parametrize(("linked", "cap"), [(False, 32.0), (True, 4.0)])
def test_a_member_never_reached_backs_off_to_the_longer_cap(linked: bool, cap: float) -> None:
    """Attack round 29: a tracker's welcome naming 64 made-up members at another host's port
    had a newcomer dial it 32 times a second for 30 minutes. Known only by another's word, it
    is dialled as rarely as a member whose port is closed; one lost, as often as ever."""
    r = Redial(first=0.5, cap=4.0, give_up_after=600.0, gone_cap=32.0)
    r.lost(member("a"), now=0.0, linked=linked)
    now, delays = 0.0, []
    for _ in range(8):
        now = r.next_due()
        assert ids(r.due(now)) == ["a"]
        r.failed("a", now)  # no answer, or not PeerChat (its port is open)
        delays.append(r.next_due() - now)
    assert max(delays) == cap
    assert delays[:3] == [1.0, 2.0, 4.0]  # a few tries at the short cap's pace first


def test_a_member_gone_long_enough_is_told_once_and_when() -> None:
    """Trial 67: a member taken to have quit left the away list unsaid."""
    r = redial()
    r.lost(member("a"), now=0.0)
    r.lost(member("b"), now=0.0, linked=False)  # never reached: never in the room with us
    assert r.next_gone(15.0) is None
    for m in ("a", "b"):
        r.due(1.0)
        r.failed(m, 1.0, gone=True)
    assert r.next_gone(15.0) == 16.0
    assert r.gone_for(15.9, 15.0) == []
    assert ids(r.gone_for(16.0, 15.0)) == ["a"]
    assert r.gone_for(17.0, 15.0) == [] and r.next_gone(15.0) is None
    assert "a" in r  # dialled on, in case it comes back
