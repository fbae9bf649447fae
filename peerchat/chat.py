"""Message ids, Lamport time, de-duplication and per-sender order. No I/O, no clocks read here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Our clock follows a received (or kept) Lamport time up to this and no further. Whatever a peer
# sends, our own times stay far below the limit a batch may carry (``batch.MAX_LAMPORT``), so
# peers never refuse what we send; a message with a time above this is still taken, and sorts
# after the others.
MAX_LAMPORT = 2**60


@dataclass(slots=True)  # not frozen: made once per message received, on the hot path
class Chat:
    """One message. On the wire it travels inside its author's signed batch (``batch``)."""

    sender: str
    seq: int
    lamport: int
    text: str
    time: float  # the author's wall clock
    mono: float  # the author's monotonic clock, for latency measured on one host
    action: bool = False  # /me: "* alice waves"
    live: bool = False  # received as it was said (not from a store): never shown as history


class ChatLog:
    """Numbers this node's messages and decides when a received message may be shown.

    Each sender numbers its messages 1, 2, 3...; a message is shown once, and only after every
    earlier one from the same sender that this node is owed. A node is owed the messages sent
    after it connected: the sender's hello carries the last number it sent before that.
    """

    def __init__(
        self,
        node_id: str,
        held_back: int = 1024,
        *,
        last_seq: int = 0,
        numbers: Callable[[], int] | None = None,
    ) -> None:
        """``last_seq``: the last number this node used before (a restart continues after it);
        ``numbers`` hands out the next ones (by default counting on from ``last_seq``)."""
        self.node_id = node_id
        self.seq = last_seq
        self.clock = 0
        self._held_back = held_back
        self._next = numbers or (lambda: self.seq + 1)
        # sender -> its last message shown in order; in the order last moved on (``heads``)
        self._shown: dict[str, int] = {}
        self._held: dict[str, dict[int, Chat]] = {}
        # sender -> the highest it holds, while it holds any: asked of each old batch that
        # comes (``max`` over a thousand held was a tenth of a restarted node's catch-up)
        self._tops: dict[str, int] = {}
        self._dropped: dict[str, int] = {}  # sender -> the lowest held message let go

    def compose(self, text: str, wall: float, mono: float, *, action: bool = False) -> Chat:
        self.seq = self._next()
        self.clock += 1
        return Chat(self.node_id, self.seq, self.clock, text, wall, mono, action)

    def head(self, sender: str) -> int | None:
        """How far ``sender``'s messages go here: the last shown in order, or ours sent."""
        return self.seq if sender == self.node_id else self._shown.get(sender)

    def heads(self) -> dict[str, int]:
        """Per sender, the last message shown in order (ours: the last we sent), in the order
        their messages came, ours last: a summary that can hold only so many authors keeps
        the latest. (It kept the highest numbers, which each author chooses: keys that spoke
        once at 2^61 pushed an author that had left out of every summary, attack round 34.)"""
        return {**self._shown, self.node_id: self.seq}

    @property
    def authors(self) -> int:
        """How many senders ``heads`` names (counted, not copied)."""
        return len(self._shown) + (self.node_id not in self._shown)

    def restore(self, sender: str, seq: int, lamport: int) -> None:
        """What the store held at start: ``sender``'s messages up to ``seq`` are here already."""
        self.clock = max(self.clock, min(lamport, MAX_LAMPORT))
        if sender != self.node_id:
            self._move_on(sender, max(seq, self._shown.get(sender, 0)))

    def held_top(self, sender: str) -> int | None:
        """The highest of ``sender``'s messages held back behind a gap, if any."""
        return self._tops[sender] if self._held.get(sender) else None

    def shown(self, sender: str) -> int | None:
        """The last of ``sender``'s messages shown in order; None for a sender never heard."""
        return self._shown.get(sender)

    def start_after(self, sender: str, seq: int) -> list[Chat]:
        """Messages of ``sender`` numbered ``seq`` or lower that have not come will never come:
        stop waiting for them. Returns the held messages this lets through, in order (those
        that did come are shown, not dropped)."""
        dropped = self._dropped.pop(sender, None)
        if dropped is not None:
            seq = min(seq, dropped - 1)  # that one came and was let go: it is fetched again
        if seq <= self._shown.get(sender, -1):
            return []
        self._move_on(sender, seq)
        held = self._held.get(sender)
        if not held:
            return []
        early = [held.pop(n) for n in sorted(n for n in held if n <= seq)]
        return early + self._release(sender)

    def receive(self, message: Chat) -> list[Chat]:
        """The messages that can now be shown, in order: none for a duplicate or a gap."""
        self.clock = max(self.clock, min(message.lamport, MAX_LAMPORT)) + 1
        sender, seq = message.sender, message.seq
        shown = self._shown.setdefault(sender, seq - 1)
        held = self._held.get(sender)
        if seq == shown + 1 and not held:  # the usual case: next in line, nothing waiting
            self._move_on(sender, seq)
            return [message]
        if message.seq <= shown or held and message.seq in held:
            return []
        if held is None:
            held = self._held[sender] = {}
        self._tops[sender] = max(self._tops[sender], seq) if held else seq
        held[seq] = message
        ready = self._release(sender)
        if len(held) > self._held_back:
            # Bounded memory: the latest goes; it is fetched again with the gap (``sync``).
            latest = self._tops[sender]
            del held[latest]
            self._tops[sender] = max(held)
            self._dropped[sender] = min(latest, self._dropped.get(sender, latest))
        return ready

    def let_go(self, sender: str, seq: int) -> None:
        """Held messages of ``sender`` numbered ``seq`` or higher go (bounded memory): they
        are fetched again with the gap."""
        held = self._held.get(sender)
        if not held:
            return
        for n in [n for n in held if n >= seq]:
            del held[n]
            self._dropped[sender] = min(n, self._dropped.get(sender, n))
        if held:
            self._tops[sender] = max(held)

    def forget(self, sender: str) -> None:
        self._held.pop(sender, None)
        self._tops.pop(sender, None)
        self._dropped.pop(sender, None)

    def gapped(self) -> set[str]:
        """Senders with messages held back behind a gap, or let go to be fetched again."""
        return {s for s, held in self._held.items() if held} | set(self._dropped)

    def forget_all_of(self, sender: str) -> None:
        """Nothing of ``sender`` is known any more: a message of its that comes again counts
        as a new sender's (``Messaging.forget_unkept``)."""
        self.forget(sender)
        self._shown.pop(sender, None)

    def forget_silent(self, sender: str) -> bool:
        """Forget ``sender`` altogether if nothing of it was ever shown, held or let go (it
        said nothing); whether it was."""
        if self._shown.get(sender) != 0 or sender in self._held or sender in self._dropped:
            return False
        del self._shown[sender]
        return True

    def _release(self, sender: str) -> list[Chat]:
        held = self._held.get(sender)
        if not held:
            return []
        out = []
        nxt = self._shown[sender] + 1
        while nxt in held:
            out.append(held.pop(nxt))
            nxt += 1
        if out:
            self._move_on(sender, nxt - 1)
        return out

    def _move_on(self, sender: str, seq: int) -> None:
        self._shown.pop(sender, None)  # (and in again at the end: the order they moved on in)
        self._shown[sender] = seq
