"""peerchat.addresses: HOST:PORT as users write it, and what kind of host it names."""

from __future__ import annotations

import pytest

from peerchat.addresses import (
    address_key,
    format_addr,
    host_key,
    is_loopback,
    is_this_computer,
    is_wildcard,
    parse_addr,
)
from peerchat.config import Config
from peerchat.tracker_address import StartupError, TrackerAddress


def test_format_ipv4_and_names() -> None:
    assert format_addr("10.0.0.1", 9000) == "10.0.0.1:9000"
    assert format_addr("host.lan", 1) == "host.lan:1"


def test_format_ipv6_in_brackets() -> None:
    assert format_addr("::1", 9000) == "[::1]:9000"
    assert format_addr("fe80::1:2", 65535) == "[fe80::1:2]:65535"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1:9000", ("10.0.0.1", 9000)),
        ("host.lan:1", ("host.lan", 1)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:9000", ("::1", 9000)),
        ("[2001:db8::7]:80", ("2001:db8::7", 80)),
        ("  10.0.0.1:9000\n", ("10.0.0.1", 9000)),
    ],
)
def test_parse_good(text: str, expected: tuple[str, int]) -> None:
    assert parse_addr(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1:0",
        "10.0.0.1:65536",
        "10.0.0.1:99999999999999999999",
        "10.0.0.1:-1",
        "10.0.0.1:+80",
        "10.0.0.1:http",
        "10.0.0.1:8 0",
        "10.0.0.1",
        "10.0.0.1:",
        ":9000",
        "[]:9000",
        "[::1]",
        "[::1]:",
        "::1",
        "::1:9000",
        "2001:db8::7:80",
        "",
    ],
)
def test_parse_refuses(text: str) -> None:
    assert parse_addr(text) is None


def test_parse_refuses_a_superscript_port() -> None:
    assert parse_addr("10.0.0.1:²") is None


@pytest.mark.parametrize(("host", "port"), [("10.0.0.1", 1), ("::1", 9000), ("host.lan", 65535)])
def test_format_then_parse_round_trip(host: str, port: int) -> None:
    assert parse_addr(format_addr(host, port)) == (host, port)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "0:0::0"])
def test_wildcards(host: str) -> None:
    assert is_wildcard(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "::1", "localhost", "", "[::]"])
def test_not_wildcards(host: str) -> None:
    assert not is_wildcard(host)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.5.6.7", "::1", "localhost", "LOCALHOST", "localhost.", "::ffff:127.0.0.1"],
)
def test_loopback(host: str) -> None:
    assert is_loopback(host) and is_this_computer(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::ffff:0.0.0.0", "0:0:0:0:0:FFFF:0:0"])
def test_the_unspecified_address_is_this_computer_but_no_loopback(host: str) -> None:
    """(attack round 32: ``::ffff:0.0.0.0`` connects to this computer too)"""
    assert is_this_computer(host) and not is_loopback(host)


@pytest.mark.parametrize(
    ("written", "host"),
    [
        ("::ffff:192.0.2.9", "192.0.2.9"),
        ("0:0:0:0:0:FFFF:c000:0209", "192.0.2.9"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("Host.LAN.", "host.lan"),
    ],
)
def test_one_host_however_written_has_one_key(written: str, host: str) -> None:
    """Attack round 32: one address written 5,000 ways in a welcome was dialled as 5,000."""
    assert host_key(written) == host


@pytest.mark.parametrize(
    "host", ["192.168.1.10", "10.0.0.1", "0.0.0.0", "::", "fe80::1", "host.lan", ""]
)
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


async def test_a_home_address_on_another_host_says_where_a_room_address_is_found() -> None:
    """A user trial: ``--tracker 10.96.0.1`` (port 5000) at a room found by its name ended with
    "(Cannot assign requested address)" and no hint of the address to give."""
    elsewhere = TrackerAddress("192.0.2.1", 5000, Config(), _never, _never)  # binds, sends nothing
    with pytest.raises(StartupError) as refused:
        await elsewhere.try_bind()
    said = str(refused.value)
    assert said.startswith("no tracker answers at 192.0.2.1:5000, and it is not an address of")
    assert "you are alice at HOST:PORT" in said and "with no address: --room NAME" in said
    assert "Cannot assign" not in said


async def _never(*args: object) -> None:
    raise AssertionError("not to be called")


def test_an_address_is_counted_as_one_however_it_is_written() -> None:
    """Attack rounds 15 and 16: IPv4 in IPv6, 256 zones of one address and 64 addresses of one
    IPv6 /64 were each counted apart, and so paced apart."""
    assert address_key("::ffff:10.0.0.9") == address_key("10.0.0.9") == "10.0.0.9"
    assert address_key("fd16::2%1") == address_key("fd16::2%001") == address_key("fd16::2")
    assert address_key("fd16::2") == address_key("fd16:0:0:ff::1") == "fd16::/48"  # 64 /64s
    assert address_key("fd16:1::2") != address_key("fd16::2")
    assert address_key("Host.LAN.") == "host.lan"
