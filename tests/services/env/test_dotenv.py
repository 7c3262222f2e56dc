"""Dotenv files: python-dotenv's grammar without interpolation, and malformed lines that fail
only the chains asking for a key of their file, named by file and line only."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.services.env.dotenv import BadLine, parse_dotenv, read_dotenv

PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----"


def test_the_usual_forms_parse_to_their_values() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "export EXPORTED=yes",
            "SPACED = around equals  ",
            "SINGLE='literal ${X} # not a comment'",
            'DOUBLE="line1\\nline2 \\"quoted\\""',
            "INLINE=value # comment",
            "HASH=http://host/#fragment",
            "EMPTY=",
            "NOVALUE",
            "QUOTED_COMMENT='v' # trailing",
            f'PEM="{PEM}"',
            "REF=${PLAIN}",
            "PLAIN=later wins",
        ]
    )
    assert parse_dotenv(text, source=".env") == {
        "PLAIN": "later wins",
        "EXPORTED": "yes",
        "SPACED": "around equals",
        "SINGLE": "literal ${X} # not a comment",
        "DOUBLE": 'line1\nline2 "quoted"',
        "INLINE": "value",
        "HASH": "http://host/#fragment",
        "EMPTY": "",
        "QUOTED_COMMENT": "v",
        "PEM": PEM,
        "REF": "${PLAIN}",  # never interpolated
    }


def test_a_malformed_line_is_kept_with_its_line_and_key_and_the_rest_is_read() -> None:
    found = read_dotenv(f'OK=1\nnot a statement\nPEM="{PEM}"\nOPEN="unclosed\n', source="/p/.env")
    assert found.values == {"OK": "1", "PEM": PEM}
    assert found.bad == (BadLine(line=2, key=None), BadLine(line=7, key="OPEN"))


def test_only_a_chain_asking_for_a_key_of_the_file_fails_on_its_bad_line() -> None:
    found = read_dotenv("OK=1\nOPEN='unclosed\n", source="/p/.env")
    found.check({"ELSEWHERE", "PATH"})  # asks nothing of this file: runs
    for asked in ({"OK"}, {"OPEN"}):
        with pytest.raises(ParseError) as caught:
            found.check(asked)
        assert caught.value.message.startswith("/p/.env:2: the value of OPEN could not be read")
        assert caught.value.at == "/p/.env"


def test_a_parse_error_never_echoes_the_line_it_could_not_read() -> None:
    with pytest.raises(ParseError) as caught:
        parse_dotenv("TOKEN='s3cr3t-value\n", source=".env")
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.message.startswith(".env:1: the value of TOKEN")
