"""Message ids, Lamport time, de-duplication and per-sender order. No I/O, no clocks read here."""

from __future__ import annotations

from collections import deque

from peerchat.protocol import Chat

MAX_LAMPORT = 2**60  # far below the wire's limit, so our own clock can never exceed that


class Overflow(Exception):
    """A sender left a gap and then sent more than we are willing to hold back."""


class ChatLog:
    """Numbers this node's messages and decides when a received message may be shown.

    Each sender numbers its messages 1, 2, 3...; a message is shown once, and only after every
    earlier one from the same sender that this node is owed. A node is owed the messages sent
    after it connected: the sender's hello carries the last number it sent before that.
    """

    def __init__(self, node_id: str, held_back: int = 1024, kept: int = 4096) -> None:
        self.node_id = node_id
        self.seq = 0
        self.clock = 0
        self._held_back = held_back
        self._shown: dict[str, int] = {}
        self._held: dict[str, dict[int, Chat]] = {}
        self._sent: deque[Chat] = deque(maxlen=kept)  # our own latest, to send again

    def compose(self, text: str, wall: float, mono: float) -> Chat:
        self.seq += 1
        self.clock += 1
        chat = Chat(self.node_id, self.seq, self.clock, text, wall, mono)
        self._sent.append(chat)
        return chat

    def sent_after(self, seq: int) -> tuple[list[Chat], int]:
        """Our own messages numbered above ``seq`` that are still kept, and how many of those
        are no longer kept (sent too long ago)."""
        if seq >= self.seq:
            return [], 0
        kept = [chat for chat in self._sent if chat.seq > seq]
        return kept, self.seq - seq - len(kept)

    def shown(self, sender: str) -> int | None:
        """The last of ``sender``'s messages shown in order; None for a sender never heard."""
        return self._shown.get(sender)

    def start_after(self, sender: str, seq: int) -> list[Chat]:
        """Messages of ``sender`` numbered ``seq`` or lower will never reach us: stop waiting
        for them. Returns the held messages this lets through."""
        if seq <= self._shown.get(sender, -1):
            return []
        self._shown[sender] = seq
        held = self._held.get(sender)
        if held:
            for stale in [n for n in held if n <= seq]:
                del held[stale]
        return self._release(sender)

    def receive(self, message: Chat) -> list[Chat]:
        """The messages that can now be shown, in order: none for a duplicate or a gap."""
        if message.lamport > MAX_LAMPORT:
            # Taking it would push our own clock past what peers accept: refuse the sender.
            raise Overflow(f"{message.sender} sent a Lamport time beyond {MAX_LAMPORT}")
        self.clock = max(self.clock, message.lamport) + 1
        sender, seq = message.sender, message.seq
        shown = self._shown.setdefault(sender, seq - 1)
        held = self._held.setdefault(sender, {})
        if seq == shown + 1 and not held:  # the usual case: next in line, nothing waiting
            self._shown[sender] = seq
            return [message]
        if message.seq <= shown or message.seq in held:
            return []
        held[message.seq] = message
        ready = self._release(sender)
        if len(held) > self._held_back:
            raise Overflow(f"{sender} left a gap of more than {self._held_back} messages")
        return ready

    def forget(self, sender: str) -> None:
        self._held.pop(sender, None)

    def _release(self, sender: str) -> list[Chat]:
        held = self._held.get(sender)
        if not held:
            return []
        out = []
        nxt = self._shown[sender] + 1
        while nxt in held:
            out.append(held.pop(nxt))
            nxt += 1
        self._shown[sender] = nxt - 1
        return out
