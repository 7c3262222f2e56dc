"""Capability grammar, coverage (table-driven from cases/coverage.txt) and effect helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.capabilities import (
    Capability,
    CapabilitySet,
    covers,
    exec_capability,
    http_capability,
)

CASES = Path(__file__).parent / "cases" / "coverage.txt"


def _coverage_cases() -> list[pytest.ParameterSet]:
    out = []
    for number, line in enumerate(CASES.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].split()
        if not text:
            continue
        granted, wanted, answer = text
        assert answer in ("yes", "no"), f"{CASES.name}:{number}: answer must be yes or no"
        out.append(pytest.param(granted, wanted, answer == "yes", id=f"{granted} ⊇ {wanted}"))
    return out


@pytest.mark.parametrize(("granted", "wanted", "expected"), _coverage_cases())
def test_coverage_follows_the_case_table(granted: str, wanted: str, expected: bool) -> None:
    assert covers(granted, wanted) is expected
    assert CapabilitySet.from_strings([granted]).covers(wanted) is expected


@pytest.mark.parametrize(
    "text",
    [
        "fs.read",
        "fs.read:src/**",
        "net.http:api.example.test:8443",
        "spawn.thread",
        "mcp.call:github/create_issue",
        "process.exec:git",
        "net.http:[::1]:8080",
    ],
)
def test_str_of_a_parsed_capability_gives_back_its_text(text: str) -> None:
    assert str(Capability.parse(text)) == text


def test_the_scope_is_everything_after_the_first_colon() -> None:
    cap = Capability.parse("net.http:api.example.test:443")
    assert (cap.resource, cap.action, cap.scope) == ("net", "http", "api.example.test:443")


def test_an_unknown_capability_is_a_parse_error_listing_what_is_allowed() -> None:
    with pytest.raises(ParseError) as info:
        Capability.parse("net.htp:x")
    assert info.value.message == "unknown capability 'net.htp:x'"
    assert "fs.read" in info.value.hint and "thread.control" in info.value.hint
    assert "net.http" in info.value.details["allowed"]


def test_capabilities_are_case_sensitive() -> None:
    with pytest.raises(ParseError) as info:
        Capability.parse("FS.read")
    assert info.value.message == "unknown capability 'FS.read'"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("fs.read:", "the scope is empty"),
        ("fs.read:src//a", "empty segment in 'src//a'"),
        ("fs.read:/etc/passwd", "empty segment in '/etc/passwd'"),
        ("fs.read:src/../../etc", "'..' segments are not allowed"),
        ("fs.read:./a", "'.' segments are not allowed"),
        ("fs.read:src/a**", "'**' must be a whole segment"),
        ("net.http:a..b", "empty label in 'a..b'"),
        ("net.http:api.x:http", "port 'http' is not a number"),
        ("net.http:api.x:0", "port '0' is not a number"),
        ("process.exec:/usr/bin/git", "process.exec takes a command's base name"),
    ],
)
def test_a_malformed_scope_is_a_parse_error_saying_why(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        Capability.parse(text)
    assert info.value.message.startswith(f"bad scope in capability '{text}': ")
    assert why in info.value.message


def test_an_empty_set_denies_everything() -> None:
    empty = CapabilitySet.from_strings([])
    assert not empty.covers("spawn.thread")
    assert not empty.covers("fs.read:a")
    assert empty.missing(["fs.read:a", "net.http:x"]) == ["fs.read:a", "net.http:x"]


def test_missing_names_each_uncovered_capability_once_in_order() -> None:
    caps = CapabilitySet.from_strings(["tool.execute:llm/**", "net.http:*.example.test"])
    wanted = ["tool.execute:llm/a", "net.http:evil.test", "fs.read:x", "net.http:evil.test"]
    assert caps.missing(wanted) == ["net.http:evil.test", "fs.read:x"]


def test_a_wanted_string_that_does_not_parse_is_reported_missing_not_raised() -> None:
    caps = CapabilitySet.from_strings(["fs.read:**"])
    assert caps.missing(["fs.read:../secret"]) == ["fs.read:../secret"]
    assert not caps.covers("bogus")


def test_attenuate_keeps_only_what_the_set_covers() -> None:
    parent = CapabilitySet.from_strings(["fs.read:src/**", "net.http:api.example.test"])
    child = parent.attenuate(["fs.read:src/*", "fs.read:docs/**", "net.http:api.example.test:443"])
    assert child.to_list() == ["fs.read:src/*", "net.http:api.example.test:443"]


def test_from_strings_drops_duplicates_and_keeps_order() -> None:
    caps = CapabilitySet.from_strings(["fs.read:b", "fs.read:a", "fs.read:b"])
    assert caps.to_list() == ["fs.read:b", "fs.read:a"]
    assert len(caps.caps) == 2


def test_an_empty_set_is_still_truthy_so_it_cannot_be_swapped_for_a_wider_one() -> None:
    empty = CapabilitySet.from_strings([])
    assert (empty or CapabilitySet.from_strings(["fs.read"])) is empty


def test_from_strings_raises_for_the_first_bad_capability() -> None:
    with pytest.raises(ParseError, match="unknown capability 'nope'"):
        CapabilitySet.from_strings(["fs.read", "nope", "also.bad"])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.test/v1/x?q=1", "net.http:api.example.test"),
        ("https://API.Example.test:8443/", "net.http:api.example.test:8443"),
        ("http://127.0.0.1:8765/mcp", "net.http:127.0.0.1:8765"),
        ("http://user:pw@host.test/", "net.http:host.test"),
        ("http://[::1]:8080/", "net.http:[::1]:8080"),
    ],
)
def test_http_capability_names_the_host_and_only_an_explicit_port(url: str, expected: str) -> None:
    assert http_capability(url) == expected
    Capability.parse(expected)


@pytest.mark.parametrize("url", ["/relative/path", "http://host.test:notaport/"])
def test_http_capability_refuses_a_url_without_a_usable_host(url: str) -> None:
    with pytest.raises(ParseError):
        http_capability(url)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git", "process.exec:git"),
        ("/usr/bin/python3", "process.exec:python3"),
        ("./bin/tool.sh", "process.exec:tool.sh"),
    ],
)
def test_exec_capability_uses_the_commands_base_name(command: str, expected: str) -> None:
    assert exec_capability(command) == expected


def test_exec_capability_refuses_an_empty_command() -> None:
    with pytest.raises(ParseError, match="cannot derive a command name from ''"):
        exec_capability("")


def test_the_operators_set_covers_everything_and_no_string_names_it() -> None:
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

    operator = CapabilitySet.operator()
    assert operator.covers("fs.write:.ai/config/policy.yaml")
    assert operator.covers("tool.sign:anything") and operator.missing(["thread.control"]) == []
    # what it exports (e.g. to mint a token) is plain capabilities, which stop at Kiwi's state
    exported = CapabilitySet.from_strings(operator.to_list())
    assert exported.covers("tool.sign:x")
    assert not exported.covers("fs.write:.ai/config/policy.yaml")
    assert not CapabilitySet.from_strings(["fs.write:**"]).unrestricted
