"""A directive's <permissions> children as capability strings."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.permissions import permissions_to_capabilities


@pytest.mark.parametrize(
    ("tag", "attrs", "expected"),
    [
        ("read", {"resource": "filesystem", "path": "docs/**"}, "fs.read:docs/**"),
        ("write", {"resource": "filesystem", "path": "out/*"}, "fs.write:out/*"),
        ("delete", {"resource": "filesystem", "path": "tmp/**"}, "fs.delete:tmp/**"),
        ("execute", {"resource": "tool", "id": "llm/*"}, "tool.execute:llm/*"),
        ("execute", {"resource": "directive", "id": "review/*"}, "directive.execute:review/*"),
        ("load", {"resource": "knowledge", "id": "**"}, "knowledge.load:**"),
        ("read", {"resource": "knowledge", "id": "notes/*"}, "knowledge.load:notes/*"),
        ("load", {"resource": "tool", "id": "x"}, "tool.load:x"),
        ("execute", {"resource": "process", "command": "git"}, "process.exec:git"),
        ("http", {"host": "api.example.test"}, "net.http:api.example.test"),
        ("network", {"host": "*.example.test", "port": "443"}, "net.http:*.example.test:443"),
        ("spawn", {}, "spawn.thread"),
        ("sign", {"resource": "tool", "id": "mine/*"}, "tool.sign:mine/*"),
        ("sign", {"resource": "directive", "id": "d"}, "directive.sign:d"),
        ("call", {"resource": "mcp", "id": "github/*"}, "mcp.call:github/*"),
        ("read", {"resource": "registry"}, "registry.read"),
        ("write", {"resource": "registry"}, "registry.write"),
        ("control", {"resource": "thread"}, "thread.control"),
        ("capability", {"value": "fs.read:a/b"}, "fs.read:a/b"),
    ],
)
def test_each_permission_form_maps_to_its_capability(
    tag: str, attrs: dict[str, str], expected: str
) -> None:
    assert permissions_to_capabilities([(tag, attrs)]) == [expected]


def test_permissions_keep_order_and_drop_repeats() -> None:
    elements = [
        ("spawn", {}),
        ("read", {"resource": "filesystem", "path": "a"}),
        ("spawn", {}),
    ]
    assert permissions_to_capabilities(elements) == ["spawn.thread", "fs.read:a"]


@pytest.mark.parametrize(
    ("tag", "attrs", "message"),
    [
        ("fly", {}, "<permissions> child 1 <fly>: unknown permission <fly>"),
        (
            "read",
            {"resource": "database", "path": "x"},
            '<permissions> child 1 <read>: unknown permission <read resource="database">',
        ),
        (
            "read",
            {"resource": "filesystem"},
            "<permissions> child 1 <read>: missing attribute 'path'"
            " (write '**' explicitly to allow everything)",
        ),
        (
            "read",
            {"resource": "filesystem", "paht": "x", "path": "y"},
            "<permissions> child 1 <read>: unexpected attribute 'paht' (allowed: path, resource)",
        ),
        (
            "read",
            {"resource": "filesystem", "path": "../x"},
            "<permissions> child 1 <read>: bad scope in capability 'fs.read:../x':"
            " '..' segments are not allowed in '../x'",
        ),
        (
            "capability",
            {"value": "net.htp"},
            "<permissions> child 1 <capability>: unknown capability 'net.htp'",
        ),
    ],
)
def test_a_bad_permission_is_a_parse_error_naming_the_child(
    tag: str, attrs: dict[str, str], message: str
) -> None:
    with pytest.raises(ParseError) as info:
        permissions_to_capabilities([(tag, attrs)])
    assert info.value.message == message


def test_the_hint_of_an_unknown_permission_lists_the_forms() -> None:
    with pytest.raises(ParseError) as info:
        permissions_to_capabilities([("spawn", {}), ("fly", {})])
    assert info.value.message.startswith("<permissions> child 2 <fly>")
    assert '<read resource="filesystem" path="…"/>' in info.value.hint
    assert "<spawn/>" in info.value.hint
