"""The signature line's format and place, over bytes (no keys, no disk)."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.core.items import Knowledge, Tool
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.core.signature_line import (
    SignatureLine,
    signable,
    signature_span,
    split_signature,
    with_line,
)
from kiwi_mcp.kernel.errors import ParseError

LINE = SignatureLine(
    timestamp="2025-03-04T05:06:07Z",
    content_hash="a" * 64,
    signature="S" * 86,
    fingerprint="f" * 64,
)
TEXT = LINE.to_text().encode()


@pytest.mark.parametrize(
    ("ext", "body", "first_lines"),
    [
        (".yaml", b"a: 1\n", [b"# " + TEXT]),
        (".js", b"x\r\ny\r\n", [b"// " + TEXT + b"\r"]),
        (".md", b"---\ntitle: T\n---\n", [b"<!-- " + TEXT + b" -->"]),
        (".sh", b"#!/bin/sh\necho\n", [b"#!/bin/sh", b"# " + TEXT]),
        (".py", b"#!/usr/bin/env python3", [b"#!/usr/bin/env python3", b"# " + TEXT]),
    ],
)
def test_a_line_put_into_a_body_splits_back_out(
    ext: str, body: bytes, first_lines: list[bytes]
) -> None:
    ready = signable(body)
    data = with_line(ready, LINE, ext)
    assert data.split(b"\n")[: len(first_lines)] == first_lines
    assert split_signature(data, ext) == (LINE, ready)
    assert SignatureLine.from_text(LINE.to_text()) == LINE


def test_an_ordinary_first_comment_is_not_a_signature() -> None:
    data = b"# kiwi:\n#   version: 1\necho\n"
    assert split_signature(data, ".sh") == (None, data)
    assert signature_span(data, ".sh") == (0, 0)
    md = b"# The kiwi:signed line explained\n"
    assert split_signature(md, ".md") == (None, md)


def test_a_damaged_line_is_refused_by_split_but_not_read_as_content() -> None:
    data = b"<!-- kiwi:signed:v1:broken -->\n---\ntitle: Kept\n---\nBody\n"
    with pytest.raises(ParseError, match="malformed signature line"):
        split_signature(data, ".md")
    assert signature_span(data, ".md") == (0, data.index(b"---"))
    item = parse_item("knowledge", "k", ".md", data, "t")
    assert isinstance(item, Knowledge) and (item.title, item.body) == ("Kept", "Body\n")


@pytest.mark.parametrize(
    ("kind", "item_id", "ext", "body"),
    [
        ("tool", "t", ".yaml", b'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'),
        (
            "tool",
            "p",
            ".py",
            b'#!/usr/bin/env python3\n__version__ = "1.0.0"\n__executor_id__ = "x"\n',
        ),
        ("tool", "s", ".sh", b'#!/bin/sh\n# kiwi:\n# version: "1.0.0"\n# executor_id: x\necho\n'),
        ("tool", "j", ".js", b'// kiwi:\n// version: "1.0.0"\n// executor_id: x\n'),
        ("directive", "r/code", ".md", b'# R\n\n```xml\n<directive name="code"/>\n```\nStep 1.\n'),
        ("knowledge", "n/a", ".md", b"---\ntitle: A\n---\nBody [[b]].\n"),
    ],
)
def test_the_parser_reads_the_body_that_is_hashed(
    kind: Kind, item_id: str, ext: str, body: bytes
) -> None:
    ready = signable(body)
    signed = with_line(ready, LINE, ext)
    assert parse_item(kind, item_id, ext, signed, "t") == parse_item(kind, item_id, ext, ready, "t")


def test_a_signature_out_of_its_place_is_left_to_the_verifier() -> None:
    data = b'version: "1.0.0"\n# ' + TEXT + b"\nexecutor_id: primitives/subprocess\n"
    with pytest.raises(ParseError) as info:
        split_signature(data, ".yaml")
    assert info.value.message == (
        "the signature line is not in its place: it must be the first line,"
        " or the second after a '#!' line"
    )
    assert signature_span(data, ".yaml") == (0, 0)
    item = parse_item("tool", "t", ".yaml", data, "t")
    assert isinstance(item, Tool) and item.executor_id == "primitives/subprocess"


def test_a_shell_header_after_a_shebang_and_a_signature_is_read() -> None:
    data = b"#!/bin/sh\n# " + TEXT + b'\n# kiwi:\n# version: "1.0.0"\n# executor_id: x\necho\n'
    item = parse_item("tool", "s", ".sh", data, "t")
    assert isinstance(item, Tool) and item.executor_id == "x"


def test_non_ascii_before_the_line_keeps_the_rest_of_the_text_whole() -> None:
    data = (
        b"#!/usr/bin/env \xc3\xa9\n# "
        + TEXT
        + b'\n"""\xc3\xa9t\xc3\xa9."""\n__version__ = "1.0.0"\n__executor_id__ = "x"\n'
    )
    item = parse_item("tool", "p", ".py", data, "t")
    assert isinstance(item, Tool) and item.description == "\u00e9t\u00e9."


def test_an_extension_without_a_comment_style() -> None:
    with pytest.raises(ValueError, match=r"no comment style for extension '\.txt'"):
        split_signature(b"x\n", ".txt")
    assert signature_span(b"# " + TEXT + b"\n", ".txt") == (0, 0)
