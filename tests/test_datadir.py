"""peerchat.datadir: the node's own folder, its lock, and the peers it remembers."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from peerchat import datadir
from peerchat.batch import room_tag, seal
from peerchat.chat import Chat
from peerchat.datadir import JOINED_FILE, LOCK_FILE, MAX_PEERS, MAX_ROOMS, PEERS_FILE, DataDir
from peerchat.handshake import OPEN_ROOM, room_key
from peerchat.identity import Identity
from peerchat.store import FILE as STORE_FILE
from peerchat.store import Store
from peerchat.tracker_address import StartupError

ROOM = room_tag("", "127.0.0.1:5000", OPEN_ROOM)  # an open room without a name

TRACKERS = (("10.0.0.1", 9000),)
OTHER = (("10.0.0.2", 9000), ("::1", 9001))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the wall time that ``remember`` stamps on what it saves."""
    now = [1000.0]
    monkeypatch.setattr(datadir, "time", SimpleNamespace(time=lambda: now[0]))

    def set_time(t: float) -> None:
        now[0] = t

    return set_time


@pytest.fixture
def data(tmp_path: Path) -> Iterator[DataDir]:
    d = DataDir(tmp_path / "node")
    yield d
    d.close()


def saved(d: DataDir) -> dict:
    return json.loads((d.path / PEERS_FILE).read_text())


# -- the folder and its lock ------------------------------------------------------------------


