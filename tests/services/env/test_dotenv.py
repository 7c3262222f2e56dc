"""The dotenv parser: the accepted forms, and errors that name the file and line only."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.services.env.dotenv import parse_dotenv


def test_the_documented_forms_parse_to_their_values() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "export EXPORTED=yes",
            "SPACED = around equals  ",
            "SINGLE='literal \\n ${X} # not a comment'",
            'DOUBLE="line1\\nline2 \\"quoted\\" back\\\\slash \\x"',
            "INLINE=value # comment",
            "HASH=http://host/#fragment",
            "EMPTY=",
            "EMPTY_COMMENT= # only a comment",
            "QUOTED_COMMENT='v' # trailing",
            "export   LOTS_OF_SPACE=1",
            "PLAIN=later wins",
        ]
    )
    assert parse_dotenv(text, source=".env") == {
        "PLAIN": "later wins",
        "EXPORTED": "yes",
        "SPACED": "around equals",
        "SINGLE": "literal \\n ${X} # not a comment",
        "DOUBLE": 'line1\nline2 "quoted" back\\slash \\x',
        "INLINE": "value",
        "HASH": "http://host/#fragment",
        "EMPTY": "",
        "EMPTY_COMMENT": "",
        "QUOTED_COMMENT": "v",
        "LOTS_OF_SPACE": "1",
    }


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("NOEQUALS", "expected '=' after NOEQUALS"),
        ("1BAD=x", "expected a variable name ([A-Za-z_][A-Za-z0-9_]*)"),
        ("KEY='unterminated", "unterminated single quote in the value of KEY"),
        ('KEY="unterminated', "unterminated double quote in the value of KEY"),
        ("KEY='v' trailing", "unexpected text after the closing quote of KEY"),
        ("KEY='v'#glued", "a comment after the value of KEY needs a space before '#'"),
        ("=value", "expected a variable name ([A-Za-z_][A-Za-z0-9_]*)"),
    ],
)
def test_a_malformed_line_names_the_file_and_line_number(line: str, problem: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_dotenv(f"OK=1\n\n{line}\n", source="/p/.env")
    assert caught.value.message == f"/p/.env:3: {problem}"
    assert caught.value.code == "PARSE_ERROR"
    assert caught.value.at == "/p/.env"


def test_a_parse_error_never_echoes_the_line_it_could_not_read() -> None:
    with pytest.raises(ParseError) as caught:
        parse_dotenv("TOKEN='s3cr3t-value\n", source=".env")
    assert "s3cr3t" not in str(caught.value)
