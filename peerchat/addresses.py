"""Addresses as users write them and as the node tells others: parsing, formatting, kinds."""

from __future__ import annotations

import ipaddress
import zlib


def format_addr(host: str, port: int) -> str:
    """HOST:PORT, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_addr(text: str) -> tuple[str, int] | None:
    """(host, port) from HOST:PORT or [V6]:PORT; None when it is not one."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def bad_port(text: str) -> str | None:
    """What is wrong with ``HOST:PORT`` whose port is a number no port can be (0, 70000), to
    say so rather than that the text is no address at all; None for any other text."""
    _, sep, port = text.strip().rpartition(":")
    if sep and port.isascii() and port.isdigit() and not 0 < int(port) < 65536:
        return f"port {port} is out of range: a port is 1-65535"
    return None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_ip(host: str) -> bool:
    """An IP address, not a host name."""
    return _ip(host) is not None


def is_wildcard(host: str) -> bool:
    """0.0.0.0 or ::: listen everywhere, but no use as an address to give others."""
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


def host_key(host: str) -> str:
    """One text for one host however it is written: an IP address in its usual form (an IPv4
    address mapped into IPv6 as IPv4, with no zone), a name in small letters without its final
    dot (attack round 32: one address written 5,000 ways in a welcome was dialled as 5,000
    addresses)."""
    ip = _ip(host.partition("%")[0])  # (its zone dropped: one address in 256 zones, round 16)
    if ip is None:
        return host.lower().rstrip(".")
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def address_key(host: str) -> str:
    """One text for one address however it is written (an IPv4 address mapped into IPv6, a
    zone, a name in capitals or with its final dot): what is counted per address. An IPv6
    address counts as its /48, what one site may have whole (attack rounds 16 and 17: 64
    addresses of one /64, one address with 256 zones, and addresses in 64 /64s were each
    counted apart, and so paced apart)."""
    ip = _ip(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((int(ip) >> 80 << 80, 48)))
    return host_key(host)


def is_loopback(host: str) -> bool:
    """This computer's loopback, however written: ``::ffff:127.0.0.1`` and ``LOCALHOST.``
    too (a review: each reached a listener on 127.0.0.1)."""
    ip = _ip(host)
    if ip is None:
        return host.lower().rstrip(".") == "localhost"
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def is_this_computer(host: str) -> bool:
    """An address that dialled reaches this computer itself: its loopback, or the
    unspecified address (``0.0.0.0``, ``::``, and ``::ffff:0.0.0.0``, attack round 32), which
    connects to it too (attack round 30)."""
    ip = _ip(host)
    return is_loopback(host) or (
        ip is not None and (getattr(ip, "ipv4_mapped", None) or ip).is_unspecified
    )


DEFAULT_TRACKER_PORT = 5000  # a tracker address given as a HOST alone: the original's port
HOME_PORTS = (5001, 5999)  # a named room's home address on loopback: a port chosen by its name


def home_port(room: str) -> int:
    """The loopback port where a room found by name is founded: the same for one name on every
    machine, so that two parts of a room founded apart know each other as one room."""
    low, high = HOME_PORTS
    return low + zlib.crc32(room.encode()) % (high - low + 1)
