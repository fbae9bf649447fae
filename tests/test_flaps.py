"""Which of a member's drops and returns a screen tells (``peerchat.flaps``)."""

from __future__ import annotations

from peerchat.flaps import FLAPPING_FOR, MEMBERS_KEPT, Flaps, Told


def test_the_third_drop_in_a_minute_is_the_last_told_while_they_go_on() -> None:
    flaps = Flaps()
    assert [flaps.dropped("bob", t) for t in (0.0, 1.0, 2.0)] == [Told.SAID, Told.SAID, Told.LAST]
    assert flaps.unsaid("bob", 2.5) and not flaps.unsaid("carol", 2.5)
    for t in range(3, 300, 20):  # each drop meanwhile keeps it unsaid
        assert flaps.dropped("bob", float(t)) is Told.UNSAID
    assert flaps.unsaid("bob", 283 + FLAPPING_FOR - 1)
    assert not flaps.unsaid("bob", 283 + FLAPPING_FOR)  # a minute without a drop


def test_drops_further_apart_than_a_minute_are_all_told() -> None:
    flaps = Flaps()
    told = [flaps.dropped("bob", t * FLAPPING_FOR / 2) for t in range(10)]
    assert set(told) == {Told.SAID}


def test_members_remembered_are_bounded_the_oldest_forgotten() -> None:
    flaps = Flaps()
    for n in range(MEMBERS_KEPT + 10):
        flaps.dropped(n, 0.0)
        flaps.dropped(n, 0.1)
    assert flaps.dropped(0, 0.2) is Told.SAID  # forgotten: counted anew
    assert flaps.dropped(MEMBERS_KEPT + 9, 0.2) is Told.LAST
