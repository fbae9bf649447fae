"""Several hosts on one machine, for multi-host tests: Linux network namespaces that a test makes
and removes itself.

    with Lan(5) as lan:               # or the ``lan_or_skip`` helper in a pytest fixture
        lan.addr(1)                   # "10.77.0.1", the address of host 1
        lan.partition([1, 2])         # hosts 1 and 2 on one side, the others on the other
        lan.heal()                    # one LAN again
        lan.cut(3, 4)                 # only 3 <-> 4 broken; both still reach everybody else
        lan.mend(3, 4)
        proc = await start_peerchat(swarm, lan, 1, "h1", "--headless", ...)

The layout. One namespace, ``<prefix>br``, is the switch: it holds two bridges, br0 (the LAN)
and br1 (the far side of a partition). Each host I is a namespace ``<prefix>hI`` whose ``eth0``
has the address 10.77.0.I/24; ``eth0`` is one end of a veth pair whose other end, ``vI``, sits
in the switch namespace on br0. ``lo`` is up everywhere. Nothing is added to the machine's own
namespace, so no packet of a test ever leaves these namespaces.

The faults look like a network's, not like a host's: neither host is told.
- A partition moves the chosen hosts' ``vI`` to br1: they reach each other, not the rest.
  Packets to the other side are lost on the switch, established connections included.
- A cut between two hosts gives each a permanent neighbour entry for the other's address with a
  MAC address nobody has: their frames to each other go out and vanish in the switch. Packets to
  everybody else, and ARP, are untouched; a connection attempt between the two times out
  instead of failing at once, as on a real broken path. (This kernel has no tc drop action and
  there is no iptables, and a blackhole route would make the sender's own kernel refuse the
  packets with an error, which a broken network never does.)

Namespace names carry the test process's pid, so leftovers of a crashed run never collide with
a live run; ``sweep_stale`` removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from e2e_helpers import Proc, Swarm, _tail

PREFIX = "pcmh"  # peerchat multi-host: every namespace these tests make starts with it
SUBNET = "10.77.0"  # a private /24 that is unlikely to be in use anywhere near
NOWHERE_MAC = "02:00:00:00:77:77"  # locally administered, on no interface of the LAN

_counter = itertools.count(1)


def ip(*args: str) -> str:
    """Run ``ip ARGS``; a failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def namespaces() -> list[str]:
    """Names of every network namespace on the machine (``ip netns list`` without the ids)."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def sweep_stale() -> list[str]:
    """Delete our namespaces left by test processes that no longer run, and end whatever still
    runs in them (peerchat nodes normally quit by themselves when their stdin closes with the
    test); returns the namespaces' names."""
    swept = []
    for name in namespaces():
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("x", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(RuntimeError):  # another sweeper may have been first
                for left in ip("netns", "pids", name).split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(left), signal.SIGKILL)
                ip("netns", "del", name)
                swept.append(name)
    return swept


