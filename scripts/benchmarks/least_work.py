"""The least work any fetch must do, in plain Python: how fast a file can go at all when it is
sealed, checked with SHA-256 and written to disk, as PeerChat's files are.

One process per end, as the nodes are, and nothing else: no trio, no framing, no protocol,
no acknowledgements. The sender reads the file in PeerChat's chunks and seals each with
ChaCha20-Poly1305 (PeerChat's cipher) for each receiver in turn, and sends it; each receiver
reads records into one buffer, opens each where it lies (no copies), hashes it and writes it
to a file. What this reaches is a ceiling for PeerChat on the same machine, as ``sendfile`` is
a ceiling for any copy: the file rows give PeerChat's MiB/s against both.

Run by ``files.least_work`` as two commands (a script, so that it imports nothing of the bench):

    least_work.py receive OUT     # prints its port, then "start end sha256hex cpu" when done
    least_work.py send PATH PORT... # prints "cpu" when done

where cpu is the CPU seconds the copy took at that end (from its first byte: not the
interpreter's start, which would weigh more than the copy of a small file).
"""

from __future__ import annotations

import socket
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

CHUNK = 64 * 1024 - 128  # PeerChat's FILE_CHUNK: a chunk's frame fits one record
KEY = bytes(32)  # nothing is secret here; the work is the same with any key
LENGTH = 4
RECEIVE = 1 << 20  # a receiver's buffer: several records, read into in place


def nonce(n: int) -> bytes:
    return n.to_bytes(12, "little")


def send(path: str, ports: list[int]) -> None:
    cipher = ChaCha20Poly1305(KEY)
    conns = [socket.create_connection(("127.0.0.1", port)) for port in ports]
    began = time.process_time()
    with open(path, "rb", buffering=0) as f:
        n = 0
        while data := f.read(CHUNK):
            for conn in conns:
                sealed = cipher.encrypt(nonce(n), data, None)
                conn.sendall(len(sealed).to_bytes(LENGTH, "big") + sealed)
            n += 1
    for conn in conns:
        conn.close()
    print(time.process_time() - began, flush=True)


def receive(out: str) -> None:
    cipher = ChaCha20Poly1305(KEY)
    digest = hashes.Hash(hashes.SHA256())
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        print(server.getsockname()[1], flush=True)
        conn, _ = server.accept()
    buffer = bytearray(RECEIVE)
    view = memoryview(buffer)
    have = n = 0
    start = None
    began = 0.0
    with conn, open(out, "wb", buffering=0) as f:
        while got := conn.recv_into(view[have:]):
            if start is None:
                start, began = time.monotonic(), time.process_time()
            have += got
            at = 0  # records are opened where they lie, and what is left moves down once
            while have - at >= LENGTH:
                size = int.from_bytes(view[at : at + LENGTH], "big")
                if have - at < LENGTH + size:
                    break
                plain = cipher.decrypt(nonce(n), view[at + LENGTH : at + LENGTH + size], None)
                n += 1
                digest.update(plain)
                f.write(plain)
                at += LENGTH + size
            view[: have - at] = view[at:have]
            have -= at
    cpu = time.process_time() - began
    print(start, time.monotonic(), digest.finalize().hex(), cpu, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], [int(p) for p in sys.argv[3:]])
    else:
        receive(sys.argv[2])
