"""One OpenSSL per process (``peerchat.one_openssl``): a node maps `cryptography`'s alone, and
what it deferred or left out still works when something asks for it."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

from e2e_helpers import Swarm, say_and_expect, wait_mesh

from peerchat.handshake import room_key
from peerchat.transfer import sha256


def system_openssl(pid: int | str) -> set[str]:
    """The OpenSSL libraries of the system a process maps (not `cryptography`'s own)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    paths = {line.split()[-1] for line in maps if "/" in line}
    return {p for p in paths if Path(p).name.startswith(("libssl.so", "libcrypto.so"))}


MAPPED = (
    "sorted(p for p in {l.split()[-1] for l in open('/proc/self/maps') if '/' in l}"
    " if p.rsplit('/', 1)[-1].startswith(('libssl.so', 'libcrypto.so')))"
)


def test_a_node_imports_no_system_openssl_and_what_it_deferred_works_when_used() -> None:
    code = (
        "import sys, peerchat.cli, peerchat.node\n"
        f"print({MAPPED}, type(sys.modules['ssl']).__name__)\n"
        "import hashlib, hmac, ssl\n"
        "print(hmac.new(b'k', b'm', hashlib.blake2s).hexdigest())\n"
        "print(hashlib.sha256(b'x').hexdigest())\n"
        "ssl.create_default_context()\n"  # used: the real module, and OpenSSL with it
        "print(sys.modules['ssl'] is not ssl, ssl.SSLContext is sys.modules['ssl'].SSLContext)\n"
        f"print(bool({MAPPED}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    before, keyed, hashed, used, mapped_after = done.stdout.splitlines()
    assert before == "[] _ImportedOnUse"
    assert keyed == hmac.new(b"k", b"m", hashlib.blake2s).hexdigest()
    assert hashed == hashlib.sha256(b"x").hexdigest()
    assert used == "True True" and mapped_after == "True"


def test_the_room_key_and_file_hash_are_what_the_standard_library_makes() -> None:
    expected = hashlib.scrypt(
        b"correct horse battery staple", salt=b"peerchat-room-v1", n=2**14, r=8, p=1, dklen=32
    )
    assert room_key("correct horse battery staple") == expected
    digest = sha256()
    digest.update(b"some file")
    assert digest.finalize() == hashlib.sha256(b"some file").digest()


async def test_running_nodes_of_a_private_room_map_no_system_openssl(swarm: Swarm) -> None:
    secret = {"PEERCHAT_SECRET": "correct horse battery staple"}
    alice = await swarm.node("alice", env=secret)
    bob = await swarm.node("bob", env=secret)
    await wait_mesh([alice, bob])
    await say_and_expect(alice, "one OpenSSL each", [bob])
    for node in (alice, bob):
        assert system_openssl(node.process.pid) == set(), node.describe()
