"""A node's own folder: a lock, so two processes never share it, the peers it remembers, and a
folder per room for the room's messages.

The remembered peers are kept per ``--tracker`` list, so a node started the same way again
finds its room through them when the tracker addresses fail. The file is small, bounded and
written whole (a new file renamed over the old), so a crash never leaves half of it.

The messages are kept per room (its ``--room`` name, ``--tracker`` list and secret's hash): a
data dir used in two rooms must never show one room's history in the other, or hand it on to
the other's members.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from peerchat.addresses import address_key, format_addr, is_loopback, parse_addr
from peerchat.membership import takeable, valid_room_name
from peerchat.store import FILE as STORE_FILE
from peerchat.tracker_address import StartupError

PEERS_FILE = "peers.json"
RESAVE = 3600.0  # a room's peers unchanged are written again this often: when it was last in
JOINED_FILE = "joined.json"  # the rooms joined with /join and not left, while the program runs
LOCK_FILE = "lock"
ROOMS_DIR = "rooms"
MAX_PEERS = 64  # per --tracker list
MAX_PEERS_PER_HOST = 8  # of those, at one host: one computer's many keys push out no others
MAX_ROOMS = 16  # --tracker lists remembered, the most recently used kept
MAX_JOINED = 15  # rooms rejoined at a start: with the first, ``rooms.MAX_ROOMS``

Address = tuple[str, int]

log = logging.getLogger(__name__)


class InUse(StartupError):
    """Another peerchat process holds the data dir."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the data dir {path} is in use by another peerchat process; give this one its own "
            "with --data-dir (or --ephemeral)",
            2,
        )
        self.path = path


