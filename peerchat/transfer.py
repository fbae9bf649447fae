"""Files offered and fetched: what the receiving side checks and when it reports, with no I/O.

A download takes the sender's chunks strictly in order: each must begin where the bytes received
so far end and may not run past the offered size, so a sender can neither make a receiver hold
more than one chunk nor grow the file past what was offered. The bytes are hashed as they come;
the download is done at the offered size, intact if the hash is the offered one. After a cut, it
asks again from where it stopped (``received``).
"""

from __future__ import annotations

import collections
import re
import unicodedata
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes

from peerchat.membership import BLANK
from peerchat.protocol import FILE_CHUNK, FILE_WINDOW, ProtocolViolation

PROGRESS_EVERY = 0.25  # seconds between progress reports of one download, at most
# Where a download's bytes go until the whole file checks: a name of PeerChat's own. As
# NAME.part it was a browser's name for its own download in progress, which a fetch of NAME
# then emptied (attack round 11).
PART = ".peerchat-part"
MAX_LOCAL_NAME = 200  # bytes of a saved name, leaving room for " (99)" and PART
MAX_EXTENSION = 16  # bytes after a long name's last dot kept, at most
# Letters, digits, marks a browser keeps in a download's name (trial 69 read "bob_s notes"
# for "bob's notes"), and symbols (emoji with their colour and skin-tone marks: a trial's
# "résumé 日本語 🎉.txt" was saved as "résumé 日本語 _.txt"); the rest becomes "_": what a
# file system refuses (/, and Windows' \ : * ? " < > |), what steers text, and what a shell
# runs in a path pasted into it, quoted or not (` $ ; &: review 67's "$(touch pwned).txt").
_SAFE_IN_NAME = re.compile(
    r"[\w.\- ()+,=@~\[\]'!#%{}^\N{VARIATION SELECTOR-16}\U0001F3FB-\U0001F3FF]"
)


def sha256() -> hashes.Hash:
    """SHA-256 by `cryptography`'s OpenSSL: as fast as any, and the one the node has loaded
    (``one_openssl``)."""
    return hashes.Hash(hashes.SHA256())


@dataclass
class Download:
    sender: str  # node id
    offer: int
    name: str
    size: int
    sha256: bytes
    received: int = 0
    _hash: hashes.Hash = field(default_factory=sha256, repr=False)
    _reported_at: float = float("-inf")

    def take(self, offset: int, data: bytes) -> None:
        """Bytes from the sender; refused unless they continue the file within its size."""
        if offset != self.received:
            raise ProtocolViolation(f"a file chunk at {offset}, expected one at {self.received}")
        if not data or offset + len(data) > self.size:
            raise ProtocolViolation(f"a file chunk past the offered size ({self.size} bytes)")
        self._hash.update(data)
        self.received += len(data)

    @property
    def done(self) -> bool:
        return self.received == self.size

    def intact(self) -> bool:
        """The whole file came, with the hash it was offered with."""
        return self.done and self._hash.copy().finalize() == self.sha256

    def progress_due(self, now: float) -> bool:
        """Whether to report progress now: at most every ``PROGRESS_EVERY`` s, and at the end."""
        if self.done or now - self._reported_at >= PROGRESS_EVERY:
            self._reported_at = now
            return True
        return False


