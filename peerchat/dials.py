"""Dialling a join's addresses a few ahead, to take them in their order.

A join tries its addresses one after another. Dialled one after another, each dead one (a
member that crashed, a stale record on the LAN, a stranger's made-up answer) cost the connect
timeout, and three of them used up a join. Dialled ``AHEAD`` at a time, each taken starting the
next, dead ones cost it about once in ``AHEAD``: by the time the join moves past one, the next
have answered or are about to. No more than that are dialled ahead while they answer: each
connection the join does not take is closed unused. While one does not answer, more are dialled
behind it, so that many dead ones cost about one timeout together.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

Address = tuple[str, int]

AHEAD = 4  # addresses dialled at once: the one taken next and those after it
# While the one taken next has not answered for this long, as many more are dialled as are
# already, again and again: a stranger's 64 dead answers on the LAN, four at a time, each four
# costing the connect timeout, kept a newcomer out for good (attack round 18). Their
# timeouts now run together.
WIDEN_AFTER = 0.25
# A connection made longer ago than this is made anew when taken: the far end closes one that
# says nothing for its hello timeout (3 s), and the handshake needs what is left of it.
FRESH = 0.5


class Dials:
    """The dials of one round: each address's connection, once it is made or failed."""

    def __init__(self, addresses: list[Address], timeout: float) -> None:
        self._nursery: trio.Nursery | None = None
        self._timeout = timeout
        self._order = list(dict.fromkeys(addresses))
        self._started = 0
        self._done: dict[Address, trio.Event] = {}
        self._streams: dict[Address, tuple[trio.SocketStream, float]] = {}
        self.timed_out: set[Address] = set()  # dialled for the whole timeout, in vain

    def _begin(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._dial_ahead(AHEAD)

    async def take(self, address: Address) -> trio.SocketStream:
        """The connection to ``address``, now the caller's to close; ``OSError`` if it failed
        or was not dialled in this round. One made longer than ``FRESH`` ago is made anew."""
        if address in self._order:
            self._dial_ahead(self._order.index(address) + 1 + AHEAD)
        done = self._done.get(address)
        if done is None:
            raise OSError(f"{address} was not dialled")
        while not done.is_set():
            with trio.move_on_after(WIDEN_AFTER):
                await done.wait()
            if not done.is_set():
                self._dial_ahead(2 * self._started)
        stream, made = self._streams.pop(address, (None, 0.0))
        if stream is None:
            raise OSError(f"no connection to {address}")
        if trio.current_time() - made <= FRESH:
            return stream
        await trio.aclose_forcefully(stream)
        with trio.move_on_after(self._timeout):
            return await trio.open_tcp_stream(*address)
        raise OSError(f"{address} no longer answers")

    def _dial_ahead(self, upto: int) -> None:
        """Dial the addresses before ``upto`` in order that are not dialled yet."""
        assert self._nursery is not None
        while self._started < min(upto, len(self._order)):
            address = self._order[self._started]
            self._started += 1
            self._done[address] = trio.Event()
            self._nursery.start_soon(self._dial, address)

    async def _dial(self, address: Address) -> None:
        try:
            with trio.move_on_after(self._timeout) as waited:
                stream = await trio.open_tcp_stream(*address)
                self._streams[address] = (stream, trio.current_time())
            if waited.cancelled_caught:
                self.timed_out.add(address)
        except OSError:
            pass
        finally:
            self._done[address].set()

    async def _close_untaken(self) -> None:
        untaken, self._streams = list(self._streams.values()), {}
        with trio.CancelScope(shield=True):
            for stream, _ in untaken:
                await trio.aclose_forcefully(stream)


@contextlib.asynccontextmanager
async def dialled(addresses: list[Address], timeout: float) -> AsyncIterator[Dials]:
    """``addresses`` dialled ``AHEAD`` at a time, each within ``timeout``; on the way out, the
    dials still going are given up and the connections nobody took are closed. An exception
    raised in the body comes out in an exception group (the dials' nursery's)."""
    dials = Dials(addresses, timeout)
    try:
        async with trio.open_nursery() as nursery:
            dials._begin(nursery)
            try:
                yield dials
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await dials._close_untaken()