class DataDir:
    def __init__(self, path: Path, named: Callable[[str], Path] | None = None) -> None:
        """Create (private to this user) and lock ``path``; a clear error when another
        process holds it. ``named``: where the data dir of another username would be, for a
        data dir found by its user's name (not ``--data-dir``): see ``answer_to``."""
        self.path = path
        self._named = named
        try:
            self.made = not path.exists()  # by this process: ``discard`` may take it away
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StartupError(f"cannot use the data dir {path}: {exc.strerror or exc}", 2) from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            raise InUse(path) from None

    def answer_to(self, username: str) -> None:
        """After ``/nick NAME``, ``--username NAME`` finds this data dir too (a link by that
        name beside it), so the same person comes back with the same key: a user trial's
        restart under the name it had taken read "gwen is back with another key" on every
        screen. Nothing is made where a data dir of that name is already."""
        if self._named is None:
            return
        there, real = self._named(username), self.path.resolve()
        if there.resolve() == real or os.path.lexists(there):
            return
        target = real.name if real.parent == there.parent.resolve() else str(real)
        try:
            there.symlink_to(target, target_is_directory=True)
        except OSError as exc:
            log.info("cannot link %s to the data dir %s: %s", there, real, exc)

    def close(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = -1

    def discard(self) -> None:
        """Close it, and remove it if this process made it: a room that could not be joined
        leaves no folder with a key behind (a user trial found one per failed /join). Removed
        while still locked: another process cannot take it up meanwhile."""
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
        self.close()

    def room_path(self, trackers: tuple[Address, ...], room_name: str, psk: bytes) -> Path:
        """The folder for the messages of the room found by ``room_name`` at ``trackers`` with
        the secret whose hash is ``psk`` (two rooms at one address with two secrets are two
        rooms). The store of an older version, one file for every room, goes to the first
        room opened (most people only ever use one)."""
        key = f"{room_name}|{_key(trackers)}|{psk.hex()}".encode()
        path = self.path / ROOMS_DIR / hashlib.sha256(key).hexdigest()[:16]
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            _move_store(self.path, path)
        except OSError as exc:
            raise StartupError(
                f"cannot use the data dir {self.path}: {exc.strerror or exc}", 2
            ) from exc
        return path

    def peers(self, trackers: tuple[Address, ...]) -> list[Address]:
        """The members remembered for this ``--tracker`` list, most recent first."""
        found = [parse_addr(a) for a in _addrs(self._load().get(_key(trackers), {}))]
        return [a for a in found if a is not None][:MAX_PEERS]

    def remember(self, trackers: tuple[Address, ...], room: str, peers: list[Address]) -> None:
        rooms = self._load()
        key = _key(trackers)
        old = [a for a in _addrs(rooms.get(key, {})) if parse_addr(a) is not None]
        fresh = [format_addr(*a) for a in peers]
        merged = _few_per_host(list(dict.fromkeys(fresh + old)))[:MAX_PEERS]
        was, now = rooms.get(key, {}), time.time()
        if (was.get("room"), was.get("peers")) == (room, merged) and now - _saved(was) < RESAVE:
            return  # (an idle node wrote the same every 5 s, all day: a trial)
        rooms[key] = {"room": room, "peers": merged, "saved": now}
        newest = sorted(rooms.items(), key=lambda kv: -_saved(kv[1]))[:MAX_ROOMS]
        tmp = self.path / (PEERS_FILE + ".new")
        tmp.write_text(json.dumps(dict(newest), indent=1))
        tmp.replace(self.path / PEERS_FILE)

    def joined(self) -> list[tuple[str, Address | None, str | None]]:
        """The rooms joined with ``/join`` (each with the address it was joined at, if any,
        and the name the user went by there, if known) that the last run of the program was
        in, or joining, when it ended without ``/quit``."""
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((self.path / JOINED_FILE).read_text())
            if isinstance(data, list):
                return [r for entry in data[:MAX_JOINED] if (r := _joined(entry)) is not None]
        return []

    def keep_joined(self, rooms: list[tuple[str, Address | None, str | None]]) -> None:
        """The rooms joined with ``/join`` now: rejoined at a start after a crash or a kill."""
        entries = [[room, format_addr(*addr) if addr else None, name] for room, addr, name in rooms]
        tmp = self.path / (JOINED_FILE + ".new")
        with contextlib.suppress(OSError):  # (a full disk: the rooms are not rejoined, that is all)
            tmp.write_text(json.dumps(entries))
            tmp.replace(self.path / JOINED_FILE)

    def _load(self) -> dict[str, dict]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((self.path / PEERS_FILE).read_text())
            if isinstance(data, dict):
                return {k: v for k, v in data.items() if isinstance(v, dict)}
        return {}


def _move_store(old: Path, new: Path) -> None:
    """Move the one store of an older version, if any, from ``old`` to ``new``: its journal
    written into it first, so that a single file moves."""
    legacy = old / STORE_FILE
    if not legacy.exists() or (new / STORE_FILE).exists():
        return
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(legacy)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(legacy, new / STORE_FILE)
    for journal in ("-wal", "-shm"):  # left only when the checkpoint could not run
        with contextlib.suppress(FileNotFoundError):
            os.replace(old / (STORE_FILE + journal), new / (STORE_FILE + journal))


def _key(trackers: tuple[Address, ...]) -> str:
    return ",".join(format_addr(*a) for a in trackers)


def _joined(entry: object) -> tuple[str, Address | None, str | None] | None:
    """One room of ``JOINED_FILE``, if it reads as one (an older program's has no name)."""
    if not isinstance(entry, list) or len(entry) not in (2, 3):
        return None
    room, addr, name = (*entry, None)[:3]
    if not isinstance(room, str) or not valid_room_name(room):
        return None
    if not (isinstance(name, str) and takeable(name)):
        name = None
    if addr is None:
        return room, None, name
    at = parse_addr(addr) if isinstance(addr, str) else None
    return None if at is None else (room, at, name)


def _addrs(entry: dict) -> list[str]:
    """The addresses of one remembered room, as text; nothing when the file says otherwise."""
    peers = entry.get("peers")
    return [a for a in peers if isinstance(a, str)] if isinstance(peers, list) else []


def _saved(entry: dict) -> float:
    saved = entry.get("saved")
    return saved if isinstance(saved, int | float) else 0.0


def _few_per_host(addrs: list[str]) -> list[str]:
    """``addrs`` (HOST:PORT, parsed before), the first ``MAX_PEERS_PER_HOST`` of each host
    (as counted per address: an IPv6 /48 is one; this computer's loopback is one too)."""
    seen: dict[str, int] = {}
    out = []
    for text in addrs:
        parsed = parse_addr(text)
        host = text if parsed is None else "" if is_loopback(parsed[0]) else address_key(parsed[0])
        seen[host] = seen.get(host, 0) + 1
        if seen[host] <= MAX_PEERS_PER_HOST:
            out.append(text)
    return out
