"""One OpenSSL per process, not two: about 4 MiB less resident in every node.

PeerChat's cryptography (Noise, signatures, scrypt, SHA-256 of files) is `cryptography`'s,
whose extension carries its own OpenSSL. The system's OpenSSL came along as well: trio imports
the standard `ssl` module for TLS streams PeerChat never opens, and `hashlib` and `hmac` load
OpenSSL's hashes. So, before trio is imported:

* `ssl` is a stand-in that imports the real module the first time anything is looked up on it
  (asyncio does, under the line interface or zeroconf; trio only names it);
* `hashlib` and `hmac` use Python's own hashes (BLAKE2 for the Noise handshake, SHA-256 for
  short ids), where this Python has them.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

# Python's own hashes: what hashlib offers without OpenSSL (the names of 3.11 and of 3.12 on).
_OWN_HASHES = (("_blake2",), ("_sha256", "_sha2"), ("_sha512", "_sha2"))


class _ImportedOnUse(types.ModuleType):
    """Stands for a module not yet imported; the first attribute looked up imports it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_import_for(self), name)


def _import_for(stand_in: _ImportedOnUse) -> types.ModuleType:
    name = stand_in.__name__
    if sys.modules.get(name) is stand_in:
        del sys.modules[name]
    module = importlib.import_module(name)
    vars(stand_in).update(vars(module))  # later lookups on the stand-in find it all at once
    return module


def keep_to_one() -> None:
    """Put the stand-ins in place, unless what they stand for is imported already (then this
    is too late to matter, as under pytest)."""
    if "trio" in sys.modules:
        return
    if "ssl" not in sys.modules:
        stand_in = _ImportedOnUse("ssl")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("ssl", None)  # not "initializing"
        sys.modules["ssl"] = stand_in
    if "hashlib" not in sys.modules and "_hashlib" not in sys.modules and _own_hashes():
        sys.modules["_hashlib"] = None  # hashlib and hmac then fall back to their own


def _own_hashes() -> bool:
    """Whether this Python has its own BLAKE2 and SHA-2 (a build may leave them to OpenSSL)."""
    return all(any(importlib.util.find_spec(n) for n in names) for names in _OWN_HASHES)
