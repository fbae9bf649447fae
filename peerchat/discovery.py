"""Finding a room by its name on the local network: DNS-SD over multicast DNS (``zeroconf``).

Every chatting member of a named room found this way advertises itself as an instance of
``_peerchat._tcp`` whose TXT record says ``room=NAME``; a node started with ``--room NAME`` and
no ``--tracker`` asks the network for a moment and dials whoever answers for that room (any
member lets it in or points it at the tracker). Only the room's name, the members' addresses and
ports and a short prefix of each node id are advertised, with a tag of the room's key that
vouches for them (``vouch``): who says what stays on the encrypted links, and a room with a
secret still needs the secret.

``zeroconf`` runs a thread and an event loop of its own; its blocking calls are made from trio
through worker threads, and the instance is closed when the node ends.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import hashlib
import hmac
import inspect
import ipaddress
import itertools
import logging
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import ifaddr
import trio
import zeroconf._core
from zeroconf import (
    DNSQuestionType,
    DNSText,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceListener,
    Zeroconf,
)
from zeroconf._cache import DNSCache

from peerchat import PROTOCOL_VERSION
from peerchat.addresses import is_ip, is_loopback, is_wildcard
from peerchat.handshake import OPEN_ROOM
from peerchat.membership import valid_room_name
from peerchat.tracker_address import StartupError

log = logging.getLogger(__name__)


class _OneLine(logging.Filter):
    """zeroconf logs a traceback with each send that fails: a user trial's log read
    "Traceback" at each link cut ("Network is unreachable"), which is no fault of anyone's.
    Its warning's one line, which names the error, is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("zeroconf").addFilter(_OneLine())

MAX_TXT = 512  # bytes of a TXT record kept from the network: a member's own is under 200
# Questions whose answers are multicast: zeroconf asks its first for an answer to its port
# alone, and every room of a program listens on that port, each with a zeroconf of its own;
# such an answer reached one of them, which may not be the room asking (trial 54: a /join
# founded a second room beside the one there, 6 of 9; reviews 57 and 58 named the cause).
ASKED = DNSQuestionType.QM


class _SmallRecords(DNSCache):
    """zeroconf's cache of what the network says, without TXT records longer than any member
    sends. zeroconf keeps 10,000 records at most (since 0.154, the least ``setup.cfg`` asks
    for), whatever their size (attack round 38 F2: a stranger's TXT records of 8 KiB under
    names nobody asked for grew a node from 50 to 191 MiB, for good, in a private room too)."""

    def async_add_records(self, entries: Iterable[object]) -> bool:
        small = [e for e in entries if not (isinstance(e, DNSText) and len(e.text) > MAX_TXT)]
        return super().async_add_records(small)


SERVICE = "_peerchat._tcp.local."
ROOM_KEY = b"room"
HOME_KEY = b"home"  # the room's identity, its home address (a room found by name has its own)
AT_KEY = b"at"  # the addresses a member vouches for (``vouch``), with commas
VOUCH_KEY = b"vouch"
MAX_ANSWERS = 64  # addresses taken from one search
MAX_LOOKUPS = 64  # names asked for in one search, beyond those whose records came with them
ADDRESSES_PER_ANSWER = 4  # a member advertises its interfaces' addresses: a few
PORTS_PER_HOST = 2  # answers taken for one host: a newcomer needs one live member to get in
MAX_NAMES = 4096  # instance names heard in one search: the network may answer with endless ones
MAX_ROOMS_LISTED = 64  # rooms /list names, the most populous
ANSWERS_LOOKED_AT = 4  # a room's answers /list reads the records of, for whether it is private
ANSWERS_COUNTED = 256  # a room's answers /list tells apart, open or private, at most
_NODE_PREFIX = re.compile(r"[0-9a-f]{12}")  # what an advertised name has after its room's
ADDRESS_CHECK = 5.0  # seconds between looks at this computer's addresses, when advertising


def advertised_addresses(host: str) -> list[str]:
    """The IPv4 addresses to advertise for a node listening on ``host``: for a wildcard, every
    interface's but loopback's."""
    if not is_wildcard(host):
        return [host]
    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                out.append(ip.ip)
    return out


