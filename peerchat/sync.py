"""What two members exchange so that each ends with every message either has. Pure: no I/O.

A message is named by (author, seq); each author numbers its messages 1, 2, 3... What a member
holds of one author is a ``Holding``: a ``floor`` (everything at or below it was pruned here on
purpose and is not wanted back) and the ranges of sequence numbers kept above it. The first
range is (first kept, last contiguous): the author's high-water mark; later ranges lie past gaps.

Sync is a pull, like Briar's requests or IRC's CHATHISTORY: members that meet swap summaries
(``chunks``), each works out what it lacks and whom to ask for it (``plan`` with one peer,
``assign`` with several: each missing span is asked of exactly one member, whoever holds it, not
only its author), and the asked member answers span by span in bounded batches (``Pager``), so
that the trio layer can interleave live chat between them. Pull rather than push: when two parts
of a room meet, a member is sent each missing message once instead of once per member on the
other side. (Push would be ``plan(theirs, mine)``: what they lack that I hold.)

A summary travels in frames of at most ``MAX_AUTHORS`` authors and ``MAX_RANGES`` ranges: a
store past that sends several, and one author's many gaps may span frames (``merge`` puts them
together), so nothing is left out. A summary must never claim less than is held: under a pull,
what nobody knows another member holds is never asked of it.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

Range = tuple[int, int]  # first and last sequence number held, inclusive

MAX_SEQ = 2**62  # as on the wire (protocol.Chat.seq)
MAX_AUTHOR = 64  # characters, as a node id on the wire (protocol.MAX_ID)
# Per summary frame: 256 authors and 2,048 ranges in all come to about 60 KB, below the frame
# size that draws on the shared receive budget (config.small_frame). Past either bound the
# summary takes several frames (``chunks``). A room rarely has more than a few ranges per author.
MAX_AUTHORS = 256
MAX_RANGES = 2048
# Spans per request frame: past this, ask for the first ones and plan again once they are served.
MAX_SPANS = 1024
# One backfill batch: one store transaction on the receiver, some 4 ms at the rate measured for
# batches of 500 (over 100,000 messages/s; batches of 100 go at two thirds of that), and at most
# this many bytes, below the frame size that draws on the shared receive budget
# (config.small_frame), so live chat interleaved between batches waits milliseconds at most.
BATCH_COUNT = 500
BATCH_BYTES = 64 * 1024


class BadSummary(ValueError):
    """A summary or request from a peer that does not have the shape or the bounds it must."""


@dataclass(frozen=True, slots=True)
class Holding:
    """What a member holds of one author: nothing at or below ``floor`` (pruned, not wanted
    back), and ``ranges`` above it, sorted and apart."""

    floor: int = 0
    ranges: tuple[Range, ...] = ()

    @property
    def high_water(self) -> int | None:
        """The last of the first contiguous run: not "everything up to here", since the first
        kept may lie above 1 (pruned, or this member came late)."""
        return self.ranges[0][1] if self.ranges else None


EMPTY = Holding()
Holdings = Mapping[str, Holding]


class Span(NamedTuple):
    """``author``'s messages numbered ``after`` < seq <= ``upto``."""

    author: str
    after: int
    upto: int


# Range arithmetic over sorted lists of disjoint inclusive ranges.


def add(ranges: list[Range], seq: int) -> bool:
    """Put ``seq`` into ``ranges`` in place; False when it was there already."""
    if ranges and ranges[-1][1] + 1 == seq:  # the usual case: the next one in line
        ranges[-1] = (ranges[-1][0], seq)
        return True
    i = bisect.bisect_right(ranges, (seq, MAX_SEQ + 1))  # the first range starting above seq
    if i and ranges[i - 1][1] >= seq:
        return False
    left = i > 0 and ranges[i - 1][1] + 1 == seq
    right = i < len(ranges) and ranges[i][0] - 1 == seq
    if left and right:
        ranges[i - 1 : i + 1] = [(ranges[i - 1][0], ranges[i][1])]
    elif left:
        ranges[i - 1] = (ranges[i - 1][0], seq)
    elif right:
        ranges[i] = (seq, ranges[i][1])
    else:
        ranges.insert(i, (seq, seq))
    return True


