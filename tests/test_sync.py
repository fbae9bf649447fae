"""peerchat.sync: range arithmetic, what to ask of whom, batches, wire bounds; and in-memory
stores that swap summaries and batches (through msgpack, as on the wire) until they agree."""

from __future__ import annotations

from collections.abc import Container, Iterator
from typing import Any

import pytest

from peerchat.chat import ChatLog
from peerchat.config import Config
from peerchat.protocol import Chat
from peerchat.store import MEMORY, Record, Store
from peerchat.sync import (
    MAX_AUTHORS,
    MAX_RANGES,
    MAX_SPANS,
    BadSummary,
    Holding,
    Pager,
    Span,
    above,
    add,
    assign,
    chunks,
    contains,
    merge,
    plan,
    spans_from_wire,
    spans_to_wire,
    subtract,
    summary_from_wire,
    union,
)
from peerchat.wire import FrameDecoder, encode_frame

NOW = 1_800_000_000.0


def rec(author: str, seq: int, text: str | None = None) -> Record:
    return Record(author, seq, seq, NOW, text if text is not None else f"{author}{seq}", b"")


def wire(value: Any) -> Any:
    """Through a real frame: msgpack, and the limits on a frame's size and nesting."""
    decoder = FrameDecoder()
    decoder.feed(encode_frame({"t": "sync", "v": value}))
    [frame] = decoder.frames()
    return frame["v"]


# -- range arithmetic --------------------------------------------------------------------------


def test_add_merges_neighbours_and_refuses_what_is_there() -> None:
    ranges: list[tuple[int, int]] = []
    for seq in (5, 1, 3, 2, 7, 4):
        assert add(ranges, seq)
    assert ranges == [(1, 5), (7, 7)]
    assert not add(ranges, 3)
    assert not add(ranges, 7)
    assert add(ranges, 6)
    assert ranges == [(1, 7)]
    assert contains(ranges, 1) and contains(ranges, 7) and not contains(ranges, 8)
    assert not contains([], 1)


def test_subtract_union_above() -> None:
    a = [(1, 10), (20, 30)]
    assert subtract(a, [(3, 4), (8, 22), (30, 40)]) == [(1, 2), (5, 7), (23, 29)]
    assert subtract(a, []) == a
    assert subtract([], a) == []
    assert union([(5, 6), (1, 2)], [(3, 4), (10, 12)]) == [(1, 6), (10, 12)]
    assert union([(1, 2)], [(4, 4)]) == [(1, 2), (4, 4)]
    assert above(a, 25) == [(26, 30)]
    assert above(a, 0) == a


# -- planning ----------------------------------------------------------------------------------


def test_plan_asks_for_what_they_hold_and_i_lack_above_my_floor() -> None:
    mine = {"x": Holding(50, ((51, 60),)), "y": Holding(0, ((1, 3), (7, 9)))}
    theirs = {
        "x": Holding(0, ((1, 100),)),
        "y": Holding(0, ((1, 12),)),
        "z": Holding(4, ((5, 6),)),
    }
    assert plan(mine, theirs) == [
        Span("x", 60, 100),  # not 1..50: pruned here on purpose
        Span("y", 3, 6),
        Span("y", 9, 12),
        Span("z", 4, 6),
    ]
    assert plan(theirs, mine) == []  # they lack nothing of mine (push is plan(theirs, mine))


def test_assign_asks_each_missing_message_of_exactly_one_member() -> None:
    mine = {"x": Holding(0, ((1, 3),))}
    peers = {
        "b": {"x": Holding(0, ((1, 10),)), "y": Holding(0, ((1, 5),))},
        "c": {"x": Holding(0, ((1, 20),)), "y": Holding(0, ((1, 5),))},
    }
    asks = assign(mine, peers)
    wanted = [
        (s.author, n)
        for spans in asks.values()
        for s in spans
        for n in range(s.after + 1, s.upto + 1)
    ]
    assert sorted(wanted) == [("x", n) for n in range(4, 21)] + [("y", n) for n in range(1, 6)]
    assert len(wanted) == len(set(wanted))
    assert set(asks) == {"b", "c"}  # the first member asked rotates from author to author
    assert assign(mine, {}) == {}


# -- pacing ------------------------------------------------------------------------------------


def serve(
    server: Store, spans: list[Span], max_count: int, max_bytes: int
) -> Iterator[list[Record]]:
    """What the trio layer does with a request: one store read and one frame per batch."""
    pager = Pager(spans, max_count, max_bytes)
    while (query := pager.query()) is not None:
        span, limit = query
        yield pager.feed(server.get_range(span.author, span.after, limit, span.upto))


def test_batches_respect_the_count_and_byte_limits() -> None:
    server = Store(MEMORY)
    server.add_many([rec("a", n, "w" * (n * 37 % 900)) for n in range(1, 1001)], NOW)
    server.add_many([rec("a", 1001, "é" * 5000)], NOW)  # larger than a batch may be: goes alone
    batches = list(serve(server, [Span("a", 0, 1001)], max_count=64, max_bytes=4096))
    for batch in batches:
        assert 1 <= len(batch) <= 64
        assert len(batch) == 1 or sum(r.wire_size() for r in batch) <= 4096
    assert [r.seq for batch in batches for r in batch] == list(range(1, 1002))
    assert batches[-1] == [server.get_range("a", 1000, 1)[0]]