@dataclass
class _Seen(ServiceListener):
    """The instance names a browser has heard of (zeroconf's thread adds to it), at most
    ``MAX_NAMES`` of the room looked for (``prefix``) and as many others: a stranger's 4,500
    names of other shapes, heard first, left no room for a member's, and a newcomer founded a
    second room, for as long as they stayed cached (75 minutes: attack round 39)."""

    names: set[str] = field(default_factory=set)
    prefix: str = ""  # "ROOM-": the names of the room looked for
    ours: set[str] = field(default_factory=set)

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        kept = self.ours if self.prefix and name.startswith(self.prefix) else self.names
        if len(kept) < MAX_NAMES:
            kept.add(name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        """A name said gone is kept for the search: anyone may say so, and a stranger that
        said each member's name gone as soon as it was heard (a packet a second) kept every
        newcomer out of a private room (attack round 45). One gone indeed is dialled, and
        does not answer."""


class Lan:
    """One node's view of the local network: its advertisement and its searches."""

    def __init__(self, zc: Zeroconf, room: str, psk: bytes = OPEN_ROOM) -> None:
        self._zc = zc
        self.room = room
        self._psk = psk
        self.others: tuple[tuple[str, int], ...] = ()  # other rooms the last search heard
        self.others_private: frozenset[str] = frozenset()  # those of them with a secret

    def addresses(self, host: str) -> list[str]:
        """This node's addresses as advertised for ``host``."""
        return advertised_addresses(host)

    async def find(self, within: float, home: str = "") -> list[tuple[str, int]]:
        """The addresses that answer for this room within ``within`` seconds; those that say
        the room is at ``home`` first (two rooms of one name on a network, one found by name
        and one started at an address, took in newcomers by the throw of a die: a trial)."""
        return await trio.to_thread.run_sync(self._find, within, home, abandon_on_cancel=True)

    async def rooms(
        self, within: float
    ) -> tuple[list[tuple[str, int]], frozenset[str], dict[str, int]]:
        """The rooms that answer within ``within`` seconds, with how many members each
        (``/list``), the most populous first; those that need a secret, by what their
        members' answers say; and of a name that both kinds answer for, the members of its
        private room (``Lan.kinds``), whom the first count leaves out."""
        names = await trio.to_thread.run_sync(self._browse, within, abandon_on_cancel=True)
        rooms = await trio.to_thread.run_sync(
            rooms_named, names, self._answered, abandon_on_cancel=True
        )
        private, mixed = await trio.to_thread.run_sync(
            self.kinds, names, {room for room, _ in rooms}, abandon_on_cancel=True
        )
        rooms = [(room, count - mixed.get(room, 0)) for room, count in rooms]
        return rooms, private, mixed

    def kinds(self, names: set[str], rooms: set[str]) -> tuple[frozenset[str], dict[str, int]]:
        """Of ``rooms``, those whose members' answers say they hold a secret, as for
        ``_private``, and those answered for by members of an open room and of a private one
        alike, with how many of the private one's answered (trial 70: "team (3, secret)" was
        an open team of one and a private one of two). Answers whose records did not come
        are counted with the kind most of their room's answers are; ``ANSWERS_COUNTED`` of a
        room at most are looked at."""
        kinds: dict[str, collections.Counter[bool | None]] = {}
        for name in names:
            room, node = _room_and_node(name)
            if room not in rooms or not _NODE_PREFIX.fullmatch(node):  # (as ``rooms_named``
                continue  # counts them: a stranger's other names made a count below 0)
            kind = kinds.setdefault(room, collections.Counter())
            if kind.total() >= ANSWERS_COUNTED:
                kind[None] += 1
                continue
            info = _info(name)
            kind[None if info is None or not self._cached(info) else _with_secret(info, room)] += 1
        private = frozenset(room for room, kind in kinds.items() if kind[True] and not kind[False])
        mixed = {
            room: kind[True] + (kind[None] if kind[True] > kind[False] else 0)
            for room, kind in kinds.items()
            if kind[True] and kind[False]
        }
        return private, mixed

    def _private(self, names: set[str], rooms: set[str]) -> frozenset[str]:
        """Those of ``rooms`` whose answers that came with their records (none is asked for)
        carry a vouch that is not the open room's: its members hold a secret (trial 64: /list
        named a private room as any other, and only a /join told). The open room's key is
        anyone's, and so is this test: a stranger may make a room look open or private here,
        as it may answer for any room."""
        private, looked = set(), collections.Counter[str]()
        for name in names:
            room = _room_and_node(name)[0]
            if room not in rooms or looked[room] >= ANSWERS_LOOKED_AT:
                continue
            looked[room] += 1
            info = _info(name)
            if info is None or not self._cached(info):
                continue
            if _with_secret(info, room):
                private.add(room)
        return frozenset(private)

    def _browse(self, within: float, prefix: str = "") -> set[str]:
        """The instance names of ``_peerchat._tcp`` heard within ``within`` seconds (those
        beginning with ``prefix`` counted apart: ``_Seen``)."""
        seen = _Seen(prefix=prefix)
        browser = ServiceBrowser(self._zc, SERVICE, seen, question_type=ASKED)
        try:
            time.sleep(within)  # a worker thread's wait, while zeroconf's thread listens
        finally:
            browser.cancel()
        return {n for n in set(seen.names) | set(seen.ours) if n.endswith("." + SERVICE)}

    def _find(self, within: float, home: str = "") -> list[tuple[str, int]]:
        """Anyone on the network may answer, with anything: names of other services or of
        no service, endless lists of them, names that nobody answers for. Names whose records
        came with the answers are taken at once; at most ``MAX_LOOKUPS`` of the others, picked
        at random, are asked for all at once, within one more ``within``. An attacker's names
        once sorted first and were asked for one by one: one that never answered used up the
        time, and the room was founded a second time beside the real one."""
        prefix = f"{self.room}-"
        names = self._browse(within, prefix)
        self.others = tuple((r, n) for r, n in rooms_named(names) if r != self.room)
        self.others_private = self._private(names, {room for room, _ in self.others})
        infos = [
            info for name in names if name.startswith(prefix) and (info := _info(name)) is not None
        ]
        known: list[ServiceInfo] = []
        unknown: list[ServiceInfo] = []
        for info in infos:
            (known if self._cached(info) else unknown).append(info)
        asked = random.sample(unknown, min(len(unknown), MAX_LOOKUPS))
        return self._ranked(known + self._look_up(asked, within), home)

    def _ranked(self, infos: list[ServiceInfo], home: str) -> list[tuple[str, int]]:
        """The addresses of the answers ``infos``, to dial in this order: those a member of
        this room vouched for first (attack round 44: 2,000 answers at dead addresses drowned
        a private room's one member, and newcomers founded rooms of their own), then those
        that say the room is at ``home``, each kind in a random order."""
        answers = [
            (vouched, _home(info) == home, where)
            for info in infos
            for vouched, where in [self._where(info)]
            if where
        ]
        random.shuffle(answers)  # a stranger's full answers must not fill the list in order
        answers.sort(key=lambda answer: not answer[1])  # (stable: shuffled within each kind)
        vouched = interleaved([where for vouched, _, where in answers if vouched])
        others = interleaved([where for vouched, _, where in answers if not vouched])
        return per_host(vouched + others, PORTS_PER_HOST)[:MAX_ANSWERS]

    def _where(self, info: ServiceInfo) -> tuple[bool, list[tuple[str, int]]]:
        """The addresses an answer for this room gives, and whether a member of this room
        vouched for them (``vouch``): as many as a member has (a few), and none that no member
        advertises (loopback, multicast, unspecified): a stranger's answers with 64 addresses
        each, at dead addresses or at this computer's own ports, filled the list, and a
        newcomer dialled them all and founded a second room."""
        try:
            if info.properties.get(ROOM_KEY) != self.room.encode():
                return False, []
            if vouched := self._vouched(info):
                return True, [(a, info.port) for a in vouched]
            hosts = [a for a in info.parsed_addresses(IPVersion.V4Only) if _dialable(a)]
            return False, [(a, info.port) for a in hosts[:ADDRESSES_PER_ANSWER]]
        except Exception as exc:  # whatever a stranger's answer sets off
            log.info("passing over the answer %r: %s", info.name, exc)
            return False, []

    def _vouched(self, info: ServiceInfo) -> list[str]:
        """The addresses an answer's TXT record names, if its vouch is good for them, its
        port and its name under this room's key; else none."""
        at = _said_at(info)
        if not at or len(at) > ADDRESSES_PER_ANSWER or not all(map(_dialable_ip, at)):
            return []
        return at if _vouch_good(info, self.room, self._psk, at) else []

    def _answered(self, name: str) -> bool:
        """Whether the records of the instance ``name`` came with the answers, as a member's
        do (``_cached``)."""
        info = _info(name)
        return info is not None and self._cached(info)

    def _cached(self, info: ServiceInfo) -> bool:
        """Whether the records of ``info`` came with the answers already."""
        try:
            return info.load_from_cache(self._zc)
        except Exception as exc:  # whatever a stranger's answer sets off
            log.info("passing over the answer %r: %s", info.name, exc)
            return False

    def _look_up(self, infos: list[ServiceInfo], within: float) -> list[ServiceInfo]:
        """Those of ``infos`` whose records come within ``within`` seconds, asked for at once
        on zeroconf's own loop (this is a worker thread)."""
        if not infos or self._zc.loop is None:
            return []

        async def ask() -> list[ServiceInfo]:
            ms = within * 1000
            got = await asyncio.gather(
                *(info.async_request(self._zc, ms, ASKED) for info in infos),
                return_exceptions=True,
            )
            for info, ok in zip(infos, got, strict=True):
                if isinstance(ok, Exception):  # whatever a stranger's answer sets off
                    log.info("passing over the answer %r: %s", info.name, ok)
            return [info for info, ok in zip(infos, got, strict=True) if ok is True]

        asked = ask()
        try:
            asking = asyncio.run_coroutine_threadsafe(asked, self._zc.loop)
        except RuntimeError:  # its loop closed: the search was given up (a /part)
            asked.close()  # (trial 69: "never awaited", written over the chat screen)
            return []
        try:
            return asking.result(timeout=within + 1)
        except concurrent.futures.TimeoutError:
            asking.cancel()
            if inspect.getcoroutinestate(asked) == inspect.CORO_CREATED:  # its loop stopped
                asked.close()
            return []

    async def advertise(self, node_id: str, host: str, port: int, home: str = "") -> None:
        """Say on the network that this node is in the room, until cancelled; again, from
        multicast DNS made anew, when the addresses of a node listening everywhere change (a
        computer that got another address went on being advertised at its old one, which
        nobody reached, and its multicast DNS, bound to that one, went deaf: a namespace run).
        """
        while True:
            addresses = await _resolved(host)
            await self._advertise_while(node_id, host, port, home, addresses)
            log.info("the addresses of this computer changed: advertising the room again")
            await self._renew()

    async def _advertise_while(
        self, node_id: str, host: str, port: int, home: str, addresses: list[str]
    ) -> None:
        """Advertise at ``addresses`` until the addresses of ``host`` are others."""
        if not addresses:
            log.warning("%s is no address to advertise on the local network", host)
            await _changed(host, addresses)
            return
        at = [a for a in addresses if _dialable_ip(a)][:ADDRESSES_PER_ANSWER]
        info = ServiceInfo(
            SERVICE,
            f"{self.room}-{node_id[:12]}.{SERVICE}",
            port=port,
            properties={
                ROOM_KEY: self.room.encode(),
                HOME_KEY: home.encode(),
                b"v": str(PROTOCOL_VERSION).encode(),
                AT_KEY: ",".join(at).encode(),
                VOUCH_KEY: vouch(self._psk, self.room, home.encode(), port, at, node_id[:12]),
            },
            server=f"peerchat-{node_id[:12]}.local.",
            parsed_addresses=addresses,
        )
        try:
            await trio.to_thread.run_sync(
                # Not probed for first: probing held it back a second, while a room begun a
                # moment later elsewhere looked, found nobody and was founded twice (trial 52).
                # The name holds the first 12 hex digits of the node's id, which others' do
                # not; anyone on the network may announce any name, probed for or not (a
                # newcomer's handshake proves who answers).
                functools.partial(self._zc.register_service, info, cooperating_responders=True),
                abandon_on_cancel=True,
            )
        except Exception as exc:  # zeroconf would not have it (a name it finds bad, its loop gone)
            log.warning("cannot advertise room %s on the local network: %s", self.room, exc)
            await _changed(host, addresses)
            return
        log.info("advertising room %s at %s port %d", self.room, ", ".join(addresses), port)
        try:
            await _changed(host, addresses)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await trio.to_thread.run_sync(
                    self._zc.unregister_service, info, abandon_on_cancel=True
                )

    async def _renew(self) -> None:
        """Multicast DNS made anew, on the interfaces and addresses this computer has now."""
        try:
            fresh = await trio.to_thread.run_sync(_zeroconf)
        except OSError as exc:
            log.warning("cannot use the local network to find rooms now: %s", exc)
            return
        old, self._zc = self._zc, fresh
        await _close(old)


async def _changed(host: str, addresses: list[str]) -> None:
    """Return once ``host`` stands for other addresses than ``addresses`` (only a wildcard's
    ever do: this computer's); never, for any other host."""
    if not is_wildcard(host):
        await trio.sleep_forever()
    while await _resolved(host) == addresses:
        await trio.sleep(ADDRESS_CHECK)


def _zeroconf(**options: Any) -> Zeroconf:
    """zeroconf's own, with our cache (``_SmallRecords``). It makes its cache with no say of
    ours, by the name its module has for the class: that name is ours for the call (a worker
    thread's, one at a time: the nodes of one program make theirs in turn), and theirs again
    after it, for any other user of zeroconf in this program (review 57)."""
    with _OWN_CACHE:
        theirs = zeroconf._core.DNSCache
        zeroconf._core.DNSCache = _SmallRecords  # type: ignore[misc]
        try:
            zc = Zeroconf(ip_version=IPVersion.V4Only, **options)
        finally:
            zeroconf._core.DNSCache = theirs  # type: ignore[misc]
    if not isinstance(zc.cache, _SmallRecords) and not _UNFILTERED.is_set():
        _UNFILTERED.set()  # (a zeroconf that makes its cache otherwise: said once)
        log.warning("zeroconf keeps TXT records of any length from the network, up to its cap")
    return zc


_OWN_CACHE = threading.Lock()
_UNFILTERED = threading.Event()


async def _close(zc: Zeroconf) -> None:
    """Close ``zc`` (its goodbyes to the network), within 2 s, also while cancelled."""
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        await trio.to_thread.run_sync(zc.close, abandon_on_cancel=True)


async def _resolved(host: str) -> list[str]:
    """``advertised_addresses`` but loopback's, with a host name looked up first (its IPv4
    addresses): given to zeroconf as it was, ``--host localhost`` ended the node (a user
    trial)."""
    if is_wildcard(host):
        return advertised_addresses(host)
    if is_ip(host):
        return [] if is_loopback(host) else [host]
    try:
        found = await trio.socket.getaddrinfo(host, None, family=trio.socket.AF_INET)
    except OSError:
        return []
    ips = dict.fromkeys(str(info[4][0]) for info in found)
    return [ip for ip in ips if not is_loopback(ip)]


def interleaved(answers: list[list[tuple[str, int]]]) -> list[tuple[str, int]]:
    """Each answer's first address, then each one's second, and so on: one answer's many
    addresses cannot all come before another's."""
    return [a for row in itertools.zip_longest(*answers) for a in row if a is not None]


def per_host(addresses: list[tuple[str, int]], most: int) -> list[tuple[str, int]]:
    """``addresses`` in order, but no more than ``most`` of any one host: a stranger that
    answered for 60 names, each at a port of its own that accepts and never answers, cost a
    newcomer 3 s each and kept it out of the room (an attack)."""
    seen: collections.Counter[str] = collections.Counter()
    out = []
    for host, port in addresses:
        seen[host] += 1
        if seen[host] <= most:
            out.append((host, port))
    return out


def _home(info: ServiceInfo) -> str:
    """The home an answer says its room is at ("" when it says none, or nonsense)."""
    try:
        said = info.properties.get(HOME_KEY) or b""
        return said.decode("ascii") if len(said) <= 64 else ""
    except Exception:  # whatever a stranger's answer sets off
        return ""


def vouch(psk: bytes, room: str, home: bytes, port: int, at: list[str], node: str) -> bytes:
    """What a member of a room with the key ``psk`` says for its advertisement: that it is at
    ``at``, port ``port``, under the name of node ``node``. Only those with the key can say
    it, and it says nothing of other addresses: a stranger may repeat a member's, which leads
    to that member. (In a room with no secret anyone can: the key is everyone's.)"""
    said = b"\0".join(
        [room.encode(), home, str(port).encode(), ",".join(at).encode(), node.encode()]
    )
    tag = hashlib.blake2s(said, key=psk, digest_size=16, person=b"pclan1").hexdigest()
    return tag.encode()


def _with_secret(info: ServiceInfo, room: str) -> bool | None:
    """Whether an answer for ``room`` carries a vouch that is not the open room's (its members
    hold a secret); None for an answer that sets off trouble."""
    try:
        vouched = info.properties.get(VOUCH_KEY)
        return bool(vouched) and not _vouch_good(info, room, OPEN_ROOM, _said_at(info))
    except Exception as exc:  # whatever a stranger's answer sets off
        log.info("passing over the answer %r: %s", info.name, exc)
        return None


def _said_at(info: ServiceInfo) -> list[str]:
    """The addresses an answer's TXT record says its node is at (``vouch``), as said."""
    said = info.properties.get(AT_KEY) or b""
    return said.decode("ascii").split(",") if said.isascii() and len(said) <= 80 else []


def _vouch_good(info: ServiceInfo, room: str, psk: bytes, at: list[str]) -> bool:
    """Whether an answer's vouch is good for ``at``, its port and its name under ``psk``."""
    node = _room_and_node(info.name)[1]
    good = vouch(psk, room, info.properties.get(HOME_KEY) or b"", info.port, at, node)
    return hmac.compare_digest(good, info.properties.get(VOUCH_KEY) or b"")


def _dialable_ip(text: str) -> bool:
    """An IPv4 address written plainly that ``_dialable`` takes."""
    try:
        return ipaddress.ip_address(text).version == 4 and _dialable(text)
    except ValueError:
        return False


def _dialable(host: str) -> bool:
    """An address a member could advertise: not loopback, multicast, unspecified or reserved."""
    ip = ipaddress.ip_address(host)
    return not (ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved)


def _info(name: str) -> ServiceInfo | None:
    """The records of an instance name heard, to be filled; None for a name zeroconf refuses."""
    try:
        return ServiceInfo(SERVICE, name)
    except Exception as exc:  # whatever a stranger's name sets off
        log.info("passing over the name %r: %s", name, exc)
        return None


def rooms_named(
    names: Iterable[str], answered: Callable[[str], bool] | None = None
) -> list[tuple[str, int]]:
    """Rooms and their member counts from advertised instance names, ``ROOM-NODEID12`` each
    (``advertise``); names of any other shape, which anyone may send, are passed over. The
    most populous first, by the names that were ``answered`` with their records, as a
    member's are, before those that were not: a stranger's flood of names alone, 2,000 rooms
    of 3, hid a room of 2 from ``/list`` (attack round 52)."""
    counts: collections.Counter[str] = collections.Counter()
    full: collections.Counter[str] = collections.Counter()
    for name in names:
        room, node = _room_and_node(name)
        if valid_room_name(room) and _NODE_PREFIX.fullmatch(node):
            counts[room] += 1
            full[room] += answered is not None and full[room] < ANSWERS_COUNTED and answered(name)
    ranked = sorted(counts.items(), key=lambda kv: (-full[kv[0]], -kv[1], kv[0]))
    return ranked[:MAX_ROOMS_LISTED]


def _room_and_node(name: str) -> tuple[str, str]:
    """An advertised instance name's room and node id prefix (``ROOM-NODEID12``), as said;
    ("", "") for a name without a dash."""
    room, dash, node = name.removesuffix("." + SERVICE).rpartition("-")
    return (room, node) if dash else ("", "")


@asynccontextmanager
async def open_lan(room: str, psk: bytes = OPEN_ROOM) -> AsyncIterator[Lan]:
    """Multicast DNS for ``room`` (whose key is ``psk``), closed (with goodbyes to the
    network) on the way out."""
    try:
        zc = await trio.to_thread.run_sync(_zeroconf)
    except OSError as exc:
        raise StartupError(f"cannot use the local network to find rooms: {exc}") from exc
    lan = Lan(zc, room, psk)
    try:
        yield lan
    finally:
        await _close(lan._zc)  # (made anew, it may be another than the first)
