"""The room's messages on disk, so that a restart, a late join or a partition loses nothing.

One SQLite file, ``messages.db`` in the room's folder of the data dir (``datadir.room_path``;
``:memory:`` for an ephemeral node), in WAL mode with ``synchronous=NORMAL``: a commit appends
to the log without waiting for the disk, and a power cut can lose the last commits but never
corrupt the file (what is lost is fetched again from a peer). A row is an author's signed batch
(``batch``) as it came, keyed by (author, first number): a message (author, seq) is in the one
row whose range holds it, and handing messages on is sending rows as they are, with the
author's signature. A row also says whether that signature was checked: a batch that came from
its author over the author's own link was not (the link proved who sent it), and is checked
once before it is first handed on.

Writes are cheap for the event loop: ``add`` only appends to a list, and ``flush`` (every
``Config.store_interval``, before every read, and at the end) writes everything since the last
one in a single transaction, one row per batch rather than per message.

A disk that refuses writes (full, read-only, failing) does not stop the chat: a write that
fails is left out, and ``trouble`` says why until one gets through again. The batches of a
flush that failed wait in memory for the next (the latest ``MAX_UNSAVED_BYTES`` of them; the
messages of those that did not fit are counted in ``lost``). A file found damaged when it is
opened is set aside, its name ending in ``.damaged``, and the room's messages are fetched from
the others again.

Retention: ``keep_messages`` messages, ``keep_bytes`` bytes, and none older than
``keep_seconds`` (by arrival here), enforced by ``prune``, oldest batches first. Batches are
kept or dropped whole (one signature), so the newest ``keep_messages`` are kept with the rest of
the batch the oldest of them is in: up to ``MAX_ITEMS - 1`` more.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from peerchat.batch import MAX_ITEMS, Batch, open_batch
from peerchat.bounded import keep_latest
from peerchat.names import READING, looks
from peerchat.tracker_address import StartupError

FILE = "messages.db"
MEMORY = ":memory:"
SCHEMA_VERSION = 5
MAX_NAMES = 10_000  # names remembered with their keys, the most recently seen
MAX_HOLDERS = 8  # keys remembered under each of those names, the earliest
# Names remembered of each key, its latest: a flood of renames by a few keys must not push a
# member's name out of the ``MAX_NAMES`` (attack round 27: 50 keys, 10,050 names, and a
# stranger took "bob" at the next start, the real bob "another key" for good).
MAX_NAMES_PER_KEY = 8
NAMES_PER_LOOK = 16  # names read alike kept for ``like_owner``: the first of each look
MAX_NAMED = 256  # names whose key the user named (``confirm``), the latest
# How long each name was gone by here, in all (``held``): the bound of names kept
# (``MAX_NAMES``) never prunes the ``MAX_HELD`` gone by longest; it prunes the rest, the oldest
# first (attack round 59: 1,700 throwaway keys, 8 names each, a second each, pushed out the
# name of bob, who had quit, and a stranger came in as bob unwarned and had alice's /msg bob;
# attack round 60: a stay of 2 minutes was pushed out so, and the 5 minutes counted then were
# lost to a crash). Stays are counted as they end, and every ``COUNT_EVERY`` seconds.
MAX_HELD = 10_000
COUNT_EVERY = 60.0
MAX_HOLDING = 4_096  # keys whose stay under a name is being timed, the latest
NAMES_PRUNED_AFTER = 1_000  # names bound since the last prune of them that set one off
MAX_KEPT_FETCHES = 64  # unfinished fetches remembered to go on with, the latest
MAX_SAVED = 256  # files fetched whole remembered, the latest
MAX_UNSAVED_BYTES = 16 * 1024 * 1024  # of batches waiting in memory while writes fail
# What a batch waiting in memory takes beyond its data and signature (the row's tuple and its
# fields): counted only by their bytes, a flood of one-message batches took 98 MiB for 16
# (attack round 24).
ROW_COST = 256
# Past the bounds, the oldest batches go, but never the newest batch of an author in the room
# (``kept_authors``; in a room of ``SHARES`` authors at most), nor its newest share of the
# bounds, a ``SHARES``-th (or the room's authors' share, when more): one key's flood of tiny
# lines pruned every other member's history out of the stores it reached in seconds (attack
# round 49). Keys gone from the room have no share: 12,000 throwaway keys had left a member 8
# lines of 300 (review 66).
SHARES = 64
_HELD_BY_AUTHOR = (
    "SELECT author, sum(last - first + 1), sum(length(data)) FROM batches GROUP BY author"
)
DAMAGED = ".damaged"  # the end of the name a damaged store is set aside under
_DAMAGE = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
# A batch as written: author, first, last, lamport, arrived, data, sig, checked, said.
Row = tuple[str, int, int, int, float, bytes, bytes, bool, float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    author TEXT NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    lamport INTEGER NOT NULL,
    arrived REAL NOT NULL,
    data BLOB NOT NULL,
    sig BLOB NOT NULL,
    checked INTEGER NOT NULL DEFAULT 0,
    said REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (author, first)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS by_said ON batches (said);
CREATE TABLE IF NOT EXISTS seen (
    author TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS names (
    username TEXT PRIMARY KEY,
    author TEXT NOT NULL,
    since REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS looks (
    look TEXT NOT NULL,
    username TEXT NOT NULL,
    PRIMARY KEY (look, username)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reading (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS named (
    username TEXT PRIMARY KEY,
    author TEXT NOT NULL,
    since REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS held (
    username TEXT PRIMARY KEY,
    seconds REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS went_by (
    author TEXT PRIMARY KEY,
    username TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holders (
    username TEXT NOT NULL,
    author TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (username, author)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fetches (
    sender TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    part TEXT NOT NULL,
    kept INTEGER NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (sender, sha256, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS saved (
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (sha256, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ignored (
    author TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    since REAL NOT NULL
) WITHOUT ROWID;
"""


