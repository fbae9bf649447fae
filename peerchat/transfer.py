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
# Letters, digits, a few marks, and symbols (emoji with their colour and skin-tone marks: a
# trial's "résumé 日本語 🎉.txt" was saved as "résumé 日本語 _.txt"); the rest becomes "_".
_SAFE_IN_NAME = re.compile(r"[\w.\- ()+,=@~\[\]\N{VARIATION SELECTOR-16}\U0001F3FB-\U0001F3FF]")


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


# A fetch's window shrinks by a quarter while its chunks are acknowledged later than this after
# they were sent, beyond the link's round trip with nothing queued (a satellite's 600 ms too),
# and grows by a quarter of a chunk while they are not: what the sender's uplink queues for its
# fetches stays about this long, whatever the uplink, and fetches begun later get as much of it
# (a window that gave up only a chunk at a time kept what it had; fetches at 10 Mbit/s, begun
# 2 s apart, got 57, 13 and 3 MiB in a minute in the simulation of ``test_transfer``). The
# least is the smallest chunk a fetcher takes as a sign of life; a window less than a chunk
# sends chunks that fit it.
SLOW_ACK = 0.25
ACK_EVERY = FILE_WINDOW // 2  # bytes a fetcher receives between two acknowledgements, unasked
# The least a chunk but a file's last carries: a fetcher takes less as no sign of life.
SMALL_CHUNK = FILE_CHUNK // 4
SMALLEST_WINDOW = SMALL_CHUNK


@dataclass
class SendWindow:
    """How much of a file a sender keeps unacknowledged on one fetch's link: ``FILE_WINDOW``
    while the link keeps up, down to ``SMALLEST_WINDOW`` while it does not. On a slow uplink,
    what waits there is what a chat line on that link waits behind, and what overflows the
    uplink's queue is lost and sent again: three fetches from one member at 1 Mbit/s held its
    lines back for up to 12 s, and its links timed out again and again as their data went
    unacknowledged for seconds (trials 49 and 51, with two chunks each at the least)."""

    # From the least: the first acknowledgements, of little that waited behind nothing, show
    # the link's own round trip (the quickest); from a whole window on a slow link, they came
    # seconds late, and later ones had to come later still to be slow.
    size: int = SMALLEST_WINDOW
    # (where a chunk sent ends, when it was sent), of those not yet acknowledged
    _sent: collections.deque[tuple[int, float]] = field(default_factory=collections.deque)
    _quickest: float = float("inf")  # the shortest time from a chunk sent to its acknowledgement
    _asked: int = 0  # where the last chunk that asked for an acknowledgement ends

    def room(self, sent: int, acked: int, left: int) -> int:
        """How many bytes the next chunk may carry, the file sent up to ``sent`` and
        acknowledged up to ``acked``, ``left`` bytes to go; none: wait for an acknowledgement.
        Never a chunk so small that the fetcher would not count it, but the file's last."""
        if room := self._fits(sent, acked, left):
            return room
        if self._asked > acked or sent - acked >= ACK_EVERY:
            return 0  # an acknowledgement is on its way
        return min(SMALL_CHUNK, left)  # the window shrank under chunks that asked for none

    def asks(self, sent: int, acked: int, left: int) -> bool:
        """Whether the chunk that ends at ``sent`` asks the fetcher to acknowledge it at once:
        it fills the window, and a fetcher acknowledges only every ``ACK_EVERY`` bytes unasked."""
        return left > 0 and not self._fits(sent, acked, left)

    def _fits(self, sent: int, acked: int, left: int) -> int:
        room = min(FILE_CHUNK, left, self.size - (sent - acked))
        return room if room >= min(SMALL_CHUNK, left) else 0

    def sent(self, end: int, now: float, asked: bool) -> None:
        self._sent.append((end, now))
        if asked:
            self._asked = end

    def acked(self, offset: int, now: float, least: float | None = None) -> None:
        """The fetcher has the file up to ``offset``: the window changes by how long the last
        chunk it acknowledges took, beyond the link's round trip with nothing queued (``least``,
        as the kernel saw it) or failing that the quickest acknowledgement. (Taken alone, the
        quickest of a fetch begun behind others' chunks was seconds: it never shrank, and got
        all the uplink.)"""
        when = None
        while self._sent and self._sent[0][0] <= offset:
            when = self._sent.popleft()[1]
        if when is None:
            return
        self._quickest = min(self._quickest, now - when)
        waited = now - when - (self._quickest if least is None else least)  # behind others
        if waited > SLOW_ACK:  # by a quarter: big windows give up most, and fetches even out
            self.size = max(SMALLEST_WINDOW, self.size * 3 // 4 // SMALL_CHUNK * SMALL_CHUNK)
        else:
            self.size = min(FILE_WINDOW, self.size + SMALL_CHUNK)


def local_name(offered: str) -> str:
    """A name to save an offered file under: letters, digits and a few marks; the rest "_";
    never hidden, never empty, never one that ends as a fetch's own ``.part`` file does, and
    short enough to take a suffix within the file system's 255 bytes. A long name is cut short
    before its extension: cut at the end, ``a…a.exe.pdf`` was saved as ``a…a.exe`` (an
    attacker's offer)."""
    name = "".join(map(_safe_in_name, offered)).strip(" .")
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
