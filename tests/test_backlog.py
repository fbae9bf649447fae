"""The screen's backlog: batches, collapsing when the screen lags, and a hard bound on memory.

Time is plain numbers passed in; nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from peerchat import backlog
from peerchat.backlog import Backlog, Skipped


def fill(log: Backlog[str], sender: str, count: int, now: float, first: int = 0) -> None:
    for i in range(first, first + count):
        log.add(f"{sender}{i}", now, sender=sender, size=len(f"{sender}{i}"))


def items(lines: list[tuple[float, object]]) -> list[object]:
    return [item for _, item in lines]


# -- hand-over ------------------------------------------------------------------------------------


def test_only_the_first_line_into_an_empty_backlog_asks_for_a_wakeup() -> None:
    log: Backlog[str] = Backlog()
    assert log.add("a", 0.0, sender="bob", size=1) is True
    assert log.add("b", 0.0, sender="bob", size=1) is False
    assert log.add("joined", 0.0) is False
    assert items(log.take(0.1)) == ["a", "b", "joined"]
    assert len(log) == 0
    assert log.take(0.1) == []
    assert log.add("c", 0.2, sender="bob", size=1) is True


def test_lines_keep_their_order_and_arrival_time() -> None:
    log: Backlog[str] = Backlog()
    log.add("a", 1.0, sender="bob", size=1)
    log.add("joined", 1.25)
    log.add("b", 1.5, sender="carol", size=1)
    assert log.take(1.5) == [(1.0, "a"), (1.25, "joined"), (1.5, "b")]


# -- batches --------------------------------------------------------------------------------------


def test_a_batch_has_at_most_max_batch_lines_and_the_rest_follows() -> None:
    log: Backlog[str] = Backlog(max_batch=3)
    fill(log, "m", 7, 0.0)
    assert items(log.take(0.0)) == ["m0", "m1", "m2"]
    assert items(log.take(0.0)) == ["m3", "m4", "m5"]
    assert items(log.take(0.0)) == ["m6"]
    assert log.take(0.0) == []


def test_long_lines_make_shorter_batches_but_never_empty_ones() -> None:
    log: Backlog[str] = Backlog(max_batch_chars=100)
    for i in range(3):
        log.add(f"long{i}", 0.0, sender="m", size=150)
    assert items(log.take(0.0)) == ["long0"]
    for i in range(4):
        log.add(f"short{i}", 0.0, sender="m", size=40)
    assert items(log.take(0.0)) == ["long1"]
    assert items(log.take(0.0)) == ["long2"]
    assert items(log.take(0.0)) == ["short0", "short1", "short2"]  # 120 characters: over
    assert items(log.take(0.0)) == ["short3"]


# -- collapsing when the screen lags --------------------------------------------------------------


def test_no_collapse_while_the_oldest_line_is_within_max_lag() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=2)
    fill(log, "m", 10, 0.0)
    lines = log.take(1.0)  # exactly max_lag: still on time
    assert len(lines) == 10
    assert not any(isinstance(item, Skipped) for item in items(lines))


def test_a_lagging_screen_shows_a_summary_then_the_newest_messages() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=3)
    fill(log, "mallory", 18_000, 0.0)
    fill(log, "mallory", 3, 0.5, first=18_000)
    lines = log.take(1.01)
    assert lines == [
        (0.0, Skipped("mallory", 18_000)),
        (0.5, "mallory18000"),
        (0.5, "mallory18001"),
        (0.5, "mallory18002"),
    ]
    assert len(log) == 0 and log.messages == 0


def test_the_summary_counts_each_sender_in_order_of_first_appearance() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=1, keep_each=0)
    fill(log, "bob", 2, 0.0)
    fill(log, "mallory", 5, 0.0)
    fill(log, "bob", 1, 0.0, first=2)
    fill(log, "carol", 1, 0.0)
    assert items(log.take(2.0)) == [Skipped("bob", 3), Skipped("mallory", 5), "carol0"]


def test_a_flood_folds_away_its_own_lines_and_spares_the_others_newest() -> None:
    """Attack round 42: a member's flood of long lines folded bob's line into "1 more message
    from bob", every time, for as long as it went on."""
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=5, keep_each=2)
    fill(log, "mal", 100, 0.0)
    fill(log, "bob", 1, 0.1)
    fill(log, "mal", 100, 0.2, first=100)
    fill(log, "carol", 3, 0.3)
    fill(log, "mal", 100, 0.4, first=200)
    assert items(log.take(2.0)) == [
        Skipped("mal", 100),
        "bob0",
        Skipped("mal", 100),
        Skipped("carol", 1),
        "carol1",
        "carol2",
        Skipped("mal", 95),
        *(f"mal{i}" for i in range(295, 300)),
    ]


def test_lines_spared_by_a_collapse_are_bounded_however_many_send() -> None:
    """Keys cost nothing: 1,000 senders of a line each spare no more than ``keep_newest`` of
    them, nor more than a quarter of ``max_chars`` of text."""
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=10, max_chars=1_000, keep_each=3)
    for n in range(1_000):
        log.add(f"s{n}", 0.0, sender=f"s{n}", size=100)
    shown = items(log.take(2.0))
    while log:
        shown += items(log.take(2.0))
    assert sum(isinstance(line, str) for line in shown) == 2 + 10  # 2 spared, 10 the newest
    assert sum(line.count for line in shown if isinstance(line, Skipped)) == 1_000 - 12