class Lan:
    """A switch with two bridges and ``hosts`` hosts on it, numbered from 1."""

    def __init__(self, hosts: int) -> None:
        assert 1 <= hosts <= 250
        self.hosts = list(range(1, hosts + 1))
        self.prefix = f"{PREFIX}{os.getpid()}x{next(_counter)}"
        self.switch = f"{self.prefix}br"
        self._made: list[str] = []

    # -- names and addresses ------------------------------------------------------------------

    def ns(self, host: int) -> str:
        """The namespace of host ``host``."""
        return f"{self.prefix}h{host}"

    def addr(self, host: int) -> str:
        return f"{SUBNET}.{host}"

    def exec_prefix(self, host: int) -> list[str]:
        """An argv prefix that runs a command on host ``host``."""
        return ["ip", "netns", "exec", self.ns(host)]

    # -- making and removing ------------------------------------------------------------------

    def __enter__(self) -> Lan:
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make(self) -> None:
        self._add_namespace(self.switch)
        for bridge in ("br0", "br1"):
            ip("-n", self.switch, "link", "add", bridge, "type", "bridge")
            ip("-n", self.switch, "link", "set", bridge, "up")
        for host in self.hosts:
            ns, veth = self.ns(host), f"v{host}"
            self._add_namespace(ns)
            ip("-n", self.switch, "link", "add", veth, "type", "veth",
               "peer", "name", "eth0", "netns", ns)  # fmt: skip
            ip("-n", self.switch, "link", "set", veth, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._made.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def close(self) -> None:
        """Delete every namespace of this LAN (its veths and bridges go with them)."""
        while self._made:
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", self._made.pop())

    # -- faults -------------------------------------------------------------------------------

    def partition(self, hosts: Iterable[int]) -> None:
        """Put ``hosts`` on br1: they reach each other, and nobody on br0."""
        for host in hosts:
            ip("-n", self.switch, "link", "set", f"v{host}", "master", "br1")

    def heal(self) -> None:
        """Every host back on br0."""
        for host in self.hosts:
            ip("-n", self.switch, "link", "set", f"v{host}", "master", "br0")

    def cut(self, a: int, b: int) -> None:
        """Break the path between hosts ``a`` and ``b`` only, in both directions."""
        for here, there in ((a, b), (b, a)):
            ip("-n", self.ns(here), "neigh", "replace", self.addr(there),
               "lladdr", NOWHERE_MAC, "nud", "permanent", "dev", "eth0")  # fmt: skip

    def mend(self, a: int, b: int) -> None:
        """Undo ``cut(a, b)``: the two find each other again by ARP."""
        for here, there in ((a, b), (b, a)):
            ip("-n", self.ns(here), "neigh", "del", self.addr(there), "dev", "eth0")

    def slow_uplink(self, host: int, rate: str) -> None:
        """What host ``host`` sends goes at ``rate`` at most (``tc`` token bucket: "128kbit"),
        with a second of it queued."""
        tc = ["ip", "netns", "exec", self.ns(host), "tc", "qdisc", "add", "dev", "eth0", "root"]
        subprocess.run([*tc, "tbf", "rate", rate, "burst", "1600", "latency", "1s"], check=True)

    # -- sockets inside a host, for testing the harness itself -------------------------------

    def socket(self, host: int) -> socket.socket:
        """A TCP socket that lives in host ``host``'s namespace (for the harness's own test)."""
        return socket_in(f"/run/netns/{self.ns(host)}")


_CLONE_NEWNET = 0x40000000


def socket_in(netns_path: str) -> socket.socket:
    """A TCP socket made in another network namespace. A socket keeps the namespace it was made
    in, so a short-lived thread enters the namespace (only that thread moves), makes the socket
    and ends; the caller uses the socket from anywhere."""
    made: list[socket.socket | BaseException] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns_path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as exc:
            made.append(exc)

    thread = threading.Thread(target=work, name="enter-netns")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


# -- for the tests ----------------------------------------------------------------------------


@contextlib.contextmanager
def lan_or_skip(hosts: int) -> Iterator[Lan]:
    """A ``Lan`` for one test, or a skip that says why there cannot be one here."""
    if os.geteuid() != 0:
        pytest.skip("multi-host tests make network namespaces, which needs root")
    if shutil.which("ip") is None:
        pytest.skip("multi-host tests need the `ip` command (iproute2)")
    try:
        sweep_stale()
        lan = Lan(hosts).__enter__()
    except RuntimeError as exc:
        pytest.skip(f"cannot make network namespaces here: {exc}")
    try:
        yield lan
    finally:
        lan.close()


class HostProc(Proc):
    """A ``Proc`` on a host, described with repeats folded: tests that poll ``/who`` collect
    the same answer many times."""

    def describe(self) -> str:
        lines: list[str] = []
        repeats = 0
        for event in self.events:
            line = "  " + json.dumps({k: v for k, v in event.items() if k != "_at"})
            if lines and line == lines[-1]:
                repeats += 1
                continue
            if repeats:
                lines.append(f"  (the same {repeats} more times)")
                repeats = 0
            lines.append(line)
        if repeats:
            lines.append(f"  (the same {repeats} more times)")
        shown = "\n".join(lines)
        return (
            f"--- {self.name}: {' '.join(self.argv[2:])} (exit status {self.returncode})\n"
            f"events:\n{shown}\n"
            f"stderr:\n{_tail(self.stderr_path)}\n"
            f"log:\n{_tail(self.log_path)}"
        )


async def start_peerchat(
    swarm: Swarm, lan: Lan, host: int, name: str, *args: str, env: dict[str, str] | None = None
) -> Proc:
    """Start ``python -m peerchat ARGS --log-file ...`` on host ``host``, as ``Swarm.spawn``
    does on this one, with ``env`` added to the environment; the swarm kills it at the end.
    Does not wait for anything."""
    argv = [*lan.exec_prefix(host), sys.executable, "-m", "peerchat", *args]
    proc = HostProc(name, argv, swarm.workdir, env)
    proc.argv += ["--log-file", str(proc.log_path)]
    swarm.procs.append(proc)
    await proc._start(swarm.nursery)
    return proc
