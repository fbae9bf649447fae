"""The room's messages on disk, so that a restart, a late join or a partition loses nothing.

One SQLite file, ``messages.db`` in the data dir (or ``:memory:`` for an ephemeral node), in WAL
mode with ``synchronous=NORMAL``: a commit appends to the log without waiting for the disk, and a
power cut can lose the last commits but never corrupt the file (a lost message is fetched again
from a peer). Messages are keyed by (author, seq), so a duplicate is ignored for free.

What is held of each author (``sync.Holding``) is kept in memory as well, loaded at open and
updated on every write: a summary is then O(authors), and whether a message is new is known
without a query. That is sound because one process owns the file (the data dir is locked).

Retention: at most ``MAX_COUNT`` messages and ``MAX_AGE_S`` of age, enforced by ``prune``, which
the node calls now and then. What is pruned of an author is always a prefix up to a ``floor``,
remembered per author: a message at or below it is not taken again, so a peer that still has it
cannot make it show up twice, and sync does not ask for it back.

Calls are synchronous and hold a lock: the trio layer may run them in a worker thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from peerchat import sync
from peerchat.protocol import Chat

FILE = "messages.db"
MEMORY = ":memory:"
SCHEMA_VERSION = 1

# 100,000 messages are a few tens of MB at chat sizes, and all of them can be sent to a newcomer
# in a few seconds at the catch-up rate (20,000/s); in a room of moderate traffic (fewer than
# some 3,000 messages a day) the age bound is the one that applies. 30 days: someone back from
# a month away still catches up on what was said.
MAX_COUNT = 100_000
MAX_AGE_S = 30 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    author TEXT NOT NULL,
    seq INTEGER NOT NULL,
    lamport INTEGER NOT NULL,
    time REAL NOT NULL,
    text TEXT NOT NULL,
    signature BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (author, seq)
);
CREATE INDEX IF NOT EXISTS by_order ON messages (lamport, author, seq);
CREATE TABLE IF NOT EXISTS floors (
    author TEXT PRIMARY KEY,
    floor INTEGER NOT NULL,
    pruned_at REAL NOT NULL
) WITHOUT ROWID;
"""
_COLUMNS = "author, seq, lamport, time, text, signature"
_WIRE_OVERHEAD = 96  # a message's field names, numbers and framing in msgpack, roughly


@dataclass(frozen=True, slots=True)
class Record:
    """A message as stored and as handed on to peers: ``time`` is the author's wall clock."""

    author: str
    seq: int
    lamport: int
    time: float
    text: str
    signature: bytes = b""

    @classmethod
    def of(cls, chat: Chat, signature: bytes = b"") -> Record:
        return cls(chat.sender, chat.seq, chat.lamport, chat.time, chat.text, signature)

    def wire_size(self) -> int:
        """About what it takes in a frame, for pacing (``sync.Pager``)."""
        return len(self.author) + len(self.text.encode()) + len(self.signature) + _WIRE_OVERHEAD


