"""peerchat.identity: the node's key and id, signatures, and numbers never used twice."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerchat import identity
from peerchat.identity import (
    KEY_FILE,
    SEQ_FILE,
    Identity,
    SeqCounter,
    SeqReservation,
    node_id_of,
    verify,
)
from peerchat.tracker_address import StartupError

CHAT = ("a" * 32, 7, 12, "hello", 1700000000.25)


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """The most permissive umask: only the modes the code asks for protect the files."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- identity ---------------------------------------------------------------------------------


def test_the_node_id_lasts_across_loads_of_one_dir(tmp_path: Path) -> None:
    first = Identity.load_or_create(tmp_path / "node")
    again = Identity.load_or_create(tmp_path / "node")
    assert again.node_id == first.node_id
    assert again.public_key == first.public_key
    assert len(first.node_id) == 32 and int(first.node_id, 16) >= 0
    assert len(first.public_key) == 32


def test_each_dir_and_each_generate_is_a_different_node(tmp_path: Path) -> None:
    ids = {Identity.load_or_create(tmp_path / name).node_id for name in ("a", "b")}
    ids |= {Identity.generate().node_id for _ in range(2)}
    assert len(ids) == 4


def test_the_key_is_private_from_its_creation_on(tmp_path: Path, umask_zero: None) -> None:
    folder = tmp_path / "node"
    Identity.load_or_create(folder)
    # The file is the temp file renamed, never chmod'ed: under umask 0 its mode is the one
    # it was created with.
    assert mode(folder / KEY_FILE) == 0o600
    assert mode(folder) == 0o700
    assert (folder / KEY_FILE).stat().st_size == 32
    assert not (folder / (KEY_FILE + ".new")).exists()


def test_a_temp_file_left_by_a_crash_is_ignored(tmp_path: Path) -> None:
    (tmp_path / (KEY_FILE + ".new")).write_bytes(b"half")
    me = Identity.load_or_create(tmp_path)
    assert Identity.load_or_create(tmp_path).node_id == me.node_id
    assert not (tmp_path / (KEY_FILE + ".new")).exists()


@pytest.mark.parametrize("content", [b"", b"x" * 31, b"x" * 33, b"-----BEGIN PRIVATE KEY-----\n"])
def test_a_damaged_key_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    key = tmp_path / KEY_FILE
    key.write_bytes(content)
    before = key.stat()
    with pytest.raises(StartupError) as caught:
        Identity.load_or_create(tmp_path)
    message = str(caught.value)
    assert caught.value.status == 1
    assert str(key) in message and "\n" not in message
    assert key.read_bytes() == content
    assert key.stat().st_mtime_ns == before.st_mtime_ns


def test_an_unreadable_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir()  # something that is no file where the key belongs
    with pytest.raises(StartupError) as caught:
        Identity.load_or_create(tmp_path)
    assert str(tmp_path / KEY_FILE) in str(caught.value)
    assert (tmp_path / KEY_FILE).is_dir()


def test_the_repr_never_shows_the_private_key(tmp_path: Path) -> None:
    me = Identity.load_or_create(tmp_path)
    assert repr(me) == f"Identity(node_id={me.node_id!r})"
    assert (tmp_path / KEY_FILE).read_bytes().hex() not in repr(me)


# -- signatures -------------------------------------------------------------------------------


def test_sign_and_verify() -> None:
    me = Identity.generate()
    data = b"a message, signed"
    signature = me.sign(data)
    assert len(signature) == 64
    assert verify(me.public_key, signature, data)
    assert node_id_of(me.public_key) == me.node_id


def test_anything_altered_or_malformed_fails_quietly() -> None:
    me, other = Identity.generate(), Identity.generate()
    data = b"a message, signed"
    signature = me.sign(data)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    bad = [
        (me.public_key, signature, data + b"x"),  # altered data
        (me.public_key, signature, data[:-1]),
        (me.public_key, flipped, data),  # altered signature
        (other.public_key, signature, data),  # someone else's key
        (me.public_key[:31], signature, data),  # truncated
        (me.public_key, signature[:63], data),
        (me.public_key + b"\0", signature, data),
        (me.public_key, signature + b"\0", data),
        (b"", b"", b""),
        (b"\xff" * 32, signature, data),  # not a point on the curve
        (b"\0" * 32, b"\0" * 64, data),  # a small-order key: this checked for any data
        (b"\x01" + b"\0" * 31, b"\x01" + b"\0" * 63, data),  # the identity point, likewise
        (None, signature, data),  # not bytes at all
        (me.public_key, "x" * 64, data),
        (me.public_key, signature, "text"),
        (bytearray(me.public_key), signature, data),
    ]
    for public_key, sig, payload in bad:
        assert verify(public_key, sig, payload) is False  # type: ignore[arg-type]


def test_the_node_id_is_checked_against_the_key() -> None:
    me, other = Identity.generate(), Identity.generate()
    assert node_id_of(other.public_key) != me.node_id
    for garbage in (b"", me.public_key[:31], me.public_key + b"\0", None, "x" * 32, 32):
        assert node_id_of(garbage) == ""  # type: ignore[arg-type]


# -- message numbers: the pure counter --------------------------------------------------------