def contains(ranges: Sequence[Range], seq: int) -> bool:
    i = bisect.bisect_right(ranges, (seq, MAX_SEQ + 1))
    return i > 0 and ranges[i - 1][1] >= seq


def subtract(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    """What ``a`` holds that ``b`` does not."""
    out: list[Range] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k, start = j, lo
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > start:
                out.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            k += 1
        if start <= hi:
            out.append((start, hi))
    return out


def union(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted([*a, *b]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def above(ranges: Sequence[Range], floor: int) -> list[Range]:
    """The part of ``ranges`` above ``floor``."""
    return subtract(ranges, [(0, floor)]) if floor > 0 else list(ranges)


# Deciding what to ask for.


def plan(mine: Holdings, theirs: Holdings) -> list[Span]:
    """What to ask of a member that holds ``theirs``: what it holds and I lack, above my floor.

    ``theirs`` may be part of their summary (some frames): what it leaves out is asked for
    once it is known."""
    spans: list[Span] = []
    for author in sorted(theirs):
        own = mine.get(author, EMPTY)
        lack = above(subtract(theirs[author].ranges, own.ranges), own.floor)
        spans += [Span(author, lo - 1, hi) for lo, hi in lack]
    return spans


def assign(mine: Holdings, peers: Mapping[str, Holdings]) -> dict[str, list[Span]]:
    """What to ask of each member, given their summaries: every message I lack that some member
    holds is asked of exactly one of them, whoever it is. The first member asked rotates from
    author to author, so a catch-up draws on all of them."""
    order = sorted(peers)
    asks: dict[str, list[Span]] = {peer: [] for peer in order}
    authors = sorted({author for holdings in peers.values() for author in holdings})
    for n, author in enumerate(authors):
        own = mine.get(author, EMPTY)
        taken = union(own.ranges, [(0, own.floor)] if own.floor > 0 else [])
        for peer in order[n % len(order) :] + order[: n % len(order)]:
            theirs = peers[peer].get(author)
            lack = subtract(theirs.ranges, taken) if theirs else []
            if lack:
                asks[peer] += [Span(author, lo - 1, hi) for lo, hi in lack]
                taken = union(taken, lack)
    return {peer: spans for peer, spans in asks.items() if spans}


# Serving a request in bounded batches.


class Item(Protocol):
    @property
    def seq(self) -> int: ...

    def wire_size(self) -> int: ...


T = TypeVar("T", bound=Item)


class Pager:
    """Serves requested spans in batches of at most ``max_count`` messages and ``max_bytes``
    (a batch holds at least one message, however large), one store read per batch.

    The caller loops: ``query()`` says which span to read from the store and how many at most;
    ``feed(what the store returned, in seq order)`` gives the batch to send, and moves on. What
    the store lacks in a span is skipped: the asker plans again and asks someone else."""

    def __init__(
        self, spans: Iterable[Span], max_count: int = BATCH_COUNT, max_bytes: int = BATCH_BYTES
    ) -> None:
        self._spans = deque(span for span in spans if span.after < span.upto)
        self.max_count = max_count
        self.max_bytes = max_bytes

    def query(self) -> tuple[Span, int] | None:
        """The span left to read and how many to read at most; None when all is served."""
        return (self._spans[0], self.max_count) if self._spans else None

    def feed(self, items: Sequence[T]) -> list[T]:
        span = self._spans[0]
        batch: list[T] = []
        size = 0
        for item in items:
            if not span.after < item.seq <= span.upto:
                raise ValueError(f"seq {item.seq} is outside the span {span}")
            cost = item.wire_size()
            if batch and (len(batch) >= self.max_count or size + cost > self.max_bytes):
                break
            batch.append(item)
            size += cost
        whole = len(batch) == len(items) < self.max_count  # the store has no more in the span
        if not batch or whole or batch[-1].seq >= span.upto:
            self._spans.popleft()
        else:
            self._spans[0] = span._replace(after=batch[-1].seq)
        return batch


# Wire shapes: lists, ints and strings, with the bounds a receiver checks.


def chunks(
    holdings: Holdings, max_authors: int = MAX_AUTHORS, max_ranges: int = MAX_RANGES
) -> Iterator[list[list[Any]]]:
    """A summary as frames' worth of ``[author, floor, first, last, first, last, ...]`` lists
    (flat, since a frame nests at most three deep: wire.MAX_DEPTH), each frame within the
    bounds; an author with more ranges than fit goes on in the next frame. At least one frame,
    empty for an empty store."""
    frame: list[list[Any]] = []
    count = 0
    for author in sorted(holdings):
        floor, ranges = holdings[author].floor, list(holdings[author].ranges)
        while True:
            if len(frame) >= max_authors or (ranges and count >= max_ranges):
                yield frame
                frame, count = [], 0
            part = ranges[: max_ranges - count]
            del ranges[: len(part)]
            frame.append([author, floor, *(n for r in part for n in r)])
            count += len(part)
            if not ranges:
                break
    yield frame


def merge(into: dict[str, Holding], frame: Holdings) -> None:
    """Add one frame of a peer's summary to what is known of it. The caller bounds how much it
    keeps per peer (a store of ``n`` messages has at most ``n`` ranges)."""
    for author, more in frame.items():
        known = into.get(author)
        if known is None:
            into[author] = more
        else:
            floor = max(known.floor, more.floor)
            into[author] = Holding(floor, tuple(above(union(known.ranges, more.ranges), floor)))


def summary_from_wire(value: Any) -> dict[str, Holding]:
    """One frame of a peer's summary, checked: the bounds above, each author once, ranges
    sorted, apart and above the floor. Raises ``BadSummary``."""
    if type(value) is not list or len(value) > MAX_AUTHORS:
        raise BadSummary(f"a summary must be a list of at most {MAX_AUTHORS} authors")
    out: dict[str, Holding] = {}
    count = 0
    for entry in value:
        if type(entry) is not list or len(entry) < 2 or len(entry) % 2:
            raise BadSummary("a summary entry must be [author, floor, first, last, ...]")
        author, holding = _author(entry[0]), _holding_in(entry[1:])
        if author in out:
            raise BadSummary("an author comes once in a summary frame")
        out[author] = holding
        count += len(holding.ranges)
        if count > MAX_RANGES:
            raise BadSummary(f"a summary frame holds at most {MAX_RANGES} ranges")
    return out


def _holding_in(numbers: list[Any]) -> Holding:
    floor = last = _seq(numbers[0])
    ranges: list[Range] = []
    for i in range(1, len(numbers), 2):
        lo, hi = _seq(numbers[i]), _seq(numbers[i + 1])
        if not last < lo <= hi:
            raise BadSummary("ranges must be sorted, apart and above the floor")
        ranges.append((lo, hi))
        last = hi + 1  # touching ranges would be one range
    return Holding(floor, tuple(ranges))


def spans_to_wire(spans: Sequence[Span]) -> list[list[Any]]:
    return [list(span) for span in spans[:MAX_SPANS]]


def spans_from_wire(value: Any) -> list[Span]:
    """A peer's request, checked. Raises ``BadSummary``."""
    if type(value) is not list or len(value) > MAX_SPANS:
        raise BadSummary(f"a request must be a list of at most {MAX_SPANS} spans")
    out = []
    for span in value:
        if type(span) is not list or len(span) != 3:
            raise BadSummary("a span must be [author, after, upto]")
        author, after, upto = _author(span[0]), _seq(span[1]), _seq(span[2])
        if after >= upto:
            raise BadSummary("a span must not be empty")
        out.append(Span(author, after, upto))
    return out


def _author(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_AUTHOR:
        raise BadSummary(f"an author must be a string of 1 to {MAX_AUTHOR} characters")
    return value


def _seq(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_SEQ:
        raise BadSummary(f"a sequence number must be an integer from 0 to {MAX_SEQ}")
    return value
