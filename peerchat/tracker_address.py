"""The room's home address: the one address everybody knows, held by whichever node is tracker.

A tracker on another host cannot bind it; it knocks on it instead (``knock``), every
``knock_interval``, so that whoever holds it later (a node that founded the room there afresh)
meets this part of the room and the two merge. A tracker that finds it taken on its own host
binds it as soon as it is free, and knocks meanwhile too.

While the tracker is on another host, a member on the home's host holds it (``as_member``):
it answers joins there with the tracker's address, so the address everybody knows keeps
letting newcomers in. A member does not knock, and lets go as soon as a tracker on the home's
host can take the address itself.

While the tracker is on the home's host, its members there stand by (``standby``): one takes
the address as a member once it has stayed free for twice ``rebind_interval`` (a tracker
retries every ``rebind_interval``, and takes it first; a newcomer finds nobody there for longer
before it founds a room), and lets go when the tracker knocks on it, to take it. One that took
it back because the tracker did not, after letting go, pays no heed to knocks for a while, twice
as long each time. A member that claimed the role and never bound the address left it
empty, and newcomers founded a second room there (an attack).
"""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Awaitable, Callable

import trio

from peerchat.addresses import format_addr
from peerchat.config import Config

log = logging.getLogger(__name__)

MAX_STRIKE_DOUBLINGS = 6  # knocks not heeded for up to 64 knock intervals


class StartupError(Exception):
    """The node cannot start; ``status`` is the exit code (2 for bad usage, 1 otherwise)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


async def bind(host: str, port: int) -> list[trio.SocketListener]:
    """Listen on host:port, given by the user: a taken or foreign address is a usage error."""
    try:
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        # (Port 0, any free one: "10.9.9.9:0" said nothing to a user trial.)
        where = format_addr(host, port) if port else host
        raise StartupError(f"cannot listen on {where}: {exc.strerror or exc}", 2) from exc


class TrackerAddress:
    def __init__(
        self,
        host: str,
        port: int,
        config: Config,
        accept: Callable[[trio.SocketStream], Awaitable[None]],
        knock: Callable[[], Awaitable[None]],
    ) -> None:
        self.host, self.port = host, port
        self._config = config
        self._accept = accept
        self._knock = knock
        self._scope: trio.CancelScope | None = None
        self._as_member = False
        self._standby = False
        self.serving = False  # listening on the address now
        self._stepped_aside = False  # let go for a knock: did the tracker take the address?
        self._strikes = 0  # times in a row it did not
        self._deaf_until = -math.inf  # knocks before then are not heeded

    def __str__(self) -> str:
        return format_addr(self.host, self.port)

    async def try_bind(self) -> list[trio.SocketListener] | None:
        """Listeners on the address when it is free and on this machine; None when taken."""
        try:
            return await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return None
            if exc.errno == errno.EADDRNOTAVAIL:  # (a user trial read only the errno's text)
                why = (
                    "it is not an address of this machine to start one on. A member's screen "
                    'shows its address ("you are alice at HOST:PORT"); a room with a name is '
                    "found by it on this network, with no address: --room NAME, or /join NAME"
                )
            else:
                why = f"one cannot be started there ({exc.strerror})"
            raise StartupError(f"no tracker answers at {self}, and {why}") from exc

    def hold(
        self,
        nursery: trio.Nursery,
        listeners: list[trio.SocketListener] | None,
        *,
        as_member: bool = False,
        standby: bool = False,
    ) -> None:
        """Serve the address from now on (binding it as soon as it is free; ``standby``: once
        it has been free for a moment), until release()."""
        as_member = as_member or standby
        if self._scope is not None and (self._as_member, self._standby) != (as_member, standby):
            self.release()  # a tracker knocks, a member does not: start again in the new role
        elif self._scope is not None and standby and not self.serving:
            self.release()  # another tracker: looked at now, not at the next interval
        if self._scope is None:
            self._scope = trio.CancelScope()
            self._as_member, self._standby = as_member, standby
            nursery.start_soon(self._hold, self._scope, nursery, listeners)
        elif listeners is not None:
            for listener in listeners:
                listener.socket.close()

    def release(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None

    def step_aside(self, nursery: trio.Nursery) -> None:
        """The tracker knocked on the address this member stands by at: let it go, for the
        tracker to take, and stand by again. (A tracker that knocks and never takes it, to
        keep it empty, is heeded less and less often.)"""
        if not self.serving or not self._standby or trio.current_time() < self._deaf_until:
            return
        self._stepped_aside = True
        self.release()
        self.hold(nursery, None, standby=True)

    async def _hold(
        self,
        scope: trio.CancelScope,
        nursery: trio.Nursery,
        listeners: list[trio.SocketListener] | None,
    ) -> None:
        with scope:
            if self._standby:
                listeners = await self._stand_by()
                if listeners is None:
                    return
            # The dead tracker's socket may linger for a moment: retry soon, then less often.
            pause = 0.005
            next_knock = trio.current_time() + self._config.knock_interval
            while listeners is None:
                try:
                    listeners = await self.try_bind()
                except StartupError as exc:
                    if self._as_member:
                        return  # not this host's address: nothing for a member to hold
                    log.info("knocking on the home address instead: %s", exc)
                    await self._knock_forever()
                if listeners is None and self._as_member:
                    await trio.sleep(self._config.knock_interval)  # someone here holds it
                elif listeners is None:
                    if trio.current_time() >= next_knock:
                        await self._knock()
                        next_knock = trio.current_time() + self._config.knock_interval
                    await trio.sleep(pause)
                    pause = min(2 * pause, self._config.rebind_interval)
            log.info("listening on the tracker address %s", self)
            self.serving = True
            try:
                await trio.serve_listeners(self._accept, listeners, handler_nursery=nursery)
            finally:
                self.serving = False
                for listener in listeners:
                    await trio.aclose_forcefully(listener)

    async def _stand_by(self) -> list[trio.SocketListener] | None:
        """Listeners on the address once it has stayed free for twice ``rebind_interval``,
        looked at every ``knock_interval``; None if it is not this host's."""
        config = self._config
        while True:
            try:
                free = await self.try_bind()
                if free is not None:
                    for listener in free:
                        await trio.aclose_forcefully(listener)
                    await trio.sleep(2 * config.rebind_interval)
                    listeners = await self.try_bind()
                    if listeners is not None:
                        self._taken(by_tracker=False)
                        return listeners
            except StartupError:
                return None  # not this host's address: nothing for a member to hold
            self._taken(by_tracker=True)
            await trio.sleep(config.knock_interval)

    def _taken(self, *, by_tracker: bool) -> None:
        """The address was taken, by someone else (the tracker, or one of its members) or by
        this member: after a step aside, a strike against the tracker's knocks or none."""
        if not self._stepped_aside:
            return
        self._stepped_aside = False
        if by_tracker:
            self._strikes = 0
        else:
            self._strikes += 1
            deaf = self._config.knock_interval * 2 ** min(self._strikes, MAX_STRIKE_DOUBLINGS)
            self._deaf_until = trio.current_time() + deaf
            log.info(
                "the tracker knocked on %s and did not take it: not heeded for %s s", self, deaf
            )

    async def _knock_forever(self) -> None:
        while True:
            await self._knock()
            await trio.sleep(self._config.knock_interval)