class Store:
    def __init__(self, where: Path | str) -> None:
        """Open (creating if need be) ``where/messages.db``, or an in-memory store for
        ``":memory:"``."""
        target = MEMORY if where == MEMORY else str(Path(where) / FILE)
        self.lasting = target != MEMORY  # kept after the program ends
        self.path = target
        self.set_aside = ""  # where a damaged file found at the start was moved to
        self.dropped = 0  # messages an earlier version kept, dropped (``_drop_unbound``)
        self.trouble = ""  # why the last write failed, until one gets through
        self.lost = 0  # messages that could not wait in memory for the disk
        self._pending: list[Row] = []
        self._names_added = 0  # names bound since their last prune
        self._holding: dict[str, tuple[str, float]] = {}  # key -> (its name, counted from)
        self._counted_at = -math.inf  # when the stays going on were last counted (``count_stays``)
        # The keys whose names no prune takes (the node's: those in the room or away from it):
        # 1,400 throwaway keys renaming pushed an away member's name out, and a stranger then
        # came in under it with no "another key" said (attack round 39 F2).
        self.kept_authors: Callable[[], Collection[str]] = tuple
        try:
            self._open(target)
        except sqlite3.DatabaseError as exc:
            if not self.lasting or exc.sqlite_errorcode not in _DAMAGE:
                raise StartupError(f"cannot open the message store {target}: {exc}", 2) from exc
            self._db.close()
            self.set_aside = _set_aside(Path(target))
            self._open(target)

    def _open(self, target: str) -> None:
        """Open ``target``, its tables brought to this version, and count what it keeps."""
        self._db = sqlite3.connect(target, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():  # all of an upgrade or none: half of one never opened again
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:  # (a review: its messages were dropped as old ones)
                raise StartupError(
                    f"the message store {target} is of a newer version of peerchat", 2
                )
            if version not in (0, SCHEMA_VERSION):
                self._drop_unbound()
            for statement in _SCHEMA.split(";"):  # (executescript would commit first)
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._read_names()
        # Messages and bytes kept, counted as they are added (duplicates too).
        self.approx_count, self.approx_bytes = self.count(), self.size()

    def _read_names(self) -> None:
        """The looks of the names known, for those bound before the table was, or all of them
        read anew when the reading changed (``READING``: a look-alike folded since)."""
        read = self._db.execute("SELECT version FROM reading").fetchone()
        if read is None or read[0] != READING:
            self._db.execute("DELETE FROM looks")
            self._db.execute("INSERT OR REPLACE INTO reading VALUES (1, ?)", (READING,))
        # In the order they were first held: a look keeps its first names (review 73: read
        # anew by name, "bob" was left out of his look's 16, and a look-alike taker then
        # counted as the first)
        unread = (
            "SELECT username FROM names WHERE username NOT IN (SELECT username FROM looks)"
            " ORDER BY coalesce((SELECT min(since) FROM holders h"
            " WHERE h.username = names.username), since), username"
        )
        self._add_looks([u for (u,) in self._db.execute(unread)])

    def _drop_unbound(self) -> None:
        """Drop the messages an earlier version kept: their batches name no room, and no
        member takes them now (``batch.room_tag``). The rest (names, fetches to go on with,
        where each author was shown up to) is kept."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "batches" in tables:
            count = "SELECT coalesce(sum(last - first + 1), 0) FROM batches"
            self.dropped = self._db.execute(count).fetchone()[0]
        for old in ("messages", "batches"):  # (``messages``: the unused first schema)
            self._db.execute(f"DROP TABLE IF EXISTS {old}")
        for index in ("by_end", "by_said"):
            self._db.execute(f"DROP INDEX IF EXISTS {index}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def add(self, b: Batch, arrived: float) -> None:
        """Keep batch ``b`` (written at the next ``flush``; one already kept is ignored then)."""
        when = said(b, arrived)
        self._pending.append(
            (b.author, b.first, b.last, b.lamport, arrived, b.data, b.sig, b.checked, when)
        )
        self.approx_count += len(b.items)
        self.approx_bytes += len(b.data)

    def flush(self) -> int:
        """Write what was added since the last flush, in one transaction; how many batches were
        waiting (one already kept among them is counted, not written)."""
        pending, self._pending = self._pending, []
        if pending:
            try:
                with self._written():
                    self._db.executemany(
                        "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", pending
                    )
            except BaseException:  # kept for the next flush: a hole would never be filled
                self._pending = pending + self._pending
                raise
            if self.trouble:
                self._pending = self._unsaved(pending + self._pending)
        return len(pending)

    def _unsaved(self, pending: list[Row]) -> list[Row]:
        """The latest of ``pending`` that fit in ``MAX_UNSAVED_BYTES``; the others' messages
        are counted as ``lost``."""
        room, at = MAX_UNSAVED_BYTES, len(pending)
        while at and room >= (cost := _cost(pending[at - 1])):
            at -= 1
            room -= cost
        self.lost += sum(last - first + 1 for _, first, last, *_ in pending[:at])
        return pending[at:]

    def _flushed(self) -> None:
        """What a read sees first: what was added, written, unless writes fail now (then the
        next ``flush`` tries again, not every read)."""
        if not self.trouble:
            self.flush()

    def drop(self, batches: list[Batch]) -> None:
        """Forget ``batches`` (kept unchecked, and found not to hold)."""
        with self._written():
            self._db.executemany(
                "DELETE FROM batches WHERE author = ? AND first = ? AND checked = 0",
                [(b.author, b.first) for b in batches],
            )
        self.approx_count -= sum(len(b.items) for b in batches)
        self.approx_bytes -= sum(len(b.data) for b in batches)

    def checked(self, batches: list[Batch]) -> None:
        """The signatures of ``batches``, kept unchecked, were found to hold."""
        with self._written():
            self._db.executemany(
                "UPDATE batches SET checked = 1 WHERE author = ? AND first = ? AND sig = ?",
                [(b.author, b.first, b.sig) for b in batches],  # the very bytes checked
            )

    def count(self) -> int:
        """How many messages are kept."""
        self._flushed()
        (count,) = self._db.execute("SELECT coalesce(sum(last - first + 1), 0) FROM batches")
        return count[0]

    def size(self) -> int:
        """Bytes of signed batches kept."""
        self._flushed()
        (size,) = self._db.execute("SELECT coalesce(sum(length(data)), 0) FROM batches")
        return size[0]

    def has(self, author: str, first: int) -> bool:
        """The batch of ``author`` that begins at ``first`` is kept."""
        self._flushed()
        row = self._db.execute(
            "SELECT 1 FROM batches WHERE author = ? AND first = ?", (author, first)
        ).fetchone()
        return row is not None

    def keeps(self, b: Batch) -> bool:
        """These very bytes and signature are kept: a copy of them needs no check."""
        self._flushed()
        row = self._db.execute(
            "SELECT 1 FROM batches WHERE author = ? AND first = ? AND data = ? AND sig = ?",
            (b.author, b.first, b.data, b.sig),
        ).fetchone()
        return row is not None

    def heads(self) -> dict[str, tuple[str, int, int]]:
        """Per author: its username in its latest batch, its last number kept, and that
        message's Lamport time; what a restarted node starts from. The author whose latest
        batch came last comes last."""
        self._flushed()
        rows = self._db.execute(
            "SELECT author, data, sig, max(last), arrived FROM batches GROUP BY author"
        ).fetchall()
        rows.sort(key=lambda row: row[4])  # (the arrival of the batch with its last number)
        out = {}
        for author, data, sig, last, _ in rows:
            b = open_batch(data, sig)
            out[author] = (b.username, last, b.lamport + len(b.items) - 1)
        return out

    def save_seen(self, shown: dict[str, int]) -> None:
        """Per author, the last message shown in order (or skipped): where a restart goes on
        from, also for an author of whom nothing is kept."""
        if shown:
            with self._written():
                self._db.executemany(
                    "INSERT INTO seen VALUES (?, ?) ON CONFLICT (author)"
                    " DO UPDATE SET seq = max(seq, excluded.seq)",
                    shown.items(),
                )

    def forget_silent(self, author: str) -> None:
        """``author`` left having said nothing: no row of how far it was shown."""
        with self._written():
            self._db.execute("DELETE FROM seen WHERE author = ? AND seq = 0", (author,))

    def forget_unkept(self, keep: Collection[str]) -> list[str]:
        """The authors, but for ``keep``, of whom no batch is left: their rows of how far they
        were shown go, and they are returned, to be forgotten in memory too."""
        self._flushed()
        rows = self._db.execute(
            "SELECT author FROM seen WHERE author NOT IN (SELECT author FROM batches)"
        )
        waiting = {row[0] for row in self._pending}  # (for a disk that refuses them)
        gone = [author for (author,) in rows if author not in keep and author not in waiting]
        if gone:
            with self._written():
                self._db.executemany("DELETE FROM seen WHERE author = ?", [(a,) for a in gone])
        return gone

    def seen(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT author, seq FROM seen"))

    def owner(self, username: str) -> str | None:
        """Who went by ``username`` when it was last bound to a key."""
        row = self._db.execute("SELECT author FROM names WHERE username = ?", (username,))
        found = row.fetchone()
        return found[0] if found else None

    def went_by(self, author: str) -> str | None:
        """The name this node's own key ``author`` went by here last: as it started or took
        it by /nick (``going_by``); of a store from before, the name bound to it last."""
        row = self._db.execute("SELECT username FROM went_by WHERE author = ?", (author,))
        found = row.fetchone()
        return found[0] if found else self.latest_name(author)

    def going_by(self, author: str, username: str) -> None:
        """This node's own key ``author`` goes by ``username`` here now. Kept apart from the
        names bound to keys (``name_owner``): bound at each start, its own key became a
        holder of its start name, and its screen warned of a newcomer under it as of its
        own key back (review 57)."""
        with self._written():
            self._db.execute(
                "INSERT INTO went_by VALUES (?, ?) ON CONFLICT (author) "
                "DO UPDATE SET username = excluded.username",
                (author, username),
            )

    def latest_name(self, author: str) -> str | None:
        """The name ``author`` was last bound to here, if any."""
        row = self._db.execute(
            "SELECT username FROM names WHERE author = ? ORDER BY since DESC LIMIT 1", (author,)
        )
        found = row.fetchone()
        return found[0] if found else None

    def has_names(self, author: str) -> bool:
        """Whether ``author`` went by some name here (bound to its key)."""
        row = self._db.execute("SELECT 1 FROM names WHERE author = ? LIMIT 1", (author,))
        return row.fetchone() is not None

    def _add_looks(self, usernames: Iterable[str]) -> None:
        """Note how each of ``usernames`` may be read (``looks``), for ``like_owner``: the
        first ``NAMES_PER_LOOK`` names of each look (review 72: 10,000 names of one look took
        a lookup 43 ms, at each join and rename)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO looks SELECT ?1, ?2 WHERE"
            " (SELECT count(*) FROM looks WHERE look = ?1) < ?3",
            [(look, u, NAMES_PER_LOOK) for u in usernames for look in looks(u)],
        )

    def _named_by_user(self, username: str, author: str) -> bool:
        """Whether the user named ``author``'s key under ``username`` (``confirm``)."""
        return self.chosen(username) == author

    def like_owner(self, username: str, author: str) -> tuple[str, str] | None:
        """Who went by a name like ``username`` ("bob" of "Bob", "alice" of "@lice") here
        last, and that name, unless ``author`` was the first key under any of them, or was
        named as it by the user; the name itself is ``name_owner``'s to judge. Remembered, as
        names are, past a restart (review 71: after one, a stranger came in as "Bob" with bob
        away, unwarned, and had alice's /msg bob)."""
        if self._named_by_user(username, author):
            return None
        forms = sorted(looks(username))
        among = (
            f"FROM looks JOIN {{}} USING (username) WHERE look IN ({', '.join('?' * len(forms))})"
        )
        first = self._db.execute(
            f"SELECT author, username {among.format('holders')} ORDER BY since, author LIMIT 1",
            forms,
        ).fetchone()
        if first is None:
            return None
        if first[0] == author:  # (but not against the user's choice under that name: review
            chosen = self.chosen(first[1])  # 76, mallory, first as "bob", came back as Bob)
            return None if chosen in (None, author) else (chosen, first[1])
        # The key bound last to one of those names that had it by right: the first key under
        # any, or one the user named (review 73: one that took "BOB" and went by anon since
        # was the "bob you knew" of a key coming as "Bob", bob himself unnamed)
        for other, name in self._db.execute(
            f"SELECT author, username {among.format('names')} AND username != ? AND author != ?"
            " ORDER BY since DESC",
            (*forms, username, author),
        ):
            if other == first[0] or self._named_by_user(name, other):
                return other, name
        # Else the first, by another name (that one is ``claimant``'s): bound last to all
        # such names ("bob" taken), a key was no newcomer to "Bob"
        return None if first[1] == username else (first[0], first[1])

    def first_holder(self, username: str) -> str | None:
        """The first key here under ``username``, if any is remembered."""
        row = self._db.execute(
            "SELECT author FROM holders WHERE username = ? ORDER BY since, author LIMIT 1",
            (username,),
        )
        found = row.fetchone()
        return found[0] if found else None

    def chosen(self, username: str) -> str | None:
        """The key the user named as ``username`` (``confirm``), if any."""
        row = self._db.execute("SELECT author FROM named WHERE username = ?", (username,))
        found = row.fetchone()
        return found[0] if found else None

    def name_like(self, author: str, username: str) -> str | None:
        """The name ``author`` went by here that looks like ``username``: that very one, else
        one of it in other capitals, else the one it took last (trial 78: dave, "Dave" for 15
        s at first, was "the Dave you knew" to "/msg dave")."""
        forms = sorted(looks(username))
        row = self._db.execute(
            "SELECT username FROM holders JOIN looks USING (username) WHERE author = ? AND"
            f" look IN ({', '.join('?' * len(forms))}) ORDER BY username = ? DESC,"
            " lower(username) = lower(?) DESC, since DESC LIMIT 1",
            (author, *forms, username, username),
        ).fetchone()
        return row[0] if row else None

    def claimant(self, username: str, author: str) -> str | None:
        """The key ``author`` is a newcomer to ``username`` against: the one that went by it
        last, or, when that is ``author``, the first here under it (attack round 57: once the
        name was bound to its taker, a restart forgot it had been taken); None if ``author``
        was named as it by the user (``confirm``), or had it first and the user named no other
        key as it. The first key under a
        name, back after another took it, is no newcomer to it (trial 45: a stranger had "zoë"
        for 6 s, and the real zoë, back, was the one flagged "another key", and refused /msg);
        any other key is, each time (attack round 24: a stranger as "bob" had bob's private
        lines)."""
        # The key the user named under it, first (attack round 61: mallory, "bob" for a
        # moment before bob came, came back as bob once he left, and had alice's /msg bob
        # though she had named bob's key)
        if (chosen := self.chosen(username)) is not None:
            return None if chosen == author else chosen
        first = self.first_holder(username)
        if first == author:
            return None
        row = self._db.execute("SELECT author FROM names WHERE username = ?", (username,))
        last = row.fetchone()
        if last is not None and last[0] != author:
            return last[0]
        return first

    def taken_from(self, username: str, author: str) -> str | None:
        """The key whose name, or one like it, ``author`` goes by as a newcomer to it, if any
        (``claimant``, else ``like_owner``)."""
        if (claim := self.claimant(username, author)) is not None:
            return claim
        like = self.like_owner(username, author)
        return like[0] if like else None

    def confirm(self, username: str, author: str, now: float) -> None:
        """The user named ``author``'s key as the one it sends to under ``username``: from now
        on it is no newcomer to that very name (``claimant``, ``like_owner``), past restarts
        too; the others' claims stand (review 72: a stranger named so as "Bob" made bob, back,
        a newcomer to his own name; attack round 58: named as "Bob", it took "bob"
        unwarned). The latest ``MAX_NAMED`` are kept."""
        with self._written():
            self._db.execute(
                "INSERT INTO named VALUES (?, ?, ?) ON CONFLICT (username) "
                "DO UPDATE SET author = excluded.author, since = excluded.since",
                (username, author, now),
            )
            self._db.execute(
                "DELETE FROM named WHERE username NOT IN"
                " (SELECT username FROM named ORDER BY since DESC LIMIT ?)",
                (MAX_NAMED,),
            )

    def name_owner(self, username: str, author: str, now: float) -> str | None:
        """``claimant``, and ``author`` goes by ``username`` from now on."""
        self._going_by(author, username, now)
        claim = self.claimant(username, author)
        row = self._db.execute(
            "SELECT author, since FROM names WHERE username = ?", (username,)
        ).fetchone()
        if row is not None and row[0] == author:
            if self.latest_name(author) != username:  # back to a name it had before
                with self._written():
                    self._db.execute(
                        "UPDATE names SET since = ? WHERE username = ?", (now, username)
                    )
            return claim
        with self._written():
            self._add_looks([username])
            self._db.executemany(  # (one held since before this table: held since it took it)
                "INSERT OR IGNORE INTO holders VALUES (?, ?, ?)",
                [(username, author, now), *([(username, *row)] if row is not None else [])],
            )
            self._db.execute(
                "INSERT INTO names VALUES (?, ?, ?) ON CONFLICT (username) "
                "DO UPDATE SET author = excluded.author, since = excluded.since",
                (username, author, now),
            )
        self._names_added += 1
        if self._names_added >= NAMES_PRUNED_AFTER:  # (after the answer: a clock set back
            with self._written():  # could have the prune take this very name, review 57)
                self._prune_names()
            self._names_added = 0
        return claim

    def _going_by(self, author: str, username: str, now: float) -> None:
        """``author`` goes by ``username`` from ``now`` on (or still): its stay under the name
        it went by till now is counted (``held``)."""
        stay = self._holding.get(author)
        if stay is None or stay[0] != username:
            if stay is not None:
                self._count([stay], now)
            keep_latest(self._holding, author, (username, now), MAX_HOLDING)

    def left(self, author: str, now: float) -> None:
        """``author`` left the room (or this node leaves it): its stay is counted."""
        stay = self._holding.pop(author, None)
        if stay is not None:
            self._count([stay], now)

    def all_left(self, now: float) -> None:
        """Those here went by their names till ``now``: this node leaves the room, or joins
        it anew (attack round 59: names of members in the room, spared while they were, were
        pushed out after a restart)."""
        stays, self._holding = list(self._holding.values()), {}
        self._count(stays, now)

    def count_stays(self, now: float) -> None:
        """The stays going on are counted till ``now``, once in ``COUNT_EVERY`` (attack round
        60: counted only as they ended, 5 minutes of a stay were lost to a crash)."""
        if now - self._counted_at >= COUNT_EVERY:
            self._counted_at = now
            self._count(self._holding.values(), now)
            self._holding = {author: (name, now) for author, (name, _) in self._holding.items()}

    def _count(self, stays: Iterable[tuple[str, float]], now: float) -> None:
        """Names gone by since when each says, till ``now``, counted to the time each was
        (bounded with the names, ``_prune_names``)."""
        # Each at most two counts' time (review 75: a clock set on 8 hours, or a suspend,
        # counted as gone by for all that time)
        most = 2 * COUNT_EVERY
        spans = [(name, min(now - since, most)) for name, since in stays if now > since]
        if spans:
            with self._written():
                self._db.executemany(
                    "INSERT INTO held VALUES (?, ?) ON CONFLICT (username)"
                    " DO UPDATE SET seconds = seconds + excluded.seconds",
                    spans,
                )

    # -- fetches to go on with (``files``) ----------------------------------------------------

    def keep_fetch(
        self, sender: str, sha256: bytes, size: int, part: str, kept: int, now: float
    ) -> list[str]:
        """A fetch of ``size`` bytes hashing to ``sha256`` from ``sender`` has ``kept`` bytes
        written in ``part`` (a file this program made). Returns the parts of fetches
        forgotten to make room (``MAX_KEPT_FETCHES``), the oldest first, for their files to
        go too."""
        old: list[tuple[str, bytes, int, str]] = []
        with self._written():
            self._db.execute(
                "INSERT INTO fetches VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "part = excluded.part, kept = excluded.kept",
                (sender, sha256, size, part, kept, now),
            )
            old = self._db.execute(
                "SELECT sender, sha256, size, part FROM fetches ORDER BY since DESC LIMIT -1 "
                "OFFSET ?",
                (MAX_KEPT_FETCHES,),
            ).fetchall()
            self._db.executemany(
                "DELETE FROM fetches WHERE sender = ? AND sha256 = ? AND size = ?",
                [row[:3] for row in old],
            )
        return [row[3] for row in old]

    def kept_fetch(self, sender: str, sha256: bytes, size: int) -> tuple[str, int] | None:
        """Where a fetch of these bytes from ``sender`` stopped: (its part, bytes kept)."""
        row = self._db.execute(
            "SELECT part, kept FROM fetches WHERE sender = ? AND sha256 = ? AND size = ?",
            (sender, sha256, size),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def kept_copies(self, sha256: bytes, size: int) -> list[tuple[str, str]]:
        """The fetches of these bytes kept to go on with, from any sender: (sender, part)."""
        rows = self._db.execute(
            "SELECT sender, part FROM fetches WHERE sha256 = ? AND size = ?", (sha256, size)
        )
        return [(row[0], row[1]) for row in rows]

    def kept_in(self, sender: str, part: str) -> list[tuple[bytes, int]]:
        """The fetches from ``sender`` kept in ``part``: (sha256, size) of each."""
        rows = self._db.execute(
            "SELECT sha256, size FROM fetches WHERE sender = ? AND part = ?", (sender, part)
        )
        return [(row[0], row[1]) for row in rows]

    def forget_fetch(self, sender: str, sha256: bytes, size: int) -> None:
        with self._written():
            self._db.execute(
                "DELETE FROM fetches WHERE sender = ? AND sha256 = ? AND size = ?",
                (sender, sha256, size),
            )

    def keep_saved(self, sha256: bytes, size: int, path: str, mtime_ns: int, now: float) -> None:
        """A fetch of these bytes was saved whole at ``path`` (last changed at ``mtime_ns``):
        offered again after a restart, they are said to be there while the file is as it was
        (three user trials were offered their files anew)."""
        with self._written():
            self._db.execute(
                "INSERT INTO saved VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "path = excluded.path, mtime_ns = excluded.mtime_ns, since = excluded.since",
                (sha256, size, path, mtime_ns, now),
            )
            self._db.execute(
                "DELETE FROM saved WHERE (sha256, size) IN (SELECT sha256, size FROM saved"
                " ORDER BY since DESC LIMIT -1 OFFSET ?)",
                (MAX_SAVED,),
            )

    def saved_at(self, sha256: bytes, size: int) -> tuple[str, int] | None:
        """Where a fetch of these bytes was last saved whole, if one was, and the file's
        ``mtime_ns`` then."""
        row = self._db.execute(
            "SELECT path, mtime_ns FROM saved WHERE sha256 = ? AND size = ?", (sha256, size)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def ignored(self) -> list[tuple[str, str]]:
        """The members ignored here (``/ignore``), by key, with the name each had last, in
        the order they were ignored."""
        rows = self._db.execute("SELECT author, username FROM ignored ORDER BY since")
        return [(row[0], row[1]) for row in rows]

    def keep_ignored(self, author: str, username: str, now: float) -> None:
        """``author`` is ignored (again, or under a new name)."""
        with self._written():
            self._db.execute(
                "INSERT INTO ignored VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
                "username = excluded.username",
                (author, username, now),
            )

    def forget_ignored(self, author: str) -> None:
        with self._written():
            self._db.execute("DELETE FROM ignored WHERE author = ?", (author,))

    def kept_parts(self) -> set[str]:
        """The parts of the fetches kept to go on with: no other fetch may take their names."""
        return {row[0] for row in self._db.execute("SELECT part FROM fetches")}

    def after(self, author: str, seq: int, limit: int, max_bytes: int | None = None) -> list[Batch]:
        """``author``'s batches that hold messages after ``seq``, in order, up to about
        ``limit`` messages or ``max_bytes`` of batches (whole batches: the last may pass
        them)."""
        self._flushed()
        rows = self._db.execute(  # a batch holds at most MAX_ITEMS: an index range, not a scan
            "SELECT data, sig, checked FROM batches WHERE author = ? AND first > ? AND last > ?"
            " ORDER BY first",
            (author, seq - MAX_ITEMS, seq),
        )
        return _whole_batches(rows, limit, max_bytes)

    def size_between(self, author: str, after: int, upto: int, limit: int) -> int:
        """Bytes of the first ``limit`` of ``author``'s batches that hold messages past
        ``after`` and begin by ``upto``, without reading them (``Messaging._wanted`` weighs a
        want so). Bounded as a page is: all of a history of 100,000 typed lines took 68 ms a
        want (review 65)."""
        self._flushed()
        (size,) = self._db.execute(
            "SELECT TOTAL(size) FROM (SELECT LENGTH(data) AS size FROM batches"
            " WHERE author = ? AND first > ? AND last > ? AND first <= ? ORDER BY first LIMIT ?)",
            (author, after - MAX_ITEMS, after, upto, limit),
        ).fetchone()
        return int(size)

    def numbered_between(self, author: str, after: int, upto: int) -> int:
        """How many of ``author``'s messages kept here are numbered past ``after`` up to
        ``upto``: its numbers jump where a run ended before it used the block it had set
        aside (a trial read "carol now has your 998 messages they missed" for one)."""
        self._flushed()
        (count,) = self._db.execute(
            "SELECT TOTAL(MIN(last, ?) - MAX(first, ?) + 1) FROM batches"
            " WHERE author = ? AND first > ? AND first <= ? AND last > ?",
            (upto, after + 1, author, after - MAX_ITEMS, upto, after),
        ).fetchone()
        return int(count)

    def recent(self, n: int, max_bytes: int | None = None) -> list[Batch]:
        """The batches holding the room's last ``n`` messages, latest last, or the latest that
        hold ``max_bytes`` of batches; the earliest may hold older messages too. Latest by the
        time their last line was said, as the screen orders them (``history_run.said_order``),
        not by Lamport time: after a partition, the lines of its quieter side have the lower
        times (a user's /history 1 was not the last line shown). With what waits in memory for
        a full disk (trials 43 and 44: /history left the latest lines out)."""
        self._flushed()
        kept = self._db.execute(
            "SELECT said, lamport + last - first, author, first, data, sig, checked FROM batches"
            " ORDER BY said DESC, lamport + last - first DESC, author DESC"
        )
        waiting = sorted(
            ((when, lamport + last - first, author, first, data, sig, checked)
             for author, first, last, lamport, _, data, sig, checked, when in self._pending),
            reverse=True,
        )  # fmt: skip
        merged = heapq.merge(kept, waiting, key=lambda row: row[:3], reverse=True)
        rows = ((row[4], row[5], row[6]) for row in _once(merged))
        out = _whole_batches(rows, n, max_bytes)
        out.reverse()
        return out

    def prune(
        self, now: float, keep_messages: int, keep_seconds: float, keep_bytes: int | None = None
    ) -> int:
        """Drop batches that arrived more than ``keep_seconds`` ago, then the oldest (by when
        they were said, as ``recent``) while the rest still hold ``keep_messages`` (whole
        batches), and while they take more than ``keep_bytes`` (a message may be 64 KiB: a
        count alone bounds nothing), but none of an author's newest share (``SHARES``); how
        many messages went."""
        self._flushed()
        before = self.count()
        with self._written():
            self._db.execute("DELETE FROM batches WHERE arrived < ?", (now - keep_seconds,))
            over = self.count() - keep_messages
            excess = 0 if keep_bytes is None else self.size() - keep_bytes
            if over > 0 or excess > 0:
                doomed = self._oldest_past(over, excess, keep_messages, keep_bytes)
                self._db.executemany("DELETE FROM batches WHERE author = ? AND first = ?", doomed)
            self._prune_names()
        self._names_added = 0
        self.approx_count, self.approx_bytes = self.count(), self.size()
        return before - self.approx_count

    def _oldest_past(
        self, over: int, excess: int, keep_messages: int, keep_bytes: int | None
    ) -> list[tuple[str, int]]:
        """The oldest batches, as (author, first), that hold ``over`` messages and ``excess``
        bytes, past the newest share of the bounds of each author in the room (``SHARES``)."""
        held = {a: [n, size] for a, n, size in self._db.execute(_HELD_BY_AUTHOR)}
        here = set(self.kept_authors()) & held.keys()
        shares = max(SHARES, len(here))
        floor = keep_messages // shares
        floor_bytes = math.inf if keep_bytes is None else keep_bytes // shares
        # A paste longer than its share is not all lost; but only while the room's authors are
        # few enough for that to bound what is spared (attack round 51: 160 keys' batches of
        # 512 KiB each, spared, held the store past its bounds).
        newest_spared = len(here) <= SHARES
        doomed = []
        for author, first, count, size in self._db.execute(
            "SELECT author, first, last - first + 1, length(data) FROM batches"
            " ORDER BY said, lamport + last - first, author"
        ):
            left = held[author]
            newest = newest_spared and left[0] == count
            if author in here and (newest or left[0] <= floor and left[1] <= floor_bytes):
                continue  # its newest share: another author's flood cannot push it out
            if count > over and excess <= 0:
                break
            doomed.append((author, first))
            over, excess = over - count, excess - size
            left[0], left[1] = left[0] - count, left[1] - size
        return doomed

    def _prune_names(self) -> None:
        """Keep the names remembered within their bounds (in a transaction). Run by ``prune``
        and after every ``NAMES_PRUNED_AFTER`` names bound since: attack round 38's renames,
        100 a second from 64 keys, grew the tables by 64 MiB an hour, and an hour's prune of
        them held the node 9-11 s, past the heartbeat timeout."""
        kept = list(self.kept_authors())
        spared = f"author NOT IN ({', '.join('?' * len(kept))})"
        self._db.execute(  # counted for the key that had each name first: a name taken
            # from its first holder is its first holder's (a review: taken while its owner
            # was away, then 8 renames, and its taker became the first), and one passed on
            # to another key its first's (attack round 28: pairs of keys, each name counted
            # for neither, pushed bob's name out again)
            # (of keys in the room too, but for the name each goes by: attack round 58's 40
            # keys in the room kept 2,801 names each)
            "DELETE FROM names WHERE username IN (SELECT username FROM (SELECT username,"
            " row_number() OVER (PARTITION BY (SELECT author FROM holders WHERE"
            " holders.username = names.username ORDER BY since, author LIMIT 1)"
            " ORDER BY since DESC) AS n FROM names) WHERE n > ?) AND NOT (author IN"
            f" ({', '.join('?' * len(kept))}) AND since = (SELECT max(since) FROM names AS"
            " own WHERE own.author = names.author))"
            " AND username NOT IN (SELECT username FROM named)",
            (MAX_NAMES_PER_KEY, *kept),
        )
        self._db.execute(
            "DELETE FROM names WHERE username NOT IN"
            f" (SELECT username FROM names ORDER BY since DESC LIMIT ?) AND {spared}"
            " AND username NOT IN (SELECT username FROM held ORDER BY seconds DESC LIMIT ?)"
            " AND username NOT IN (SELECT username FROM named)",
            (MAX_NAMES, *kept, MAX_HELD),
        )
        self._db.execute("DELETE FROM held WHERE username NOT IN (SELECT username FROM names)")
        self._db.execute("DELETE FROM looks WHERE username NOT IN (SELECT username FROM names)")
        self._db.execute(  # the earliest of each name kept (a review: a flood of keys
            # pruned by age took the first holder's row, and a stranger became "first")
            "DELETE FROM holders WHERE username NOT IN (SELECT username FROM names)"
            " OR (username, author) IN (SELECT username, author FROM (SELECT username,"
            " author, row_number() OVER (PARTITION BY username ORDER BY since) AS n"
            " FROM holders) WHERE n > ?)",
            (MAX_HOLDERS,),
        )

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._flushed()
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK on an exception (the connection runs in autocommit)."""
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # (SQLite may have ended it: a full disk does)
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _written(self) -> Iterator[None]:
        """A transaction the disk may refuse (full, read-only, failing, damaged since): the
        chat goes on without it, and ``trouble`` says why until one gets through."""
        begun = False
        try:
            with self._transaction():
                begun = True
                yield
        except sqlite3.DatabaseError as exc:
            if not begun or type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise  # (a mistake of this program's, not the disk's)
            self.trouble = str(exc)
        else:
            self.trouble = ""


def _cost(row: Row) -> int:
    """The memory ``row`` takes while it waits, about."""
    return len(row[5]) + len(row[6]) + ROW_COST


def _set_aside(file: Path) -> str:
    """Move a damaged store, with its log, out of the way, beside any set aside before (a
    trial's second one took the place of the first); the name it has now."""
    aside = file.with_name(file.name + DAMAGED)
    n = 1
    while aside.exists():
        n += 1
        aside = file.with_name(f"{file.name}{DAMAGED}.{n}")
    for end in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{file}{end}").replace(f"{aside}{end}")
    return str(aside)


def _once(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """``rows`` but a batch (author, first) seen before: one waiting may be kept already."""
    seen: set[tuple[str, int]] = set()
    for row in rows:
        if (row[2], row[3]) not in seen:
            seen.add((row[2], row[3]))
            yield row


def said(b: Batch, arrived: float) -> float:
    """When the last line of ``b`` was said, by its author's clock (the latest of its times: a
    clock that went back says no earlier), but no later than it ``arrived`` here: a clock
    ahead (or a peer claiming 1e300) would keep its lines the newest, and prune everyone
    else's first."""
    return min(max(b.items)[0], arrived)  # items are (time, ...): the largest was said last


def _whole_batches(
    rows: Iterable[tuple[bytes, bytes, int]], limit: int, max_bytes: int | None = None
) -> list[Batch]:
    """The batches of ``rows`` (data, signature, checked) until they hold ``limit`` messages
    or more, or ``max_bytes`` of data: whole batches, so the last may pass them."""
    out: list[Batch] = []
    count = size = 0
    for data, sig, checked in rows:
        if count >= limit or (max_bytes is not None and size >= max_bytes):
            break
        b = open_batch(data, sig, checked=bool(checked))
        out.append(b)
        count += len(b.items)
        size += len(data)
    return out
