"""The store's prune schedule: hourly, early past the bounds, never again at once in vain."""

from __future__ import annotations

from peerchat.batch import MAX_ITEMS
from peerchat.retention import Retention

KEEP, KEEP_BYTES, HOUR = 10_000, 1_000_000, 3600.0


def test_the_first_prune_is_at_once_then_hourly() -> None:
    kept = Retention(KEEP, KEEP_BYTES, HOUR)
    assert kept.due(0.0, 0, 0)
    kept.pruned(0.0, KEEP, KEEP_BYTES)
    assert not kept.due(HOUR - 1, KEEP, KEEP_BYTES)
    assert kept.due(HOUR, 0, 0)


def test_a_store_past_its_bounds_by_a_tenth_is_pruned_before_its_time() -> None:
    kept = Retention(KEEP, KEEP_BYTES, HOUR)
    kept.pruned(0.0, KEEP, KEEP_BYTES)
    assert not kept.due(1.0, KEEP + KEEP // 10, KEEP_BYTES + KEEP_BYTES // 10)
    assert kept.due(1.0, KEEP + KEEP // 10 + 1, 0)
    assert kept.due(1.0, 0, KEEP_BYTES + KEEP_BYTES // 10 + 1)
    small = Retention(100, KEEP_BYTES, HOUR)  # a whole batch past the count at least
    small.pruned(0.0, 100, 0)
    assert not small.due(1.0, 100 + MAX_ITEMS, 0) and small.due(1.0, 101 + MAX_ITEMS, 0)


def test_a_prune_that_left_the_store_past_its_bounds_waits_for_it_to_grow_again() -> None:
    """Attack round 51: a store its authors' spared batches held past the bounds was pruned
    every half second, each prune in vain, the node's loop stalled up to 1.7 s each time."""
    kept = Retention(KEEP, KEEP_BYTES, HOUR)
    stuck = (KEEP * 2, KEEP_BYTES * 2)
    kept.pruned(0.0, *stuck)
    assert not kept.due(0.5, *stuck)
    assert not kept.due(0.5, stuck[0] + KEEP // 10, stuck[1] + KEEP_BYTES // 10)
    assert kept.due(0.5, stuck[0], stuck[1] + KEEP_BYTES // 10 + 1)
    assert kept.due(HOUR, *stuck)  # and hourly in any case
    kept.pruned(HOUR, KEEP, KEEP_BYTES)  # back within: early again past a tenth
    assert kept.due(HOUR + 1, KEEP + KEEP // 10 + 1, 0)
