"""peerchat.store: duplicates, holdings and high-water marks, history order, retention, WAL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerchat.protocol import Chat
from peerchat.store import FILE, MAX_AGE_S, MAX_COUNT, MEMORY, Record, Store

NOW = 1_800_000_000.0
DAY = 24 * 3600.0


def rec(author: str, seq: int, lamport: int | None = None, time: float = NOW) -> Record:
    return Record(author, seq, seq if lamport is None else lamport, time, f"{author}{seq}", b"")


def keys(records: list[Record]) -> list[tuple[str, int]]:
    return [(r.author, r.seq) for r in records]


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path if request.param == "file" else MEMORY) as s:
        yield s


def test_duplicates_are_ignored_and_only_new_ones_returned(store: Store) -> None:
    assert keys(store.add_many([rec("a", 1), rec("a", 2), rec("a", 2)], NOW)) == [
        ("a", 1),
        ("a", 2),
    ]
    assert keys(store.add_many([rec("a", 2), rec("b", 1), rec("a", 3)], NOW)) == [
        ("b", 1),
        ("a", 3),
    ]
    assert store.add_many([rec("a", 1), rec("b", 1)], NOW) == []
    assert len(store) == 4


def test_a_record_round_trips(store: Store) -> None:
    r = Record("alice", 7, 42, 1234.5, "héllo ✓", b"\x00sig\xff")
    store.add_many([r], NOW)
    assert store.get_range("alice", 0, 10) == [r]
    assert Record.of(Chat("alice", 7, 42, "héllo ✓", 1234.5, 9.0), b"\x00sig\xff") == r


def test_high_water_stops_at_the_first_gap(store: Store) -> None:
    store.add_many([rec("a", n) for n in (1, 2, 3, 5, 6, 9)] + [rec("b", 4), rec("b", 5)], NOW)
    assert store.high_water() == {"a": 3, "b": 5}  # b's run starts at its first kept, 4
    assert store.have("a") == ((1, 3), (5, 6), (9, 9))
    store.add_many([rec("a", 4)], NOW)
    assert store.high_water()["a"] == 6
    assert store.have("a") == ((1, 6), (9, 9))
    assert store.have("nobody") == ()


def test_get_range_reads_in_order_within_bounds(store: Store) -> None:
    store.add_many([rec("a", n) for n in (5, 1, 3, 2, 8, 4)] + [rec("b", 3)], NOW)
    assert [r.seq for r in store.get_range("a", 1, 3)] == [2, 3, 4]
    assert [r.seq for r in store.get_range("a", 3, 10, upto=5)] == [4, 5]
    assert [r.seq for r in store.get_range("a", 5, 10)] == [8]
    assert store.get_range("a", 8, 10) == []


def test_recent_is_the_last_n_in_room_order_oldest_first(store: Store) -> None:
    # Lamport time first, then author, then seq: the same order on every member.
    store.add_many([rec("b", 1, 5), rec("a", 1, 5), rec("a", 2, 9), rec("c", 1, 2)], NOW)
    store.add_many([rec("b", 2, 7)], NOW)
    assert keys(store.recent(10)) == [("c", 1), ("a", 1), ("b", 1), ("b", 2), ("a", 2)]
    assert keys(store.recent(2)) == [("b", 2), ("a", 2)]
    assert store.recent(0) == []


def test_prune_by_count_keeps_the_newest_and_raises_the_floor(store: Store) -> None:
    store.add_many([rec("a", n, lamport=2 * n) for n in range(1, 11)], NOW)
    store.add_many([rec("b", n, lamport=2 * n + 1) for n in range(1, 11)], NOW)
    assert store.prune(NOW, max_count=5) == 15
    assert keys(store.recent(100)) == [("b", 8), ("a", 9), ("b", 9), ("a", 10), ("b", 10)]
    assert (store.floor("a"), store.floor("b")) == (8, 7)
    # After pruning, the high-water mark counts from the first kept, and the floor says why.
    assert store.high_water() == {"a": 10, "b": 10}
    assert store.holdings()["a"].floor == 8
    assert store.holdings()["a"].ranges == ((9, 10),)


def test_a_pruned_message_is_not_taken_again(store: Store) -> None:
    store.add_many([rec("a", n) for n in range(1, 6)], NOW)
    store.prune(NOW, max_count=2)
    assert store.add_many([rec("a", 2), rec("a", 3), rec("a", 6)], NOW) == [rec("a", 6)]
    assert store.have("a") == ((4, 6),)


def test_prune_is_a_prefix_of_each_author(store: Store) -> None:
    # A lamport time out of step with seq (a clock bug, a hostile author) still prunes a
    # prefix: nothing is left below the floor, so the holding stays one run.
    store.add_many([rec("a", 1, lamport=50), rec("a", 2, lamport=1), rec("a", 3, lamport=60)], NOW)
    store.add_many([rec("b", n, lamport=10 + n) for n in range(1, 4)], NOW)
    store.prune(NOW, max_count=5)  # the oldest by room order is a2
    assert store.floor("a") == 2
    assert store.have("a") == ((3, 3),)
    assert store.have("b") == ((1, 3),)


def test_prune_by_age_counts_from_sending_or_arrival_whichever_is_earlier(
    store: Store,
) -> None:
    store.add_many([rec("old", 1, time=NOW - 40 * DAY), rec("old", 2, time=NOW - 2 * DAY)], NOW)
    store.add_many([rec("ahead", 1, time=NOW + 365 * DAY)], NOW - 31 * DAY)  # clock set ahead
    store.add_many([rec("new", 1, time=NOW - DAY)], NOW)
    assert store.prune(NOW, max_age_s=30 * DAY) == 2
    assert store.holdings().keys() == {"old", "ahead", "new"}
    assert store.high_water() == {"old": 2, "new": 1}
    assert (store.floor("old"), store.floor("ahead")) == (1, 1)


def test_floors_of_authors_gone_for_good_are_forgotten_after_the_age_bound(store: Store) -> None:
    store.add_many([rec("gone", 1), rec("here", 1)], NOW)
    store.prune(NOW, max_count=1)
    assert store.floor("gone") == 1
    store.prune(NOW + MAX_AGE_S / 2)
    assert store.floor("gone") == 1
    store.prune(NOW + MAX_AGE_S * 1.01, max_count=10)
    assert store.floor("gone") == 0
    assert "gone" not in store.holdings()


def test_prune_within_bounds_removes_nothing(store: Store) -> None:
    store.add_many([rec("a", n) for n in range(1, 4)], NOW)
    assert store.prune(NOW) == 0
    assert store.prune(NOW, max_count=3, max_age_s=1.0) == 0
    assert len(store) == 3
    assert MAX_COUNT == 100_000 and MAX_AGE_S == 30 * DAY


def test_a_file_store_is_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_many([rec("a", 1)], NOW)
        assert store.journal_mode == "wal"
    db = sqlite3.connect(tmp_path / FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # it stays on the file
    db.close()


def test_reopening_keeps_messages_holdings_and_floors(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_many([rec("a", n) for n in (1, 2, 3, 5, 7, 8)] + [rec("b", 1)], NOW)
        store.prune(NOW, max_count=5)
        before = (store.holdings(), store.high_water(), store.recent(10))
    with Store(tmp_path) as store:
        assert (store.holdings(), store.high_water(), store.recent(10)) == before
        assert (store.floor("a"), store.floor("b")) == (1, 1)  # a1 and b1 were the oldest
        assert store.add_many([rec("a", 1), rec("a", 3), rec("a", 4)], NOW) == [rec("a", 4)]


def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_many([rec("a", 1)], NOW)
        with pytest.raises(sqlite3.Error):
            bad = Record("a", 3, 3, NOW, ["not", "text"], b"")  # type: ignore[arg-type]
            store.add_many([rec("a", 2), bad], NOW)
        assert store.have("a") == ((1, 1),)
        assert len(store) == 1
        assert keys(store.add_many([rec("a", 2)], NOW)) == [("a", 2)]


def test_calls_from_several_threads_are_serialised(tmp_path: Path) -> None:
    with Store(tmp_path) as store:

        def write(author: str) -> None:
            for n in range(1, 201, 20):
                store.add_many([rec(author, k) for k in range(n, n + 20)], NOW)

        threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.high_water() == {f"t{i}": 200 for i in range(4)}
        assert len(store) == 800
