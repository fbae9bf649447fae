"""Fixtures shared by the test files that run real ``peerchat`` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from e2e_helpers import Swarm


@pytest.fixture
async def swarm(tmp_path: Path) -> AsyncIterator[Swarm]:
    """A room of real processes in this test's directory; every one is ended afterwards."""
    async with trio.open_nursery() as nursery:
        room = Swarm(nursery, tmp_path)
        try:
            yield room
        finally:
            await room.aclose()
            nursery.cancel_scope.cancel()