# A fetch's window shrinks by about a quarter (a quarter chunk at the least) while its chunks
# take more than this longer on their way to the fetcher than the quickest did, and grows by a
# quarter chunk while they do not. What the sender's uplink holds for its fetches then stays
# about this deep, and a chat line waits behind no more: three fetches at 1 Mbit/s up, with four
# chunks each and then two at the least, held the sender's lines back up to 12 s, and its links
# were lost as what overflowed the uplink's queue was sent again (trials 49 and 51). The way
# there alone counts: the fetcher says when each acknowledged chunk came, by its own clock (the
# two clocks' difference is the same for every chunk). Judged by the round trip, an
# acknowledgement held up on the fetcher's own busy uplink shrank the window to the least, and
# a 4 MiB fetch whose acknowledgements took 0.3 s longer took 77 s, not 5 (review 55).
SLOW_ACK = 0.25
# The fetcher's word of when a chunk came is taken no further back than this from where the
# acknowledgements' quickest way back puts it: a fetcher that said its chunks came at its
# clock's 0 had its window grow for ever, took 82 of an uplink's 119 kB/s from an honest fetch
# (attack round 40), and the sender's queue grew to seconds. Acknowledgements held up so long
# on the fetcher's own uplink are judged by the round trip (review 55's 0.3 s are not).
BACK_SLACK = 1.0
ACK_EVERY = FILE_WINDOW // 2  # bytes a fetcher receives between two acknowledgements, unasked
# The least a chunk but a file's last carries (a fetcher takes less as no sign of life), and the
# least window: a fetch starts with it, so that the first chunk's way is measured behind nothing
# of its own (from a whole window, on a slow link, the quickest was seconds).
SMALL_CHUNK = FILE_CHUNK // 4


def acknowledges(received: int, acked: int, asked: bool) -> bool:
    """Whether a fetcher with ``received`` bytes, ``acked`` of them acknowledged, acknowledges
    the chunk that just came: when it asked, or every ``ACK_EVERY`` bytes."""
    return asked or received - acked >= ACK_EVERY


