"""peerchat.transfer: a download takes only what continues the offered file, and knows when it
is whole and intact (no I/O)."""

from __future__ import annotations

import collections
import hashlib
import heapq

import pytest

from peerchat.protocol import FILE_CHUNK, FILE_WINDOW, ProtocolViolation
from peerchat.transfer import (
    PROGRESS_EVERY,
    SLOW_ACK,
    SMALL_CHUNK,
    Download,
    LinkAcks,
    SendWindow,
    acknowledges,
    local_name,
    numbered,
)

DATA = bytes(range(256)) * 40  # 10,240 bytes


def download(data: bytes = DATA) -> Download:
    return Download("sender", 1, "f.bin", len(data), hashlib.sha256(data).digest())


def test_chunks_in_order_make_the_file() -> None:
    d = download()
    for offset in range(0, len(DATA), 4096):
        assert not d.done
        d.take(offset, DATA[offset : offset + 4096])
    assert d.done and d.intact() and d.received == len(DATA)


def test_a_file_other_than_the_offered_one_is_not_intact() -> None:
    d = download()
    d.take(0, DATA[:-1] + b"!")
    assert d.done and not d.intact()


@pytest.mark.parametrize(
    ("offset", "data"),
    [(1, b"x"), (4096, b"x"), (0, b""), (0, DATA + b"x")],
    ids=["gap", "far-ahead", "empty", "past-the-size"],
)
def test_chunks_that_do_not_continue_the_file_within_its_size_are_refused(
    offset: int, data: bytes
) -> None:
    d = download()
    with pytest.raises(ProtocolViolation):
        d.take(offset, data)
    assert d.received == 0  # nothing of a refused chunk counts


def test_a_repeated_chunk_after_a_resume_is_refused_and_the_next_one_taken() -> None:
    d = download()
    d.take(0, DATA[:100])
    with pytest.raises(ProtocolViolation):
        d.take(0, DATA[:100])
    d.take(100, DATA[100:])
    assert d.intact()


def test_an_empty_file_is_done_at_once() -> None:
    assert download(b"").intact()


def test_progress_is_reported_now_and_then_and_at_the_end() -> None:
    d = download()
    assert d.progress_due(10.0)
    d.take(0, DATA[:10])
    assert not d.progress_due(10.0 + PROGRESS_EVERY / 2)
    assert d.progress_due(10.0 + PROGRESS_EVERY)
    d.take(10, DATA[10:])
    assert d.progress_due(10.0 + PROGRESS_EVERY)  # the end is always reported


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("report.pdf", "report.pdf"),
        ("..hidden", "hidden"),
        ("a:b*c?.txt", "a_b_c_.txt"),
        ("   ", "download"),
        ("naïve café.txt", "naïve café.txt"),
        ("x.peerchat-part", "x.peerchat-part_"),
        ("x.part", "x.part"),  # a browser's name for its download in progress, not ours
        ("é" * 150, "é" * 100),  # 200 bytes of UTF-8 at most
        ("a" * 196 + ".exe.pdf", "a" * 196 + ".pdf"),  # cut before
        ("é" * 150 + ".txt", "é" * 98 + ".txt"),  # the extension, which stays
        ("b" * 190 + "." + "c" * 20, "b" * 183 + "." + "c" * 16),  # (16 bytes of it at most)
        ("a" * 196 + ".exe." + "x" * 17, "a" * 183 + "." + "x" * 16),  # never another one
        ("notes.markdown-backup-2024", "notes.markdown-backup-2024"),  # short: as it is
        ("résumé 日本語 🎉.txt", "résumé 日本語 🎉.txt"),  # emoji too (trial 50: "_")
        ("invoice.pdf\u2800\u3164.exe", "invoice.pdf__.exe"),  # blanks that show as nothing
        ("thumbs 👍🏽 ❤️.txt", "thumbs 👍🏽 ❤️.txt"),  # with their skin tone and colour marks
        ("a\u200db\u202ec\x07.txt", "a_b_c_.txt"),  # never what hides or steers
        ("bob's 10% {v2} #1!^.txt", "bob's 10% {v2} #1!^.txt"),  # (trial 69 F12)
        ('a/b\\c"d<e>f|g`h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("$(touch pwned);x&.txt", "_(touch pwned)_x_.txt"),  # nothing a shell runs (review 67)
        ("-rf", "_rf"),  # nor takes for an option (attack round 53)
        ("~", "_"),
        ("~root", "_root"),
    ],
)
def test_offered_names_become_plain_local_names(offered: str, saved: str) -> None:
    assert local_name(offered) == saved


def test_numbered_alternatives_keep_the_extension() -> None:
    assert numbered("a.txt", 2) == "a (2).txt"
    assert numbered("archive.tar.gz", 3) == "archive (3).tar.gz"  # not "archive.tar (3).gz"
    assert numbered("site.backup.TAR.XZ", 2) == "site.backup (2).TAR.XZ"
    assert numbered("v1.2.zip", 2) == "v1.2 (2).zip"
    assert numbered(".tar.gz", 2) == ".tar (2).gz"  # no name before the .tar: as any other
    assert numbered("README", 2) == "README (2)"


