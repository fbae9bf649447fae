"""Tables kept by what peers do, bounded whatever they send. No I/O.

Many of the node's records are keyed by something a peer chooses (a key, an address, an offer
number): each keeps its latest entries in a dict, oldest first, and lets the oldest go.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def keep_latest(table: MutableMapping[K, V], key: K, value: V, most: int) -> V:
    """``table[key] = value`` as the newest entry; past ``most`` entries the oldest go."""
    table.pop(key, None)
    table[key] = value
    while len(table) > most:
        del table[next(iter(table))]
    return value
