"""Timing and size settings, each with the constraint it must keep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Config:
    # The tracker pings every member this often; members answer with a pong.
    heartbeat_interval: float = 0.2
    # Silence from the tracker (or, at the tracker, from a member) longer than this means death.
    # Must be several heartbeat intervals so that one late ping is not taken for a crash.
    heartbeat_timeout: float = 1.0
    # A node that lost its tracker waits this long per higher member before electing: the
    # highest claims at once, and a room of 50 does not send 1,200 election messages for it.
    election_stagger: float = 0.002
    # How long an election waits for a higher node to answer before it claims victory.
    answer_timeout: float = 0.3
    # After a higher node answered, how long to wait for its coordinator message.
    coordinator_timeout: float = 1.0
    # A connection that has not introduced itself by then is closed.
    hello_timeout: float = 3.0
    # Dialling one peer, and the whole join, may take at most this long.
    connect_timeout: float = 3.0
    join_timeout: float = 10.0
    # A new tracker retries binding the shared tracker address at most this far apart.
    rebind_interval: float = 0.1
    # A newcomer finds nobody at the tracker address ``found_after`` times, ``found_delay``
    # apart, before founding a room there: longer than a failover takes to rebind the address.
    # A node that rejoins after a stall waits longer, for the new tracker's rebind to succeed
    # once the stalled node lets the address go (at most ``rebind_interval``).
    found_delay: float = 0.1
    found_after: int = 3
    refound_after: int = 8
    # Largest frame accepted or sent.
    max_frame: int = 1 << 20
    # Frames queued for one peer; a peer this far behind is cut off so it cannot stall others.
    send_queue: int = 4096
    # Out-of-order messages held back per sender while waiting for the gap to fill.
    held_back: int = 1024
    # How long a quitting node lets its goodbyes drain.
    goodbye_timeout: float = 0.5

    def __post_init__(self) -> None:
        if self.heartbeat_timeout < 2 * self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be at least two heartbeat intervals")
        if self.found_after * self.found_delay <= 2 * self.rebind_interval:
            raise ValueError("founding must wait out at least two rebind attempts")