class Store:
    def __init__(self, where: Path | str) -> None:
        """Open (creating if need be) ``where/messages.db``, or an in-memory store for
        ``":memory:"``."""
        target = MEMORY if where == MEMORY else str(Path(where) / FILE)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._ranges: dict[str, list[sync.Range]] = {}
        self._floors: dict[str, int] = dict(self._db.execute("SELECT author, floor FROM floors"))
        self._load_ranges()

    def _load_ranges(self) -> None:
        # Gaps and islands: seq - row_number() is constant along a run without gaps.
        rows = self._db.execute(
            "SELECT author, min(seq), max(seq) FROM (SELECT author, seq, seq - row_number()"
            " OVER (PARTITION BY author ORDER BY seq) AS run FROM messages)"
            " GROUP BY author, run ORDER BY author, min(seq)"
        )
        for author, lo, hi in rows:
            self._ranges.setdefault(author, []).append((lo, hi))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def add_many(self, records: Iterable[Record], received_at: float) -> list[Record]:
        """Store a batch in one transaction; return the messages that were new, in the order
        given. Duplicates (of the store or within the batch) and pruned messages are left out."""
        with self._lock:
            new: list[Record] = []
            seen: set[tuple[str, int]] = set()
            for r in records:
                key = (r.author, r.seq)
                held = self._ranges.get(r.author)
                if (
                    key in seen
                    or (held and r.seq <= held[-1][1] and sync.contains(held, r.seq))
                    or r.seq <= self._floors.get(r.author, 0)
                ):
                    continue
                seen.add(key)
                new.append(r)
            if not new:
                return new
            rows = [
                (r.author, r.seq, r.lamport, r.time, r.text, r.signature, received_at) for r in new
            ]
            with self._transaction():
                self._db.executemany(
                    f"INSERT OR IGNORE INTO messages ({_COLUMNS}, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            for r in new:  # only once committed, so memory never claims what the file lacks
                sync.add(self._ranges.setdefault(r.author, []), r.seq)
            return new

    def high_water(self) -> dict[str, int]:
        """Per author with messages kept, the last seq of the run that starts at the first kept.

        Not "everything up to here": the first kept is above 1 when older ones were pruned (see
        ``floor``) or this node came late. Sync compares whole holdings (``holdings``)."""
        with self._lock:
            return {author: ranges[0][1] for author, ranges in self._ranges.items() if ranges}

    def have(self, author: str) -> tuple[sync.Range, ...]:
        """The ranges of ``author``'s sequence numbers kept here."""
        with self._lock:
            return tuple(self._ranges.get(author, ()))

    def floor(self, author: str) -> int:
        """``author``'s messages at or below this were pruned and will not be taken again."""
        with self._lock:
            return self._floors.get(author, 0)

    def holdings(self) -> dict[str, sync.Holding]:
        """Everything held, per author, for ``sync``: full, not truncated to a summary's size."""
        with self._lock:
            return {
                author: sync.Holding(
                    self._floors.get(author, 0), tuple(self._ranges.get(author, ()))
                )
                for author in self._ranges.keys() | self._floors.keys()
            }

    def get_range(
        self, author: str, after: int, limit: int, upto: int = sync.MAX_SEQ
    ) -> list[Record]:
        """``author``'s messages numbered ``after`` < seq <= ``upto``, at most ``limit``, in
        order (``sync.Pager`` says what to read)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE author = ? AND seq > ? AND seq <= ?"
                " ORDER BY seq LIMIT ?",
                (author, after, upto, limit),
            )
            return [Record(*row) for row in rows]

    def recent(self, n: int) -> list[Record]:
        """The last ``n`` messages in the room's order, (Lamport time, author, seq), oldest
        first: the history shown to a newcomer or after a restart."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages"
                " ORDER BY lamport DESC, author DESC, seq DESC LIMIT ?",
                (n,),
            ).fetchall()
        return [Record(*row) for row in reversed(rows)]

    def prune(self, now: float, max_count: int = MAX_COUNT, max_age_s: float = MAX_AGE_S) -> int:
        """Keep the newest ``max_count`` messages (by the room's order) and those younger than
        ``max_age_s``; return how many went.

        A message's age runs from when it was sent or, if the author's clock says later, from
        when it arrived here: a clock set ahead cannot keep messages forever. Whatever goes,
        goes as a prefix of its author's sequence: the floor rises to the highest pruned, and
        anything below that goes too. Floors of authors with nothing left are forgotten once
        older than ``max_age_s``: peers have pruned those messages by then too."""
        with self._lock:
            with self._transaction():
                floors = self._floors_to_prune(now - max_age_s, max_count)
                deleted = 0
                for author, floor in floors.items():
                    deleted += self._db.execute(
                        "DELETE FROM messages WHERE author = ? AND seq <= ?", (author, floor)
                    ).rowcount
                    self._db.execute(
                        "INSERT INTO floors VALUES (?, ?, ?) ON CONFLICT (author) DO UPDATE"
                        " SET floor = max(floor, excluded.floor), pruned_at = excluded.pruned_at",
                        (author, floor, now),
                    )
                self._db.execute(
                    "DELETE FROM floors WHERE pruned_at < ? AND NOT EXISTS"
                    " (SELECT 1 FROM messages WHERE messages.author = floors.author)",
                    (now - max_age_s,),
                )
            self._floors = dict(self._db.execute("SELECT author, floor FROM floors"))
            for author, floor in floors.items():
                kept = sync.above(self._ranges.get(author, ()), floor)
                if kept:
                    self._ranges[author] = kept
                else:
                    del self._ranges[author]
            return deleted

    def _floors_to_prune(self, sent_before: float, max_count: int) -> dict[str, int]:
        """Per author, the highest seq that is too old or not among the newest ``max_count``."""
        floors = dict(
            self._db.execute(
                "SELECT author, max(seq) FROM messages WHERE min(time, received_at) < ?"
                " GROUP BY author",
                (sent_before,),
            )
        )
        cut = self._db.execute(
            "SELECT lamport, author, seq FROM messages"
            " ORDER BY lamport DESC, author DESC, seq DESC LIMIT 1 OFFSET ?",
            (max_count,),
        ).fetchone()
        if cut:
            for author, seq in self._db.execute(
                "SELECT author, max(seq) FROM messages WHERE (lamport, author, seq) <= (?, ?, ?)"
                " GROUP BY author",
                cut,
            ):
                floors[author] = max(seq, floors.get(author, 0))
        return floors

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK on an exception (the connection runs in autocommit)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