def test_a_fetchs_window_grows_from_the_least_and_shrinks_while_its_chunks_are_late() -> None:
    """Trial 49: three fetches at 1 Mbit/s, a full window each, held the sender's lines back
    for seconds, and its links timed out."""
    window, end, now = SendWindow(), 0, 0.0

    def chunk_acked_after(seconds: float) -> None:
        nonlocal end, now
        end += window.room(end, end, FILE_WINDOW)
        window.sent(end, now, asked=True)
        now += seconds
        window.acked(end, now + 100)  # (the fetcher's clock is another)

    assert window.size == SMALL_CHUNK  # until the link shows how quick it is
    for _ in range(20):  # a link that keeps up gets the whole window, however far (600 ms)
        chunk_acked_after(0.6)
    assert window.size == FILE_WINDOW
    chunk_acked_after(0.6 + 2 * SLOW_ACK)
    assert window.size == FILE_WINDOW * 3 // 4  # a quarter less
    for _ in range(20):
        chunk_acked_after(0.6 + 2 * SLOW_ACK)
    assert window.size == SMALL_CHUNK == FILE_CHUNK // 4  # what a fetcher counts as news
    chunk_acked_after(0.6 + 2 * SLOW_ACK)
    assert window.size == SMALL_CHUNK
    for _ in range(20):
        chunk_acked_after(0.6)
    assert window.size == FILE_WINDOW
    window.acked(end, now + 10)  # acknowledged again: nothing sent since, nothing changes
    assert window.size == FILE_WINDOW