def test_the_pager_skips_what_the_server_lacks_and_moves_on() -> None:
    server = Store(MEMORY)
    server.add_many([rec("a", n) for n in (1, 2, 3, 9, 10)] + [rec("b", 1)], NOW)
    spans = [Span("a", 0, 10), Span("a", 20, 30), Span("b", 0, 5)]
    batches = list(serve(server, spans, max_count=2, max_bytes=1 << 20))
    assert [[(r.author, r.seq) for r in b] for b in batches] == [
        [("a", 1), ("a", 2)],
        [("a", 3), ("a", 9)],
        [("a", 10)],
        [],  # nothing of a 21..30 here: the asker plans again and asks someone else
        [("b", 1)],
    ]


def test_the_pager_refuses_a_store_answer_outside_the_span() -> None:
    pager = Pager([Span("a", 5, 10)])
    with pytest.raises(ValueError):
        pager.feed([rec("a", 11)])


# -- wire shapes and bounds --------------------------------------------------------------------


def frames_to(holdings: dict[str, Holding], **bounds: int) -> tuple[int, dict[str, Holding]]:
    """How many frames a summary takes, and what the receiver makes of them."""
    known: dict[str, Holding] = {}
    frames = list(chunks(holdings, **bounds))
    for frame in frames:
        merge(known, summary_from_wire(wire(frame)))
    return len(frames), known


def test_a_summary_past_max_authors_goes_in_several_frames() -> None:
    holdings = {f"n{i:04d}": Holding(i, ((i + 1, i + 1),)) for i in range(2 * MAX_AUTHORS + 10)}
    assert [len(frame) for frame in chunks(holdings)] == [MAX_AUTHORS, MAX_AUTHORS, 10]
    assert frames_to(holdings) == (3, holdings)
    assert list(chunks({})) == [[]]
    assert frames_to({"a": Holding(7)}) == (1, {"a": Holding(7)})


