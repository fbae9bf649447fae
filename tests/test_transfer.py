"""peerchat.transfer: a download takes only what continues the offered file, and knows when it
is whole and intact (no I/O)."""

from __future__ import annotations

import hashlib

import pytest

from peerchat.protocol import FILE_CHUNK, FILE_WINDOW, ProtocolViolation
from peerchat.transfer import (
    PROGRESS_EVERY,
    SLOW_ACK,
    SMALLEST_WINDOW,
    Download,
    SendWindow,
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


def test_a_fetchs_window_shrinks_while_its_chunks_are_slow_to_be_acknowledged() -> None:
    """Trial 49: three fetches at 1 Mbit/s, a full window each, held the sender's lines back
    for seconds, and its links timed out."""
    window, end, now = SendWindow(), 0, 0.0

    def chunk_acked_after(seconds: float) -> None:
        nonlocal end, now
        end += FILE_CHUNK
        window.sent(end, now)
        now += seconds
        window.acked(end, now)

    for _ in range(10):  # a link that keeps up keeps the whole window, however far (600 ms)
        chunk_acked_after(0.6)
    assert window.size == FILE_WINDOW
    for _ in range(10):
        chunk_acked_after(0.6 + 2 * SLOW_ACK)
    assert window.size == SMALLEST_WINDOW  # never less than a fetcher acknowledges at once
    chunk_acked_after(0.6 + SLOW_ACK * 0.75)  # neither slow nor quick: as it is
    assert window.size == SMALLEST_WINDOW
    for _ in range(10):
        chunk_acked_after(0.6)
    assert window.size == FILE_WINDOW
    window.acked(end, now + 10)  # acknowledged again: nothing sent since, nothing changes
    assert window.size == FILE_WINDOW