def test_creates_the_folder_private_to_the_user(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    d = DataDir(path)
    try:
        assert path.is_dir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert (path / LOCK_FILE).exists()
    finally:
        d.close()


def test_a_second_datadir_on_the_same_folder_is_refused(data: DataDir) -> None:
    with pytest.raises(StartupError) as caught:
        DataDir(data.path)
    assert caught.value.status == 2
    message = str(caught.value)
    assert str(data.path) in message
    assert "--data-dir" in message and "--ephemeral" in message


def test_close_releases_the_lock(tmp_path: Path) -> None:
    first = DataDir(tmp_path)
    first.close()
    second = DataDir(tmp_path)
    try:
        with pytest.raises(StartupError):
            DataDir(tmp_path)
    finally:
        second.close()


def test_a_data_dir_answers_to_the_names_its_user_took(tmp_path: Path) -> None:
    """A user trial: gina, then /nick gwen; started again as gwen, she was "gwen is back with
    another key" on every screen (a data dir of gwen's own, made anew)."""
    named = lambda username: tmp_path / f"{username}@dev"  # noqa: E731
    gina = DataDir(named("gina"), named)
    key = Identity.load_or_create(gina.path).node_id
    (tmp_path / "zed@dev").mkdir()  # another user's
    for name in ("gwen", "zed", "gina"):
        gina.answer_to(name)
    assert (tmp_path / "gwen@dev").is_symlink() and not (tmp_path / "zed@dev").is_symlink()
    assert not (tmp_path / "gina@dev").is_symlink()
    with pytest.raises(StartupError):  # the same data dir: one process at a time
        DataDir(named("gwen"), named)
    gina.close()
    gwen = DataDir(named("gwen"), named)
    assert Identity.load_or_create(gwen.path).node_id == key
    gwen.answer_to("gwyn")  # a second /nick: all three names find it
    assert Identity.load_or_create(tmp_path / "gwyn@dev").node_id == key
    gwen.close()
    unnamed = DataDir(tmp_path / "own")  # --data-dir: nothing is made
    unnamed.answer_to("bob")
    assert not (tmp_path / "bob@dev").exists() and not (tmp_path / "bob").exists()
    unnamed.close()


def test_two_folders_do_not_conflict(tmp_path: Path) -> None:
    a, b = DataDir(tmp_path / "a"), DataDir(tmp_path / "b")
    a.close()
    b.close()


def test_a_file_in_place_of_the_folder_is_a_startup_error(tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.write_text("not a folder")
    with pytest.raises(StartupError, match="cannot use the data dir") as caught:
        DataDir(path)
    assert caught.value.status == 2


# -- remembered peers -------------------------------------------------------------------------


def test_nothing_remembered_at_first(data: DataDir) -> None:
    assert data.peers(TRACKERS) == []
    assert not (data.path / PEERS_FILE).exists()


def test_remember_then_peers_round_trip(data: DataDir, clock: Callable[[float], None]) -> None:
    peers = [("10.0.0.5", 7000), ("fe80::1", 7001), ("host.lan", 7002)]
    data.remember(TRACKERS, "room", peers)
    assert data.peers(TRACKERS) == peers


def test_remembered_peers_survive_a_restart(tmp_path: Path, clock: Callable[[float], None]) -> None:
    first = DataDir(tmp_path)
    first.remember(OTHER, "room", [("10.0.0.5", 7000)])
    first.close()
    second = DataDir(tmp_path)
    try:
        assert second.peers(OTHER) == [("10.0.0.5", 7000)]
    finally:
        second.close()


def test_most_recent_first_without_duplicates(
    data: DataDir, clock: Callable[[float], None]
) -> None:
    a, b, c = ("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.0.3", 3)
    data.remember(TRACKERS, "room", [a, b])
    data.remember(TRACKERS, "room", [c, a])
    assert data.peers(TRACKERS) == [c, a, b]


def test_the_same_peers_are_written_again_only_after_a_while(
    data: DataDir, clock: Callable[[float], None]
) -> None:
    """Trial 50: an idle node wrote the same peers.json every 5 s."""
    peers = [("10.0.0.1", 1)]
    data.remember(TRACKERS, "room", peers)
    written = (data.path / PEERS_FILE).stat().st_mtime_ns
    os.utime(data.path / PEERS_FILE, ns=(written - 10**9, written - 10**9))
    clock(1000.0 + datadir.RESAVE - 1)
    data.remember(TRACKERS, "room", peers)
    assert (data.path / PEERS_FILE).stat().st_mtime_ns == written - 10**9  # not written
    data.remember(TRACKERS, "room", [("10.0.0.2", 2)])  # changed: written
    assert data.peers(TRACKERS) == [("10.0.0.2", 2), ("10.0.0.1", 1)]
    clock(1000.0 + 2 * datadir.RESAVE)
    data.remember(TRACKERS, "room", [("10.0.0.2", 2)])
    (entry,) = saved(data).values()
    assert entry["saved"] == 1000.0 + 2 * datadir.RESAVE  # when it was last in, now and then


def test_peers_are_kept_per_tracker_list(data: DataDir, clock: Callable[[float], None]) -> None:
    data.remember(TRACKERS, "one", [("10.0.0.1", 1)])
    data.remember(OTHER, "two", [("10.0.0.2", 2)])
    assert data.peers(TRACKERS) == [("10.0.0.1", 1)]
    assert data.peers(OTHER) == [("10.0.0.2", 2)]
    assert data.peers((("10.0.0.9", 9000),)) == []


def test_peers_bounded_by_max_peers(data: DataDir, clock: Callable[[float], None]) -> None:
    many = [(f"10.0.1.{n}", 7000) for n in range(1, MAX_PEERS + 11)]
    data.remember(TRACKERS, "room", many)
    assert data.peers(TRACKERS) == many[:MAX_PEERS]
    (entry,) = saved(data).values()
    assert len(entry["peers"]) == MAX_PEERS


def test_rooms_bounded_by_max_rooms_keeping_the_most_recent(
    data: DataDir, clock: Callable[[float], None]
) -> None:
    lists = [(("10.0.0.1", 9000 + i),) for i in range(MAX_ROOMS + 1)]
    for i, trackers in enumerate(lists[:MAX_ROOMS]):
        clock(1000.0 + i)
        data.remember(trackers, f"room{i}", [("10.0.2.1", i + 1)])
    clock(1000.0 + datadir.RESAVE)  # (the same peers are stamped anew this often)
    data.remember(lists[0], "room0", [("10.0.2.1", 1)])  # used again: now the most recent
    clock(1001.0 + datadir.RESAVE)
    data.remember(lists[MAX_ROOMS], "new", [("10.0.2.1", 99)])
    assert len(saved(data)) == MAX_ROOMS
    assert data.peers(lists[1]) == []  # the least recently used is forgotten
    assert data.peers(lists[0]) == [("10.0.2.1", 1)]
    assert data.peers(lists[MAX_ROOMS]) == [("10.0.2.1", 99)]
    assert data.peers(lists[2]) == [("10.0.2.1", 3)]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2, 3]", b'"text"', b"\xff\xfe\x00garbage", b""],
    ids=["corrupt", "list", "string", "binary", "empty"],
)
def test_a_bad_peers_file_is_ignored(
    data: DataDir, clock: Callable[[float], None], content: bytes
) -> None:
    (data.path / PEERS_FILE).write_bytes(content)
    assert data.peers(TRACKERS) == []
    data.remember(TRACKERS, "room", [("10.0.0.5", 7000)])
    assert data.peers(TRACKERS) == [("10.0.0.5", 7000)]


