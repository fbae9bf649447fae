"""peerchat.admission: caps on connections in all, for non-members and per address."""

from __future__ import annotations

from peerchat.admission import Admission, Limits, Pace, Paces, RefusalLog, Slot


def admission(connections: int = 10, pending: int = 4, per_address: int = 2) -> Admission:
    return Admission(Limits(connections, pending, per_address))


def test_non_members_are_capped_per_address_then_in_all() -> None:
    gate = admission()
    slots = [gate.enter("10.0.0.1"), gate.enter("10.0.0.1")]
    assert all(isinstance(s, Slot) for s in slots)
    refused = gate.enter("10.0.0.1")
    assert isinstance(refused, str) and "10.0.0.1" in refused
    slots += [gate.enter("10.0.0.2"), gate.enter("10.0.0.3")]
    refused = gate.enter("10.0.0.4")
    assert isinstance(refused, str) and "non-members" in refused
    assert (gate.open, gate.pending) == (4, 4)


def test_a_member_frees_its_pending_place_but_still_counts_in_all() -> None:
    gate = admission(connections=3, pending=2, per_address=2)
    first = gate.enter("10.0.0.1")
    assert isinstance(first, Slot)
    first.member()
    assert (gate.open, gate.pending) == (1, 0)
    assert isinstance(gate.enter("10.0.0.1"), Slot)
    assert isinstance(gate.enter("10.0.0.1"), Slot)
    refused = gate.enter("10.0.0.9")
    assert isinstance(refused, str) and "connections open" in refused


def test_dialled_connections_count_but_are_never_refused() -> None:
    gate = admission(connections=1)
    slots = [gate.dialled(), gate.dialled()]
    assert gate.open == 2 and not any(s.pending for s in slots)
    assert isinstance(gate.enter("10.0.0.1"), str)


def test_leaving_twice_gives_the_place_back_once() -> None:
    gate = admission()
    slot = gate.enter("10.0.0.1")
    assert isinstance(slot, Slot)
    slot.leave()
    slot.leave()
    slot.member()
    assert (gate.open, gate.pending) == (0, 0)
    assert isinstance(gate.enter("10.0.0.1"), Slot)


def test_refusals_are_logged_once_per_interval_with_the_count_left_out() -> None:
    log = RefusalLog(interval=1.0)
    assert log.note(10.0) == 0
    assert [log.note(10.0 + i / 10) for i in range(1, 10)] == [None] * 9
    assert log.note(11.0) == 9
    assert log.note(11.5) is None
    assert log.note(12.5) == 1


def test_a_burst_of_refusals_is_logged_whole_then_one_per_interval() -> None:
    log = RefusalLog(interval=1.0, burst=3)
    assert [log.note(5.0) for _ in range(5)] == [0, 0, 0, None, None]
    assert log.note(6.0) == 2  # one line's worth came back after a second
    assert log.note(6.1) is None
    assert [log.note(100.0) for _ in range(4)] == [1, 0, 0, None]  # never more than the burst


def test_paces_are_kept_by_key_for_so_many_keys_the_longest_unused_forgotten() -> None:
    paces = Paces(interval=10.0, burst=1, most=2)
    assert paces.allows("a", 0.0) and not paces.allows("a", 1.0)
    assert paces.allows("b", 1.0)  # each key its own
    assert not paces.allows("b", 2.0)
    assert paces.allows("c", 2.0)  # a third: "a", the longest unused, goes
    assert paces.allows("a", 3.0)  # forgotten, so afresh
    assert not paces.allows("c", 3.0)


def test_a_debt_is_the_wait_until_the_pace_allows_again() -> None:
    pace = Pace(interval=0.5, burst=2)  # two at once, then one every half second
    assert pace.owe(0.0, 2) == 0.0
    assert pace.owe(0.0, 1) == 0.5  # one past: paid off half a second later
    assert pace.owe(0.0, 2) == 1.5
    assert pace.owe(1.5, 0) == 0.0  # paid off
    assert not pace.allows(1.5)  # nothing saved up meanwhile


def test_links_to_members_are_counted_by_their_address_however_written() -> None:
    a = admission(connections=10, pending=4, per_address=4)
    accepted = a.enter("10.0.0.9")
    assert isinstance(accepted, Slot) and a.members_at("10.0.0.9") == 0  # not yet a member
    accepted.member()
    dialled = a.dialled("::ffff:10.0.0.9")
    assert a.members_at("10.0.0.9") == 2 and a.members_at("10.0.0.8") == 0
    refused = a.enter("10.0.0.9")
    assert isinstance(refused, Slot)
    refused.leave()  # never a member: never counted
    accepted.leave()
    dialled.leave()
    dialled.leave()
    assert a.members_at("10.0.0.9") == 0 and a.open == 0
