"""peerchat.history_run: history read over several links, shown in the order it was said."""

from __future__ import annotations

from peerchat.events import MessageReceived
from peerchat.history_run import HistoryRun
from peerchat.membership import Member

ALICE = Member("a1", "alice", "127.0.0.1", 4000, 4000)
CAROL = Member("c3", "carol", "127.0.0.1", 4002, 4002)


def said(sender: Member, seq: int, lamport: int, at: float) -> MessageReceived:
    return MessageReceived(sender, seq, lamport, f"{sender.username} {seq}", at, 0.0, 0.0, False)


def test_a_run_comes_out_in_the_order_it_was_said_each_author_in_its_own():
    run = HistoryRun()
    # Read link by link: carol's two, then alice's two, though they took turns.
    read = [said(CAROL, 1, 2, 10.1), said(CAROL, 2, 4, 10.3), said(ALICE, 1, 1, 10.0)]
    read.append(said(ALICE, 2, 3, 10.2))
    assert not run
    firsts = [run.add(event) for event in read]
    assert run
    assert firsts == [True, False, False, False]  # only the first sets the timer
    texts = [e.text for e in run.take()]
    assert texts == ["alice 1", "carol 1", "alice 2", "carol 2"]
    assert run.take() == []
    assert run.add(said(ALICE, 3, 5, 10.4))  # a new run begins


def test_each_run_taken_has_a_number_of_its_own():
    """A timer set for a run shown early (by another event) must not cut the next one short."""
    run = HistoryRun()
    run.add(said(ALICE, 1, 1, 1.0))
    first = run.number
    run.take()
    run.add(said(ALICE, 2, 2, 2.0))
    assert run.number != first


def test_concurrent_lines_fall_back_to_the_senders_clocks():
    run = HistoryRun()
    late, early = said(CAROL, 1, 7, 20.5), said(ALICE, 1, 7, 20.0)
    run.add(late)
    run.add(early)
    assert [e.sender for e in run.take()] == [ALICE, CAROL]


def test_two_sides_of_a_partition_are_merged_by_the_clock_not_by_lamport_time():
    """Apart, each side's Lamport times ran on their own: alice said five lines in a second,
    carol one after ten seconds with a lower Lamport time. By Lamport time carol's line would
    come between alice's, ten seconds ahead of them (a user found the times jumping back)."""
    run = HistoryRun()
    for n in range(1, 6):
        run.add(said(ALICE, n, 10 + n, 100.0 + n / 10))
    run.add(said(CAROL, 1, 12, 110.0))
    assert [e.text for e in run.take()] == [*(f"alice {n}" for n in range(1, 6)), "carol 1"]


def test_an_author_whose_clock_goes_back_keeps_its_own_order():
    run = HistoryRun()
    for event in (said(CAROL, 1, 1, 50.0), said(CAROL, 2, 2, 10.0), said(ALICE, 1, 3, 30.0)):
        run.add(event)
    assert [e.text for e in run.take()] == ["alice 1", "carol 1", "carol 2"]