def test_an_author_with_more_gaps_than_a_frame_holds_spans_frames_and_nothing_is_lost() -> None:
    holdings = {
        "a": Holding(0, ((1, 2),)),
        "b": Holding(3, tuple((10 * i + 5, 10 * i + 6) for i in range(MAX_RANGES + 100))),
        "c": Holding(0, ((1, 1),)),
    }
    frames = list(chunks(holdings))
    assert [sum(len(entry) // 2 - 1 for entry in frame) for frame in frames] == [MAX_RANGES, 102]
    assert frames_to(holdings) == (2, holdings)
    assert frames_to(holdings, max_authors=1, max_ranges=7)[1] == holdings


@pytest.mark.parametrize(
    "bad",
    [
        {},
        [["a"]],
        [["a", 0, 1]],
        ["a", 0],
        [["a", -1]],
        [["a", True]],
        [["a", 0, 3, 2]],
        [["a", 5, 5, 6]],  # at the floor
        [["a", 0, 1, 3, 4, 5]],  # touching: one range
        [["a", 0, 6, 8, 1, 3]],
        [["a", 0, 1, 2**62 + 1]],
        [["a", 0], ["a", 0]],
        [["", 0]],
        [["x" * 65, 0]],
        [[f"n{i}", 0] for i in range(MAX_AUTHORS + 1)],
        [[f"n{i}", 0, *range(1, 2 * MAX_RANGES, 4)] for i in range(4)] + [["z", 0, 5, 5]],
    ],
)
def test_a_bad_summary_is_refused(bad: Any) -> None:
    with pytest.raises(BadSummary):
        summary_from_wire(wire(bad))


def test_a_full_summary_frame_is_a_small_frame() -> None:
    # The most a frame may carry, with the longest ids and the largest numbers: still below the
    # size that draws on the shared receive budget, and at the bounds, accepted.
    big = 2**61
    holdings = {
        f"{i:064d}": Holding(big, tuple((big + 4 * k + 1, big + 4 * k + 2) for k in range(8)))
        for i in range(MAX_AUTHORS)
    }
    [frame] = chunks(holdings)
    assert len(encode_frame({"t": "summary", "v": frame})) < Config().small_frame
    assert summary_from_wire(wire(frame)) == holdings
    wide = [[f"n{i}", 0, *range(1, 2 * MAX_RANGES, 4)] for i in range(4)]
    assert sum(len(h.ranges) for h in summary_from_wire(wire(wide)).values()) == MAX_RANGES


def test_requests_round_trip_and_are_bounded() -> None:
    spans = [Span("a", 3, 6), Span("b", 0, 10)]
    assert spans_from_wire(wire(spans_to_wire(spans))) == spans
    assert len(spans_to_wire([Span("a", n, n + 1) for n in range(MAX_SPANS + 5)])) == MAX_SPANS
    for bad in ([["a", 3, 3]], [["a", 3]], [[1, 0, 1]], "x", [["a", 0, 1]] * (MAX_SPANS + 1)):
        with pytest.raises(BadSummary):
            spans_from_wire(bad)


# -- stores that meet --------------------------------------------------------------------------


class Member:
    """A store and what the screen shows (``ChatLog`` releases each author's in order)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.store = Store(MEMORY)
        self.log = ChatLog(name, held_back=1 << 20)
        self.shown: list[tuple[str, int]] = []

    def say(self, n: int) -> list[Record]:
        out = [Record.of(self.log.compose(f"{self.name} {i}", NOW, 0.0)) for i in range(n)]
        self.store.add_many(out, NOW)
        return out

    def take(self, records: list[Record]) -> int:
        new = self.store.add_many(records, NOW)
        for r in new:
            chat = Chat(r.author, r.seq, r.lamport, r.text, r.time, 0.0)
            self.shown += [(c.sender, c.seq) for c in self.log.receive(chat)]
        return len(new)


def sync_round(members: list[Member], max_count: int = 50, max_bytes: int = 8192) -> int:
    """Each member takes every other's summary frames, asks each missing message of one of
    them and takes the answers batch by batch. Returns how many messages were new."""
    news = 0
    for asker in members:
        peers = {m.name: frames_to(m.store.holdings())[1] for m in members if m is not asker}
        for name, spans in assign(asker.store.holdings(), peers).items():
            server = next(m for m in members if m.name == name)
            request = spans_from_wire(wire(spans_to_wire(spans)))
            for batch in serve(server.store, request, max_count, max_bytes):
                fields = [[r.author, r.seq, r.lamport, r.time, r.text, r.signature] for r in batch]
                news += asker.take([Record(*f) for f in wire(fields)])
    return news


def until_quiet(members: list[Member]) -> int:
    total, rounds = 0, 0
    while news := sync_round(members):
        total += news
        rounds += 1
        assert rounds < 5, "sync does not settle"
    return total


def deliver(records: list[Record], to: list[Member], lose: Container[int] = ()) -> None:
    for m in to:
        m.take([r for r in records if r.seq not in lose])


def test_after_a_partition_every_message_is_on_both_sides_once_and_in_order() -> None:
    a, b, c = Member("a"), Member("b"), Member("c")
    room = [a, b, c]
    for m in room:  # before: everybody hears everybody
        deliver(m.say(5), [o for o in room if o is not m])
    # Apart: a alone, b and c together, and some of b's messages to c lost on the way.
    a.say(30)
    deliver(b.say(40), [c], lose={12, 13, 30})
    deliver(c.say(25), [b])
    lacking = {m.name: 3 * 5 + 30 + 40 + 25 - len(m.store) for m in room}
    assert lacking == {"a": 65, "b": 30, "c": 33}

    assert until_quiet(room) == sum(lacking.values())  # each one new exactly once, once only

    expected = {"a": ((1, 35),), "b": ((1, 45),), "c": ((1, 30),)}
    for m in room:
        assert {author: h.ranges for author, h in m.store.holdings().items()} == expected
        others = {k: v for k, v in expected.items() if k != m.name}
        for author, ((_, last),) in others.items():
            assert [s for x, s in m.shown if x == author] == list(range(1, last + 1))
    assert sync_round(room) == 0


def test_a_gap_is_filled_from_a_third_member_while_the_author_is_away() -> None:
    x, b, c = Member("x"), Member("b"), Member("c")
    said = x.say(10)
    deliver(said, [b], lose={4, 5, 6})
    deliver(said, [c])
    x.store.close()  # the author is gone
    peers = {"c": c.store.holdings()}
    assert assign(b.store.holdings(), peers) == {"c": [Span("x", 3, 6)]}
    assert until_quiet([b, c]) == 3
    assert b.store.have("x") == ((1, 10),)
    assert [s for _, s in b.shown] == list(range(1, 11))


def test_a_newcomer_gets_everything_and_a_pruned_member_not_what_it_pruned() -> None:
    old, pruned, newcomer = Member("old"), Member("pruned"), Member("new")
    said = old.say(100)
    deliver(said, [pruned])
    pruned.store.prune(NOW, max_count=40)
    assert until_quiet([old, pruned, newcomer]) == 100
    assert newcomer.store.have("old") == ((1, 100),)
    assert pruned.store.have("old") == ((61, 100),)


def test_many_gaps_span_summary_frames_and_all_that_is_held_is_passed_on() -> None:
    # Its summary takes several frames; had it claimed less, what it alone holds would be lost.
    full, gappy, late = Member("full"), Member("gappy"), Member("late")
    said = full.say(3 * MAX_RANGES)
    deliver(said, [gappy], lose={n for n in range(1, len(said) + 1) if n % 3 == 0})
    full.store.close()  # only gappy is left to ask
    assert len(gappy.store.have("full")) == MAX_RANGES
    assert frames_to(gappy.store.holdings(), max_ranges=100)[1] == gappy.store.holdings()
    assert until_quiet([gappy, late]) == 2 * MAX_RANGES
    assert late.store.have("full") == gappy.store.have("full")