@dataclass
class SendWindow:
    """How much of a file a sender keeps unacknowledged on one fetch's link: ``FILE_WINDOW``
    at most, while its chunks arrive in time, down to ``SMALL_CHUNK`` while they are late.
    What waits in it is what a chat line on the link may wait behind."""

    size: int = SMALL_CHUNK
    # (where a chunk sent ends, when it was sent), of those not yet acknowledged
    _sent: collections.deque[tuple[int, float]] = field(default_factory=collections.deque)
    _quickest: float = float("inf")  # the least of (when a chunk came - when it was sent)
    _asked: int = 0  # where the last chunk that asked for an acknowledgement ends
    _shrunk_for: int = -1  # where the last chunk out when the window last shrank ends
    _back: float = float("inf")  # the least of (when an acknowledgement came - when it said)

    def room(self, sent: int, acked: int, left: int) -> int:
        """How many bytes the next chunk may carry, the file sent up to ``sent`` and
        acknowledged up to ``acked``, ``left`` bytes to go; none: wait for an acknowledgement.
        Never a chunk so small that the fetcher would not count it, but the file's last."""
        if room := self._room_within(sent, acked, left):
            return room
        if self._asked > acked or acknowledges(sent, acked, asked=False):
            return 0  # an acknowledgement is on its way
        return min(SMALL_CHUNK, left)  # the window shrank under chunks that asked for none

    def asks(self, end: int, acked: int, left: int) -> bool:
        """Whether the chunk that ends at ``end`` asks the fetcher to acknowledge it at once:
        it fills the window, and a fetcher acknowledges only every ``ACK_EVERY`` bytes unasked."""
        return left > 0 and not self._room_within(end, acked, left)

    def _room_within(self, sent: int, acked: int, left: int) -> int:
        room = min(FILE_CHUNK, left, self.size - (sent - acked))
        return room if room >= min(SMALL_CHUNK, left) else 0

    def sent(self, end: int, now: float, asked: bool) -> None:
        self._sent.append((end, now))
        if asked:
            self._asked = end

    def acked(self, offset: int, came: float, now: float | None = None) -> None:
        """The fetcher has the file up to ``offset``, the chunk that ends there having come
        at ``came`` by its clock, its acknowledgement here at ``now`` by this one: the window
        changes by how long that chunk took to come."""
        if now is not None:
            self._back = min(self._back, now - came)
            came = max(came, now - self._back - BACK_SLACK)
        when = None
        while self._sent and self._sent[0][0] <= offset:
            when = self._sent.popleft()[1]
        if when is None:
            return
        way = came - when  # and the clocks' difference
        self._quickest = min(self._quickest, way)
        if way - self._quickest > SLOW_ACK:  # by a quarter: big windows give up most
            if offset > self._shrunk_for:  # once for what was out when it last shrank
                self.size = max(SMALL_CHUNK, self.size * 3 // 4 // SMALL_CHUNK * SMALL_CHUNK)
                self._shrunk_for = self._sent[-1][0] if self._sent else offset
        else:
            self.size = min(FILE_WINDOW, self.size + SMALL_CHUNK)


@dataclass
class LinkAcks:
    """How far a fetcher's acknowledgements count: no further than its link's own TCP has
    acknowledged (attack round 37: a fetcher that acknowledged each chunk as it was sent got
    past its window, took 74% of a 1 Mbit/s uplink from an honest fetch, and the sender's
    chat lines were a second late). An honest acknowledgement comes on a segment that
    acknowledges the chunk's bytes, so the sender's kernel counts them before it is read.

    A chunk's position is where it ends on the link's wire (``Connection.wire_end``, as the
    kernel counts what it was given): TCP having acknowledged that many bytes, the peer's
    kernel has the chunk."""

    confirmed: int  # how far the file is surely in the fetcher's kernel (or had before)
    # (where a chunk ends, its position), of those not confirmed yet: a window's worth
    _out: collections.deque[tuple[int, int]] = field(default_factory=collections.deque)

    def sent(self, end: int, position: int) -> None:
        self._out.append((end, position))

    def allows(self, claimed: int, tcp_acked: int | None) -> int:
        """How much of an acknowledgement of ``claimed`` counts, TCP having acknowledged
        ``tcp_acked`` bytes of the link (None: not known, on a link that is not TCP)."""
        out = self._out
        if tcp_acked is None:  # the fetcher's word goes
            while out and out[0][0] <= claimed:
                out.popleft()
            return claimed
        while out and out[0][1] <= tcp_acked:
            self.confirmed = max(self.confirmed, out.popleft()[0])
        return min(claimed, self.confirmed)


def local_name(offered: str) -> str:
    """A name to save an offered file under: letters, digits and a few marks; the rest "_";
    never hidden, never empty, never read as an option or a home directory (``-rf``, ``~``),
    never one that ends as a fetch's own ``.part`` file does, and short enough to take a
    suffix within the file system's 255 bytes. A long name is cut short
    before its extension: cut at the end, ``a…a.exe.pdf`` was saved as ``a…a.exe`` (an
    attacker's offer)."""
    name = "".join(map(_safe_in_name, offered)).strip(" .")
    if name.startswith(("-", "~")):  # an option to a command, or a home (attack round 53)
        name = "_" + name[1:]
    if len(name.encode()) > MAX_LOCAL_NAME:
        stem, dot, ext = name.rpartition(".")
        if not stem:
            stem, dot, ext = name, "", ""
        # The extension kept, if shortened: cut at the end, a…a.exe.xxxxxxxxxxxxxxxxx
        # became a…a.exe again (a review).
        ext = ext.encode()[:MAX_EXTENSION].decode(errors="ignore")
        while len((stem + dot + ext).encode()) > MAX_LOCAL_NAME:
            stem = stem[:-1]
        name = stem + dot + ext
    if name.endswith(PART):
        name += "_"
    return name or "download"


def _safe_in_name(c: str) -> str:
    if c in BLANK:  # it shows as nothing: a name padded with it hid its end (attack round 36)
        return "_"
    return c if _SAFE_IN_NAME.fullmatch(c) or unicodedata.category(c) == "So" else "_"


def numbered(name: str, n: int) -> str:
    """The ``n``-th alternative to ``name`` when a file of that name exists: ``a (2).txt``,
    and ``a (2).tar.gz`` (a compressed tar's two extensions stay together)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        return f"{name} ({n})"
    inner, tar_dot, tar = stem.rpartition(".")
    if inner and tar.casefold() == "tar":
        stem, ext = inner, f"{tar}{dot}{ext}"
    return f"{stem} ({n}){dot}{ext}"


def size_text(size: int) -> str:
    """A file size as people read it: 512 bytes, 2.0 KiB, 48.3 MiB, 1.2 GiB, 4.0 EiB."""
    if size < 1024:
        return f"{size} byte" if size == 1 else f"{size} bytes"
    amount, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB", "PiB", "EiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit}"
