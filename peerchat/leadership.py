"""Carrying out the Bully election's actions, and watching the tracker as a member.

``election.Bully`` decides; this module sends what it says, keeps its timer, takes or lets go
of the room's home address as the role moves, and notices a tracker that went silent.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import trio

from peerchat import events
from peerchat.connection import Connection
from peerchat.election import Action, Broadcast, Follow, Phase, Send
from peerchat.protocol import Answer, Coordinator, Election, ProtocolViolation

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

# How soon a tracker found silent is looked at again (``silent``), to be taken for dead: a
# quarter of a beat was 50 ms, and 125 ms once the beat was 0.5 s (silent failover 70 ms later)
SECOND_LOOK = 0.05


class Leadership:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._timer_changed = trio.Event()
        self._following: str | None = None  # the last tracker this node followed

    def act(self, actions: list[Action], *, announce: bool = True) -> None:
        node = self.node
        if node.leaving:  # its goodbye closes the tracker's link too: that is no loss
            return
        for action in actions:
            log.debug("election: %s", action)
            match action:
                case Send(to, message):
                    conn = node.links.conns.get(to)
                    if conn is not None:
                        conn.send(message)
                case Broadcast(message):
                    node.links.broadcast(message)
                case Follow(node_id):
                    self._follow(node_id, announce)
        self._timer_changed.set()

    def _follow(self, node_id: str, announce: bool) -> None:
        node = self.node
        previous, self._following = self._following, node_id
        if node_id == node.node_id:
            log.info("this node is now the tracker")
            # Members owed the new tracker no pongs until now: each has at least the probe
            # timeout to answer its pings, not a whole new heartbeat timeout. A member silent
            # since a partition began was otherwise let go a second timeout after it (8.4 s).
            now = trio.current_time()
            fresh = now - node.config.heartbeat_timeout + node.config.probe_timeout
            for conn in node.links.conns.values():
                conn.last_heard = max(conn.last_heard, fresh)
            node.hold_home()
        else:
            tracker = node.members.get(node_id)
            if tracker is None:
                node.release_home()
            elif tracker.host != node.home[0]:
                node.hold_home(as_member=True)  # joins at the home address are sent on to it
            else:
                node.hold_home(standby=True)  # in case it never takes the address
            conn = node.links.conns.get(node_id)
            if conn is not None:
                conn.last_heard = trio.current_time()
            if previous is not None and previous != node_id:
                # After a merge the new tracker may not know everyone this node knows.
                node.tracker_role.roster_for_new_tracker(node_id)
        if announce and node.reporting:
            self.report_tracker()

    def report_tracker(self) -> None:
        node = self.node
        tracker_id = node.bully.tracker
        tracker = (
            node.shown_me() if tracker_id == node.node_id else node.members.get(tracker_id or "")
        )
        if tracker is not None:
            node.emit(events.TrackerChanged(tracker))

    # -- handlers -----------------------------------------------------------------------------

    def on_election(self, conn: Connection, message: Election) -> None:
        assert conn.member is not None
        self.act(self.node.bully.on_election(conn.member.node_id, trio.current_time()))

    def on_answer(self, conn: Connection, message: Answer) -> None:
        assert conn.member is not None
        self.act(self.node.bully.on_answer(conn.member.node_id, trio.current_time()))

    def on_coordinator(self, conn: Connection, message: Coordinator) -> None:
        assert conn.member is not None
        node = self.node
        if message.tracker != conn.member.node_id:
            raise ProtocolViolation(f"{conn.peer} claimed the tracker role for {message.tracker}")
        # The rank is the one the hello gave, which everybody's member list holds too.
        priority = conn.member.priority
        self.act(node.bully.on_claim(message.tracker, priority, trio.current_time()))
        replaced = node.links.conns.get(message.replaces)
        if replaced is not None and node.bully.tracker == message.tracker:
            node.links.probe(replaced, on_word=True)  # cut only if hung: a claim drops nobody

    # -- timers -------------------------------------------------------------------------------

    async def election_timer(self) -> None:
        bully = self.node.bully
        while True:
            self._timer_changed = trio.Event()
            deadline = bully.deadline
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._timer_changed.wait()
            if deadline is not None and trio.current_time() >= deadline:
                self.act(bully.on_timer(trio.current_time()))

    async def watch_tracker(self) -> None:
        """As member: a tracker silent for longer than the timeout is taken for dead. Looked
        at every heartbeat, and as its timeout runs out (then again ``SECOND_LOOK`` later:
        ``silent``), not four times a beat: a node alone woke 28 times a second, idle
        (trial 69)."""
        node = self.node
        beat = node.config.heartbeat_interval
        wait = beat
        while True:
            due = trio.current_time() + wait
            await trio.sleep_until(due)
            bully = node.bully
            tracker = bully.tracker
            now = trio.current_time()
            wait = beat
            # This node itself did not run for a while: the tracker's pings are still unread.
            late = now - due > beat * 3 / 4
            if tracker is None and bully.phase is Phase.IDLE and node.reporting:
                # No tracker and no election: the tracker was lost before it was known (while
                # this node was joining). Elect one.
                self.act(bully.tracker_lost(now))
                continue
            if tracker is None or bully.is_tracker or node.entrance.stalled():
                # (Frozen just now: the stall watcher, maybe not yet run, has it rejoin.)
                continue
            conn = node.links.conns.get(tracker)
            if conn is None:
                self.act(bully.tracker_lost(now))
            elif not late and self.silent(conn, now):
                conn.abort("tracker silent")
            elif conn.suspect:
                wait = SECOND_LOOK
            else:
                wait = min(beat, max(0.0, conn.heard + node.config.heartbeat_timeout - now))

    def silent(self, conn: Connection, now: float, patience: float = 1.0) -> bool:
        """Silent past the heartbeat timeout at two checks in a row: after a busy moment, one
        look can come before the reader has caught up with what did arrive. ``patience``
        stretches the timeout."""
        if now - conn.heard <= self.node.config.heartbeat_timeout * patience:
            conn.suspect = False
            return False
        if conn.suspect:
            return True
        conn.suspect = True
        return False