def take(counter: SeqCounter) -> int:
    """What SeqReservation does, with a dict for a file."""
    high = counter.due()
    if high is not None:
        counter.stored(high)
    return counter.take()


def test_the_counter_reserves_a_block_before_the_first_number() -> None:
    counter = SeqCounter(0, block=3)
    with pytest.raises(RuntimeError):
        counter.take()
    assert counter.due() == 3
    counter.stored(3)
    assert [counter.due() for _ in range(2)] == [None, None]
    assert [counter.take() for _ in range(3)] == [1, 2, 3]
    assert counter.due() == 6  # at the end of a block: the next one first
    with pytest.raises(RuntimeError):
        counter.take()
    counter.stored(6)
    assert counter.take() == 4


def test_the_counter_continues_after_a_stored_high_water() -> None:
    counter = SeqCounter(1000, block=1000)
    assert counter.due() == 2000
    assert [take(counter) for _ in range(1001)][-2:] == [2000, 2001]
    assert counter.reserved == 3000


def test_skip_past_never_goes_back() -> None:
    counter = SeqCounter(0, block=10)
    assert take(counter) == 1
    counter.skip_past(25)  # our message 25 came back from the room: the file was behind
    assert take(counter) == 26
    counter.skip_past(3)
    assert take(counter) == 27


def test_the_counter_refuses_to_run_out() -> None:
    counter = SeqCounter(identity.MAX_SEQ - 1, block=10)
    with pytest.raises(OverflowError):
        counter.due()
    with pytest.raises(ValueError):
        SeqCounter(0, block=0)


# -- message numbers on disk ------------------------------------------------------------------


def test_numbers_continue_after_a_clean_restart_without_a_gap(tmp_path: Path) -> None:
    seqs = SeqReservation.load(tmp_path, block=10)
    assert (tmp_path / SEQ_FILE).read_text() == "10\n"  # reserved before the first number
    assert [seqs.next() for _ in range(4)] == [1, 2, 3, 4]
    seqs.close()
    assert (tmp_path / SEQ_FILE).read_text() == "4\n"
    with pytest.raises(RuntimeError):
        seqs.next()
    again = SeqReservation.load(tmp_path, block=10)
    assert again.first == 5 and again.next() == 5


def test_a_crash_leaves_a_gap_and_never_a_repeat(tmp_path: Path) -> None:
    seqs = SeqReservation.load(tmp_path, block=10)
    assert [seqs.next() for _ in range(4)] == [1, 2, 3, 4]
    del seqs  # killed: no close
    after = SeqReservation.load(tmp_path, block=10)
    assert after.first == 11 and after.next() == 11
    assert (tmp_path / SEQ_FILE).read_text() == "20\n"


def test_the_next_block_is_stored_before_its_first_number(tmp_path: Path) -> None:
    seqs = SeqReservation.load(tmp_path, block=3)
    assert [seqs.next() for _ in range(3)] == [1, 2, 3]
    assert (tmp_path / SEQ_FILE).read_text() == "3\n"  # the block is used up, not yet renewed
    assert seqs.next() == 4
    assert (tmp_path / SEQ_FILE).read_text() == "6\n"


def test_random_crashes_and_restarts_never_repeat_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not this test's subject
    rng = random.Random(9)
    used: list[int] = []
    for _ in range(60):
        seqs = SeqReservation.load(tmp_path, block=rng.choice([1, 2, 7, 50]))
        used += [seqs.next() for _ in range(rng.randrange(0, 40))]
        if rng.random() < 0.5:
            seqs.close()  # otherwise a crash
    assert len(used) == len(set(used)) and used == sorted(used)


def test_a_failed_reservation_hands_out_no_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = SeqReservation.load(tmp_path, block=2)
    assert [seqs.next(), seqs.next()] == [1, 2]

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(identity, "_write_file", disk_full)
    with pytest.raises(OSError):
        seqs.next()
    monkeypatch.undo()
    assert seqs.next() == 3
    assert (tmp_path / SEQ_FILE).read_text() == "4\n"


@pytest.mark.parametrize("content", [b"", b"abc", b"-5\n", b"1.5", b"9" * 30, b"\xff\xfe"])
def test_a_damaged_counter_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / SEQ_FILE
    path.write_bytes(content)
    with pytest.raises(StartupError) as caught:
        SeqReservation.load(tmp_path)
    assert str(path) in str(caught.value) and caught.value.status == 1
    assert path.read_bytes() == content


def test_the_counter_file_is_private(tmp_path: Path, umask_zero: None) -> None:
    SeqReservation.load(tmp_path)
    assert mode(tmp_path / SEQ_FILE) == 0o600


def test_an_unwritable_dir_is_found_at_startup(tmp_path: Path) -> None:
    (tmp_path / (SEQ_FILE + ".new")).mkdir()  # the temp file cannot be created
    (tmp_path / (SEQ_FILE + ".new") / "x").touch()
    with pytest.raises(StartupError) as caught:
        SeqReservation.load(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_ephemeral_numbers_start_at_one_and_touch_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seqs = SeqReservation.ephemeral()
    assert [seqs.next() for _ in range(2500)][:3] == [1, 2, 3]
    assert seqs.next() == 2501
    seqs.close()
    assert list(tmp_path.iterdir()) == []