def test_joins_leaves_and_errors_survive_a_collapse_in_their_place() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=1, keep_each=0)
    fill(log, "mallory", 4, 0.0)
    log.add("bob joined", 0.1)
    fill(log, "mallory", 4, 0.2, first=4)
    log.add("error", 0.3)
    fill(log, "mallory", 2, 0.4, first=8)
    assert items(log.take(5.0)) == [
        Skipped("mallory", 4),
        "bob joined",
        Skipped("mallory", 4),
        "error",
        Skipped("mallory", 1),
        "mallory9",
    ]


def test_after_a_collapse_new_lines_show_at_once() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, keep_newest=2, keep_each=0)
    fill(log, "m", 100, 0.0)
    assert len(log.take(3.0)) == 3  # the summary and the two newest
    log.add("marker", 3.1, sender="bob", size=6)
    assert log.take(3.2) == [(3.1, "marker")]


def test_a_screen_that_keeps_up_in_batches_never_collapses() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, max_batch=100, keep_newest=5)
    shown = 0
    for tick in range(100):  # 50 lines every 10 ms, 100 taken every 10 ms
        now = tick * 0.01
        fill(log, "m", 50, now, first=tick * 50)
        lines = log.take(now)
        assert not any(isinstance(item, Skipped) for item in items(lines))
        shown += len(lines)
    assert shown == 5_000


def test_a_slow_screen_falls_at_most_about_max_lag_behind() -> None:
    log: Backlog[str] = Backlog(max_lag=1.0, max_batch=100, keep_newest=20)
    worst = 0.0
    for tick in range(1_000):  # 1,000 lines every 10 ms, only 100 taken each time
        now = tick * 0.01
        fill(log, "m", 1_000, now, first=tick * 1_000)
        lines = log.take(now)
        worst = max(worst, now - lines[0][0])
    assert worst <= 1.0 + 0.01


# -- bounded memory -------------------------------------------------------------------------------


def test_beyond_max_messages_the_oldest_are_counted_at_once() -> None:
    log: Backlog[str] = Backlog(max_messages=100, max_lag=1e9)
    fill(log, "mallory", 100_000, 0.0)
    assert log.messages == 100
    assert len(log) == 101  # one run of counts and the newest 100 in full
    lines = log.take(0.0)
    assert lines[0] == (0.0, Skipped("mallory", 99_900))
    assert items(lines[1:]) == [f"mallory{i}" for i in range(99_900, 100_000)]


def test_beyond_max_chars_the_oldest_are_counted_at_once() -> None:
    log: Backlog[str] = Backlog(max_chars=1_000, max_lag=1e9)
    for i in range(50):
        log.add(f"big{i}", 0.0, sender="m", size=100)
    assert log.messages == 10
    assert items(log.take(0.0))[0] == Skipped("m", 40)


def test_lines_that_are_never_dropped_stay_in_order_under_the_cap() -> None:
    log: Backlog[str] = Backlog(max_messages=3, max_lag=1e9)
    for i in range(20):
        log.add(f"m{i}", 0.0, sender="m", size=1)
        if i % 5 == 0:
            log.add(f"event{i}", 0.0)
    shown = items(log.take(0.0))
    assert [x for x in shown if isinstance(x, str) and x.startswith("event")] == [
        "event0",
        "event5",
        "event10",
        "event15",
    ]
    assert shown[-3:] == ["m17", "m18", "m19"]


def test_the_defaults_make_sense_together() -> None:
    assert 0 < backlog.KEEP_NEWEST < backlog.MAX_BATCH <= backlog.MAX_MESSAGES
    assert backlog.MAX_BATCH_CHARS <= backlog.MAX_CHARS
    assert 0.5 <= backlog.MAX_LAG <= 2.0


# -- every message is shown or counted, exactly once ----------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(st.just("msg"), st.sampled_from(["a", "b", "c"]), st.integers(0, 50)),
        st.tuples(st.just("event"), st.none(), st.just(0)),
        st.tuples(st.just("take"), st.none(), st.just(0)),
        st.tuples(st.just("wait"), st.none(), st.integers(1, 2_000)),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_message_is_shown_or_counted_exactly_once(script) -> None:
    log: Backlog[str] = Backlog(
        max_lag=1.0,
        max_messages=10,
        max_chars=200,
        max_batch=7,
        max_batch_chars=60,
        keep_newest=3,
        keep_each=2,
    )
    now = 0.0
    sent: Counter[str] = Counter()
    accounted: Counter[str] = Counter()
    events: list[str] = []
    shown_events: list[str] = []
    last_shown: dict[str, int] = {}

    def take() -> None:
        for _, item in log.take(now):
            if isinstance(item, Skipped):
                accounted[item.sender] += item.count
            elif item.startswith("event"):
                shown_events.append(item)
            else:
                sender, number = item[0], int(item[1:].split(":")[0])
                assert number > last_shown.get(sender, -1)  # one sender's lines in order
                last_shown[sender] = number
                accounted[sender] += 1

    for kind, sender, value in script:
        if kind == "msg":
            text = f"{sender}{sent[sender]}:" + "x" * value
            log.add(text, now, sender=sender, size=len(text))
            sent[sender] += 1
            assert log.messages <= 10
        elif kind == "event":
            events.append(f"event{len(events)}")
            log.add(events[-1], now)
        elif kind == "take":
            take()
        else:
            now += value / 1000
    while len(log):
        take()
    assert accounted == sent
    assert shown_events == events
