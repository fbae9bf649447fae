"""Timing and size settings, each with the constraint it must keep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Config:
    # The tracker pings every member this often; members answer with a pong. A death is seen
    # as the timeout runs out, whatever the interval: at 0.2 s an idle room of 10 cost its
    # tracker 2% of a core and each member 1% (trial 73: a chat idle all day), at 0.5 s half.
    heartbeat_interval: float = 0.5
    # Silence from the tracker (or, at the tracker, from a member) longer than this means death.
    # Must be several heartbeat intervals so that one late ping is not taken for a crash. As
    # long as the kernel gives a link's unacknowledged data (``link_timeout``), and well past
    # 3 s: TCP resends what a blip lost 0.2, 0.6, 1.4 and 3 s after sending it, so a blip of up
    # to about 2.9 s costs a delay, not a room reshuffled (at 1 s a user's 2 s blip moved the
    # tracker to the cut-off member and back, with ten notices on its screen; at 3 s it still
    # did: the resend at 3 s came too late).
    heartbeat_timeout: float = 4.0
    # How long a line said waits, once, for a member whose send queue is long (``wait_sendable``).
    send_wait: float = 1.0
    # In a link's first seconds the tracker waits twice the heartbeat timeout before it cuts a
    # silent member off: a newcomer making its handshakes with every member of a large room can
    # be too busy to answer a ping for a second (10 newcomers into a room of 50 on two cores),
    # and was cut off again and again.
    link_grace: float = 5.0
    # A node that lost its tracker waits this long per higher member before electing: the
    # highest claims at once, and a room of 50 does not send 1,200 election messages for it.
    election_stagger: float = 0.002
    # How long an election waits for a higher node to answer before it claims victory.
    answer_timeout: float = 0.3
    # After a higher node answered, how long to wait for its coordinator message.
    coordinator_timeout: float = 1.0
    # The handshake, and then the hello, must each be done this soon, or the connection is
    # closed: silent ones hold an admission slot no longer. A loaded node (a room of 100
    # forming on two cores) can take over a second to begin a handshake: 1 s cut honest dials.
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
    # The kernel probes a link idle for ``keepalive_interval`` (TCP keepalive, every as long
    # again), and fails a link whose data or probes went unacknowledged for ``link_timeout``
    # (TCP_USER_TIMEOUT): a cut or a vanished host is noticed in about 4-5 s, on every link,
    # for nothing. A link to a member the tracker lost is probed (``probe_timeout``) instead
    # of beating on every link, which cost a room of 50 more than half a core when idle.
    keepalive_interval: float = 1.0
    link_timeout: float = 4.0
    probe_timeout: float = 1.0
    # A member lost without a goodbye is dialled again, ``redial_first`` after the loss, then
    # twice as long after each failure up to ``redial_cap``, for ``redial_for`` in all.
    redial_first: float = 0.1
    redial_cap: float = 2.0
    redial_for: float = 30 * 60.0
    # Where the member's host refuses the connection (nothing listens: its process is gone),
    # the delay doubles up to this instead: a room of 100 whose members crashed would
    # otherwise dial their closed ports 50 times a second between them.
    redial_gone_cap: float = 30.0
    # A member whose host has said this long that nothing listens is taken to have quit (its
    # goodbye unheard): not listed as away, nor owed lines. Before, it may be a crash, and the
    # program started again in seconds.
    gone_after: float = 15.0
    # A tracker that cannot hold the room's home address (it is on another host) knocks on it
    # this often, to meet whoever holds it: another part of the same room.
    knock_interval: float = 1.0
    # A member the tracker announced is dialled if it has not dialled this node by then (after
    # a merge nobody else would); a newcomer's own dial usually comes first.
    announce_dial_delay: float = 0.5
    # A member whose list of the room has differed from its tracker's (the digest in each
    # ping) for this long sends its roster and asks for the tracker's, at most once per this
    # long, and dials the members missing from two answers in a row: two members that each
    # lost the other (crossing dials, a refounded room) find each other again through the
    # tracker, while newcomers still linking are left to dial (at once, dialling them cost a
    # room of 100 on two cores its forming).
    roster_check_after: float = 3.0
    # Members the tracker vouched for that are not linked yet, remembered at most (the oldest
    # are forgotten first): a tracker's word costs each member a bounded amount.
    max_vouched: int = 4096
    # Members dialled again on the redial schedule at most; past that the one failing longest
    # is let go. Tracker-announced dials under way at once, at most (past that, none is begun:
    # a real member dials this node too).
    max_redial: int = 1024
    max_word_dials: int = 256
    # Messages handed on from the store (an answer to a want, history) go out this many frames
    # at a time, each lot once the one before has left: live chat is never stuck behind them.
    resend_batch: int = 64
    # One answer to a want holds about this many messages; the asker asks again for more, of
    # the member that holds the most, the author first: after a restart the first summary to
    # come may be another member's, whose pages cost a signature check each (14,500 typed
    # messages a second caught up with pages of 5,000, 31,700 with pages of 1,000).
    sync_page: int = 1000
    # Wants a peer may have waiting for an answer; more is a protocol violation.
    max_wants: int = 1024
    # A peer asked for messages that sends none of them for this long is taken to lack them,
    # and others are asked: one that claims much and then stays silent cannot stall a gap.
    want_timeout: float = 10.0
    # History shown at start (from the store) and asked of the room by a node, in messages.
    history: int = 100
    # A peer's name change or typing notice counts once this often at most (``talk``).
    notice_interval: float = 1.0
    # Joining that takes longer than this is reported ("connecting to HOST:PORT ...").
    connecting_notice: float = 1.0
    # A room found by name: how long a search of the local network listens for answers, and
    # how often its tracker searches for parts of the room it does not know.
    discover_wait: float = 1.5
    discover_interval: float = 10.0
    # After members leave, what this node holds of them is told to the others once, this long
    # (to twice this, at random) later: not during the election a lost tracker sets off.
    departure_delay: float = 1.0
    # While members are away (lost, dialled again), this node asks its links about them
    # (``Messaging._ask_after_away``): ``away_ask_first`` after a loss (past the departure's
    # summary), then twice as long each time up to ``away_ask_cap``, each at random up to
    # half as long again. One that still hears a member answers with what it holds beyond,
    # and the lines come round (a trial's cut between two members that both reached a third
    # kept their lines from each other for as long as it lasted).
    away_ask_first: float = 2.0
    away_ask_cap: float = 4.0
    # Received messages are written to the store this often, all in one transaction.
    store_interval: float = 0.5
    # Retention: this many messages, none older than this (by arrival), pruned hourly and as soon
    # as the count passes the bound by a tenth (or a batch).
    keep_messages: int = 100_000
    keep_seconds: float = 30 * 24 * 3600.0
    keep_bytes: int = 64 * 1024 * 1024  # of signed batches: whatever their count
    prune_interval: float = 3600.0
    # The members' addresses are saved to the data dir this often (and at the end).
    remember_interval: float = 5.0
    # A join answered by a redirect follows at most this many.
    max_redirects: int = 3
    # Largest frame accepted or sent: a welcome listing a room of thousands is the biggest.
    max_frame: int = 1 << 20
    # Largest frame from a connection that is not yet a member: a hello is a few hundred bytes,
    # so a stranger cannot make the node buffer a megabyte just by connecting.
    max_hello_frame: int = 8 * 1024
    # A frame, once begun, must be whole within this long, and a second more for each
    # ``min_pace`` bytes of it in: a partial frame held open is cut, one on a slow link is not
    # (a user trial's paste of 27,000 characters over a 128 kbit/s uplink shared by four links
    # took 7 s, was cut at 5 s, again and again, and its sender dropped from the room). Not a
    # frame over ``small_frame``: it holds the shared budget meanwhile (attack round 26).
    frame_timeout: float = 5.0
    min_pace: int = 512  # bytes a second
    # Partial frames larger than ``small_frame`` (a chat of 16,384 four-byte characters fits)
    # draw on one budget shared by every connection, so that many peers each holding a frame
    # open just under the limit cannot add up to gigabytes.
    small_frame: int = 80 * 1024
    receive_budget: int = 32 << 20
    # Connections in all, members included. Lowered at start to fit the descriptor limit, so
    # accepting never fails for lack of one while members are being served.
    max_connections: int = 1024
    # Descriptors kept free of connections: the listeners, the log file, stdio, DNS lookups.
    spare_descriptors: int = 64
    # Connections that are not (yet) members: not yet introduced, or introduced but neither
    # joining nor known to the room. Capped in all and per remote address, so strangers can
    # never crowd out members. Loopback rooms put many honest nodes on one address, and a
    # burst of newcomers dials every member at once: hence the per-address room.
    max_pending: int = 256
    max_pending_per_address: int = 64
    # A connection that introduced itself without joining waits this long for the tracker to
    # announce it (or to be in the member list already), then is closed. Shorter than
    # ``connect_timeout``, so the dialling side hears of it.
    admit_timeout: float = 2.0
    # After a handshake made with another secret, connections from that address are closed
    # unanswered for this long: a live node was answering ~1,000 guesses at its secret a second.
    guess_pause: float = 1.0
    # Refusals under a flood are logged at most this often, with the count left out.
    refusal_log_interval: float = 1.0
    # Frames queued for one peer; a peer this far behind is cut off so it cannot stall others.
    send_queue: int = 4096
    # Out-of-order messages held back per sender while waiting for the gap to fill.
    held_back: int = 1024
    # Bytes of batches received past a gap that wait, unstored, for it to fill: in all.
    held_bytes: int = 8 * 1024 * 1024
    # How long a quitting node lets its goodbyes drain.
    goodbye_timeout: float = 0.5

    def __post_init__(self) -> None:
        if self.heartbeat_timeout < 2 * self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be at least two heartbeat intervals")
        if self.link_timeout < 2 * self.keepalive_interval:
            raise ValueError("link_timeout must be at least two keepalive intervals")
        if self.admit_timeout >= self.connect_timeout:
            raise ValueError("admit_timeout must be shorter than connect_timeout")
        if self.max_hello_frame > self.small_frame or self.small_frame > self.max_frame:
            raise ValueError("frame limits must grow: hello <= small <= max")
        if self.found_after * self.found_delay <= 2 * self.rebind_interval:
            raise ValueError("founding must wait out at least two rebind attempts")