def test_bad_entries_in_the_peers_file_are_skipped(
    data: DataDir, clock: Callable[[float], None]
) -> None:
    key = "10.0.0.1:9000"
    bad = {key: {"peers": ["10.0.0.5:7000", 42, "no port", "[::1]:0", "[::1]:7001"]}, "x": 3}
    (data.path / PEERS_FILE).write_text(json.dumps(bad))
    assert data.peers(TRACKERS) == [("10.0.0.5", 7000), ("::1", 7001)]
    data.remember(TRACKERS, "room", [("10.0.0.6", 7000)])
    assert data.peers(TRACKERS) == [("10.0.0.6", 7000), ("10.0.0.5", 7000), ("::1", 7001)]
    assert "x" not in saved(data)


def test_a_non_list_peers_value_is_ignored(data: DataDir) -> None:
    (data.path / PEERS_FILE).write_text(json.dumps({"10.0.0.1:9000": {"peers": 5}}))
    assert data.peers(TRACKERS) == []


def test_the_file_is_replaced_whole(data: DataDir, clock: Callable[[float], None]) -> None:
    (data.path / (PEERS_FILE + ".new")).write_text("left by a crash")
    data.remember(TRACKERS, "room", [("10.0.0.5", 7000)])
    before = (data.path / PEERS_FILE).stat().st_ino
    data.remember(TRACKERS, "room", [("10.0.0.6", 7000)])
    assert (data.path / PEERS_FILE).stat().st_ino != before  # a new file renamed over the old
    assert sorted(p.name for p in data.path.iterdir()) == [LOCK_FILE, PEERS_FILE]
    assert saved(data) == {
        "10.0.0.1:9000": {
            "room": "room",
            "peers": ["10.0.0.6:7000", "10.0.0.5:7000"],
            "saved": 1000.0,
        }
    }


# -- the messages, a folder per room ----------------------------------------------------------


def test_each_room_keeps_its_messages_apart(data: DataDir) -> None:
    """Another --tracker list, --room name or secret is another room: another folder (a data
    dir used in two rooms showed one room's history in the other, in a user trial)."""
    first = data.room_path(TRACKERS, "", OPEN_ROOM)
    assert first == data.room_path(TRACKERS, "", OPEN_ROOM)  # the same room: the same folder
    others = {
        data.room_path(OTHER, "", OPEN_ROOM),
        data.room_path(TRACKERS, "dev", OPEN_ROOM),
        data.room_path(TRACKERS, "", room_key("a secret")),
    }
    assert first not in others and len(others) == 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in (first, *others))


def test_the_one_store_of_an_older_version_goes_to_the_first_room_opened(data: DataDir) -> None:
    """With what its journal still held: a process killed leaves its last commits there."""
    with Store(data.path) as old:  # where an earlier version kept it
        old.add(seal(Identity.generate(), "bob", [Chat("", 1, 1, "kept", 1.0, 0.0)], ROOM), 1.0)
        old.flush()
        files = [STORE_FILE, STORE_FILE + "-wal"]
        crashed = {name: (data.path / name).read_bytes() for name in files}
    for name, content in crashed.items():  # as the kill left them
        (data.path / name).write_bytes(content)
    assert (data.path / (STORE_FILE + "-wal")).stat().st_size > 0
    first = data.room_path(TRACKERS, "", OPEN_ROOM)
    assert sorted(p.name for p in first.iterdir()) == [STORE_FILE]
    assert not (data.path / STORE_FILE).exists()
    with Store(first) as moved:
        assert moved.count() == 1
    assert not (data.room_path(OTHER, "", OPEN_ROOM) / STORE_FILE).exists()


def test_rooms_joined_are_kept_and_what_does_not_read_as_one_is_left_out(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "alice")
    assert data.joined() == []
    data.keep_joined([("ops", ("10.0.0.2", 9000), "alicia"), ("dev", None, "alice")])
    assert data.joined() == [("ops", ("10.0.0.2", 9000), "alicia"), ("dev", None, "alice")]
    garbage = [
        ["ops", "10.0.0.2:9000"],  # an older program's: no name
        ["dev", None, "bad~name"],  # a name no one may take: the room without it
        ["Bad Name", None],
        ["dev", "nowhere"],
        [1, 2],
        "x",
    ]
    (tmp_path / "alice" / JOINED_FILE).write_text(json.dumps(garbage))
    assert data.joined() == [("ops", ("10.0.0.2", 9000), None), ("dev", None, None)]
    (tmp_path / "alice" / JOINED_FILE).write_text("{not json")
    assert data.joined() == []
    data.close()
