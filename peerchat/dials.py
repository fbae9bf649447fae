"""Dialling a list of addresses all at once, to take them in their order.

A join tries its addresses one after another. Dialled one after another, each dead one (a
member that crashed, a stale record on the LAN, a stranger's made-up answer) cost the connect
timeout, and three of them used up a join. Dialled together, the dead ones cost it once: by the
time the join moves past the first, the others have answered or are about to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

Address = tuple[str, int]

AT_ONCE = 16  # dials under way together; the rest wait for a free place


class Dials:
    """The dials of one round: each address's connection, once it is made or failed."""

    def __init__(self, timeout: float, fresh: float) -> None:
        self._timeout = timeout
        self._fresh = fresh
        self._done: dict[Address, trio.Event] = {}
        self._streams: dict[Address, tuple[trio.SocketStream, float]] = {}
        self._limit = trio.CapacityLimiter(AT_ONCE)

    async def take(self, address: Address) -> trio.SocketStream:
        """The connection to ``address``, now the caller's to close; ``OSError`` if it failed
        or was not dialled in this round. One made longer than ``fresh`` ago is made anew:
        the far end closes a connection that says nothing for long, and the joins before
        this one may have taken that long."""
        done = self._done.get(address)
        if done is None:
            raise OSError(f"{address} was not dialled")
        await done.wait()
        stream, made = self._streams.pop(address, (None, 0.0))
        if stream is None:
            raise OSError(f"no connection to {address}")
        if trio.current_time() - made <= self._fresh:
            return stream
        await trio.aclose_forcefully(stream)
        with trio.move_on_after(self._timeout):
            return await trio.open_tcp_stream(*address)
        raise OSError(f"{address} no longer answers")

    async def _dial(self, address: Address) -> None:
        try:
            async with self._limit:
                with trio.move_on_after(self._timeout):
                    stream = await trio.open_tcp_stream(*address)
                    self._streams[address] = (stream, trio.current_time())
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
async def dialled(addresses: list[Address], timeout: float, fresh: float) -> AsyncIterator[Dials]:
    """Every address dialled at once (``AT_ONCE`` at a time), each within ``timeout``; on the
    way out, the dials still going are given up and the connections nobody took are closed."""
    dials = Dials(timeout, fresh)
    try:
        async with trio.open_nursery() as nursery:
            for address in addresses:
                if address not in dials._done:
                    dials._done[address] = trio.Event()
                    nursery.start_soon(dials._dial, address)
            try:
                yield dials
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await dials._close_untaken()
