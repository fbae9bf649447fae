"""What a node reports to whoever presents it: the prompt, or headless JSON lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peerchat.membership import Member


@dataclass(frozen=True, slots=True)
class Ready:
    me: Member
    role: str  # "tracker" or "peer"

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "node_id": self.me.node_id,
            "username": self.me.username,
            "addr": self.me.addr,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class TrackerChanged:
    tracker: Member

    def as_json(self) -> dict[str, Any]:
        t = self.tracker
        return {"event": "tracker", "node_id": t.node_id, "username": t.username, "addr": t.addr}


@dataclass(frozen=True, slots=True)
class PeerJoined:
    member: Member

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "peer_joined",
            "node_id": m.node_id,
            "username": m.username,
            "addr": m.addr,
        }


@dataclass(frozen=True, slots=True)
class PeerLeft:
    member: Member
    reason: str

    def as_json(self) -> dict[str, Any]:
        m = self.member
        return {
            "event": "peer_left",
            "node_id": m.node_id,
            "username": m.username,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MessageReceived:
    sender: Member
    seq: int
    lamport: int
    text: str
    time: float  # sender's wall clock, seconds since the epoch
    sent_mono: float  # sender's monotonic clock at send, for latency measurements on one host
    received_mono: float
    own: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "message",
            "id": f"{self.sender.node_id}:{self.seq}",
            "from": self.sender.username,
            "from_id": self.sender.node_id,
            "text": self.text,
            "time": self.time,
            "lamport": self.lamport,
            "own": self.own,
            "sent_mono": self.sent_mono,
            "received_mono": self.received_mono,
        }


@dataclass(frozen=True, slots=True)
class Who:
    members: tuple[Member, ...]  # everyone, this node included
    tracker_id: str | None
    me_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "who",
            "peers": [
                {
                    "node_id": m.node_id,
                    "username": m.username,
                    "addr": m.addr,
                    "tracker": m.node_id == self.tracker_id,
                    "you": m.node_id == self.me_id,
                }
                for m in self.members
            ],
        }


@dataclass(frozen=True, slots=True)
class Error:
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"event": "error", "message": self.message}


Event = Ready | TrackerChanged | PeerJoined | PeerLeft | MessageReceived | Who | Error
