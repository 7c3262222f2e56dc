"""``http_guard``: Host and Origin parsed with one grammar and compared exactly, never by prefix."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.faces.mcp.http_guard import (
    LOOPBACK,
    Authority,
    allowed_hosts,
    host_allowed,
    origin_allowed,
    parse_authority,
    parse_origin,
)

PORT = 8765


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("localhost", Authority(host="localhost", port=None)),
        ("LocalHost:8765", Authority(host="localhost", port=8765)),
        ("127.0.0.1:1", Authority(host=IPv4Address("127.0.0.1"), port=1)),
        ("[::1]:65535", Authority(host=IPv6Address("::1"), port=65535)),
        ("[0:0::1]", Authority(host=IPv6Address("::1"), port=None)),
        ("127.1", Authority(host="127.1", port=None)),  # not an address: a name nobody allows
        ("example.test:80", Authority(host="example.test", port=80)),
    ],
)
def test_an_authority_is_a_host_and_an_optional_port(text: str, parsed: Authority) -> None:
    assert parse_authority(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":8765",
        "localhost:",
        "localhost:0",
        "localhost:08765",
        "localhost:65536",
        "localhost:123456",
        "localhost:+80",
        "localhost: 80",
        "localhost:٨٠",
        "localhost:80:80",
        "localhost:8765.evil.test",
        "user@localhost:8765",
        "localhost:8765/",
        "localhost/x",
        "local host",
        "local\thost",
        "::1",
        "[::1",
        "[::1]x",
        "[::1%25eth0]:80",
        "[127.0.0.1]",
        "[not-an-address]",
        "lócalhost",
    ],
)
def test_anything_else_is_no_authority(text: str) -> None:
    assert parse_authority(text) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("http://localhost:8765", ("http", Authority(host="localhost", port=8765))),
        ("https://[::1]", ("https", Authority(host=IPv6Address("::1"), port=None))),
    ],
)
def test_an_origin_is_a_web_scheme_and_an_authority(
    text: str, parsed: tuple[str, Authority]
) -> None:
    assert parse_origin(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "null",
        "localhost:8765",
        "//localhost:8765",
        "ftp://localhost:8765",
        "HTTP://localhost:8765",
        "http:/localhost:8765",
        "http://",
        "http://localhost:8765/",
        "http://localhost:8765/mcp",
        "http://localhost:8765?",
        "http://localhost:8765#x",
        "http://user@localhost:8765",
        "http://user:pw@localhost:8765",
        "http://local\thost:8765",
        " http://localhost:8765",
        "http://localhost:8765 ",
    ],
)
def test_anything_else_is_no_origin(text: str) -> None:
    assert parse_origin(text) is None


def test_the_allowed_hosts_are_loopback_and_a_specific_bound_address() -> None:
    assert allowed_hosts("127.0.0.1") == LOOPBACK
    assert allowed_hosts("0.0.0.0") == LOOPBACK
    assert allowed_hosts("::") == LOOPBACK
    assert allowed_hosts("10.1.2.3") == LOOPBACK | {IPv4Address("10.1.2.3")}
    assert allowed_hosts("fd00::5") == LOOPBACK | {IPv6Address("fd00::5")}
    assert allowed_hosts("Box.Local") == LOOPBACK | {"box.local"}


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("localhost:8765", True),
        ("127.0.0.1:8765", True),
        ("[::1]:8765", True),
        ("10.1.2.3:8765", True),
        ("127.0.0.1:8766", False),
        ("127.0.0.1", False),  # no port is port 80
        ("127.0.0.2:8765", False),
        ("10.1.2.4:8765", False),
        ("127.0.0.1:8765.evil.test", False),
        ("localhost.:8765", False),
    ],
)
def test_a_host_header_must_name_an_allowed_host_on_the_bound_port(
    header: str, allowed: bool
) -> None:
    assert host_allowed(header, hosts=allowed_hosts("10.1.2.3"), port=PORT) is allowed


def test_a_host_header_without_a_port_is_port_80() -> None:
    assert host_allowed("localhost", hosts=LOOPBACK, port=80)
    assert not host_allowed("localhost:8765", hosts=LOOPBACK, port=80)


@pytest.mark.parametrize(
    ("header", "port", "allowed"),
    [
        ("http://localhost:8765", PORT, True),
        ("https://127.0.0.1:8765", PORT, True),
        ("http://[::1]:8765", PORT, True),
        ("http://localhost", 80, True),
        ("https://localhost", 443, True),
        ("http://localhost", 443, False),
        ("https://localhost", 80, False),
        ("http://localhost:1", PORT, False),
        ("http://evil.test:8765", PORT, False),
        ("http://127.0.0.1:8765.evil.test", PORT, False),
    ],
)
def test_an_origin_must_name_an_allowed_host_on_the_bound_port(
    header: str, port: int, allowed: bool
) -> None:
    assert origin_allowed(header, hosts=LOOPBACK, port=port) is allowed


@given(suffix=st.text(min_size=1))
def test_nothing_appended_to_an_allowed_host_or_origin_is_allowed(suffix: str) -> None:
    for name in ("127.0.0.1", "localhost", "[::1]"):
        assert not host_allowed(f"{name}:{PORT}{suffix}", hosts=LOOPBACK, port=PORT)
        assert not origin_allowed(f"http://{name}:{PORT}{suffix}", hosts=LOOPBACK, port=PORT)


@given(st.text())
def test_any_header_text_parses_or_is_refused_without_raising(text: str) -> None:
    authority = parse_authority(text)
    allowed = host_allowed(text, hosts=LOOPBACK, port=PORT)
    # allowed only what parses; what parses names no control character or space
    assert authority is not None or not allowed
    assert not allowed or not any(c.isspace() or ord(c) < 32 for c in text)
    origin = parse_origin(text)
    assert origin is None or origin[0] in ("http", "https")
    assert origin is not None or not origin_allowed(text, hosts=LOOPBACK, port=PORT)