def test_chunks_fit_the_window_and_the_one_that_fills_it_asks_for_an_acknowledgement() -> None:
    window = SendWindow(size=FILE_CHUNK // 2)
    assert window.room(0, 0, 10 * FILE_CHUNK) == FILE_CHUNK // 2
    assert window.asks(FILE_CHUNK // 2, 0, 9 * FILE_CHUNK)  # the window is full: ask
    window.sent(FILE_CHUNK // 2, 0.0, asked=True)
    assert window.room(FILE_CHUNK // 2, 0, 9 * FILE_CHUNK) == 0
    assert window.room(0, 0, 100) == 100  # a file's last bytes, however few
    assert not window.asks(100, 0, 0)  # the whole file is acknowledged unasked
    window = SendWindow(size=FILE_WINDOW)
    assert window.room(0, 0, FILE_WINDOW) == FILE_CHUNK  # a chunk at most
    assert not window.asks(FILE_CHUNK, 0, FILE_WINDOW)  # room for more: no need to ask
    # Never a chunk smaller than a fetcher counts as news (but the last): it waits instead.
    window.sent(FILE_WINDOW - SMALL_CHUNK + 1, 0.0, asked=True)
    assert window.room(FILE_WINDOW - SMALL_CHUNK + 1, 0, FILE_WINDOW) == 0


def test_a_window_that_shrinks_under_chunks_that_asked_nothing_sends_one_that_asks() -> None:
    """Unasked, a fetcher acknowledges every ``ACK_EVERY`` bytes: had the sender waited with
    fewer out, none asking, nothing would ever come, and the fetch would stall for good."""
    small, half = SMALL_CHUNK, FILE_CHUNK // 2
    for asked_last in (True, False):
        window = SendWindow(size=FILE_CHUNK)
        window.sent(small, 0.0, asked=False)
        window.acked(small, 0.1)  # the quickest: it grows to five quarters of a chunk
        window.sent(small + half, 0.2, asked=False)
        window.sent(small + 3 * half, 0.2, asked=asked_last)
        window.acked(small + half, 2.0)  # late: it shrinks to three quarters, a chunk out
        assert window.size == 3 * SMALL_CHUNK
        room = window.room(small + 3 * half, small + half, 10**6)
        if asked_last:
            assert room == 0  # its acknowledgement is on the way: wait for it
        else:
            assert room == SMALL_CHUNK  # past the window, but
            assert window.asks(small + 3 * half + room, small + half, 10**6)  # it asks


def queue_behind_three_fetches(
    rate: float, seconds: float, back: float = 0.001, liar: int | None = None
) -> list[float]:
    """Three fetches from one sender, begun 2 s apart, over its uplink of ``rate`` bytes a
    second (its queue first in, first out), a millisecond's way on, and ``back`` seconds for an
    acknowledgement to come back: the longest a chat line said after the first 10 s would
    wait behind that queue, and the bytes each fetcher got. The ``liar`` fetch says each of
    its chunks came at its clock's 0."""
    windows, sent, acked = [SendWindow() for _ in range(3)], [0] * 3, [0] * 3
    received, told = [0] * 3, [0] * 3
    queue: collections.deque[tuple[int, int, int, bool]] = collections.deque()
    happenings = [(2.0 * i, "start", i, 0, False, 0.0) for i in range(3)]
    now, queued, worst = 0.0, 0, 0.0
    while now < seconds:
        now, what, i, end, asks, came = heapq.heappop(happenings)
        if what == "out":  # the uplink sent a chunk: it comes a moment later
            queued -= queue.popleft()[1]
            heapq.heappush(happenings, (now + 0.001, "chunk", i, end, asks, 0.0))
        elif what == "chunk":
            received[i] = end
            if acknowledges(end, told[i], asks):
                told[i] = end
                said = 0.0 if i == liar else now + 50  # (the fetcher's clock is another)
                heapq.heappush(happenings, (now + back, "ack", i, end, False, said))
        elif what == "ack":
            acked[i] = end
            windows[i].acked(end, came, now)
        was_idle = not queue
        for j in range(3):  # the sender sends what each window lets it
            while now >= 2 * j and (room := windows[j].room(sent[j], acked[j], 10**9)):
                sent[j] += room
                asked = windows[j].asks(sent[j], acked[j], 10**9)
                windows[j].sent(sent[j], now, asked)
                queue.append((j, room, sent[j], asked))
                queued += room
        if queue and (was_idle or what == "out"):  # the uplink takes the next chunk
            j, length, end, asked = queue[0]
            heapq.heappush(happenings, (now + length / rate, "out", j, end, asked, 0.0))
        if now > 10:
            worst = max(worst, queued / rate)
    return [worst, *received]


def test_three_fetches_over_a_slow_uplink_keep_its_queue_short() -> None:
    """Trial 51: three fetches from bob at 1 Mbit/s up; his lines came up to 12 s late, and
    links were lost as what overflowed his uplink's queue of a second was sent again. Each
    window starts at the least, shrinks to less than a chunk, and gives up more the more it
    has."""
    for mbit in (1, 10):
        rate = mbit * 1_000_000 / 8
        worst, *received = queue_behind_three_fetches(rate, 60)
        assert worst < 1, f"{mbit} Mbit/s: a chat line waited {worst:.2f} s behind fetches"
        assert sum(received) > 0.9 * 60 * rate  # the uplink stays busy
        assert min(received) > sum(received) / 20, received  # and no fetch starves


def test_acknowledgements_held_up_on_their_way_back_do_not_shrink_the_window() -> None:
    """Review 55: judged by the round trip, acknowledgements 0.3 s late on the fetcher's busy
    uplink kept the window at the least, and a 4 MiB fetch took 77 s, not 5. A window shrinks
    once for what was out (shrunk for each late acknowledgement of it, the uplink was left
    idle a quarter of the time)."""
    rate = 10_000_000 / 8
    for back, share in [(0.3, 0.9), (1.0, 0.75)]:
        worst, *received = queue_behind_three_fetches(rate, 60, back)
        # Each fetch gets its whole window a round trip at most; all start within 4 s.
        most = min(rate, 3 * FILE_WINDOW / back) * 55
        assert sum(received) > share * most, f"{back} s back: {sum(received) / most:.0%}"


def test_a_fetcher_that_says_its_chunks_came_sooner_takes_no_more_than_its_share() -> None:
    """Attack round 40: a fetcher that said its chunks came at its clock's 0 saw its window grow
    for ever, and took 82 of an uplink's 119 kB/s from an honest fetch. Here, it took 80-89%
    of the uplink and a chat line waited 2.35 s (0.65 s with none lying); no further back than
    ``BACK_SLACK`` from the acknowledgements' quickest way back, it takes about its share."""
    rate = 1_000_000 / 8
    honest, *fair = queue_behind_three_fetches(rate, 60)
    for liar in range(3):
        worst, *received = queue_behind_three_fetches(rate, 60, liar=liar)
        share, usual = received[liar] / sum(received), fair[liar] / sum(fair)
        assert share < usual + 0.15, f"fetch {liar}: {share:.0%} of the uplink, {usual:.0%} honest"
        assert worst < honest + 0.75, f"fetch {liar} lying: a chat line waited {worst:.2f} s"


def test_an_acknowledgement_counts_as_far_as_tcp_has_the_chunks() -> None:
    """Attack round 37's fetcher acknowledged chunks as they were sent (``LinkAcks``)."""
    acks = LinkAcks(confirmed=100)  # had before this link
    acks.sent(200, position=1_000)  # the chunk ending at 200 ends the link's 1,000th byte
    acks.sent(300, position=2_000)
    assert acks.allows(300, tcp_acked=500) == 100  # nothing of them in the fetcher's kernel
    assert acks.allows(300, tcp_acked=1_500) == 200
    assert acks.allows(250, tcp_acked=2_500) == 250  # no more than it says, either
    assert acks.allows(300, tcp_acked=2_500) == 300
    unknown = LinkAcks(confirmed=0)  # a link that is not TCP: its word goes
    unknown.sent(200, position=1_000)
    assert unknown.allows(200, tcp_acked=None) == 200
