"""Hostile item files, over bytes and values (no disk): alias bombs, remote and broken
``$ref``s, over-long versions and ids (issue #12)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.ids import check_id, check_pattern
from kiwi_mcp.kernel.core.params import check_config, validate_params, validator_for
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.core.yaml_read import may_hold_anchors
from kiwi_mcp.kernel.errors import InvalidId, ParseError
from tests.support.http_server import LoopbackServer, Response

HEAD = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'

#: 9^9 "lol"s from a few hundred bytes: the description alone would hang any repr of it.
BOMB = (
    HEAD
    + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "description: *i\n"
)


def tool(text: str, ext: str = ".yaml", item_id: str = "t") -> object:
    return parse_item("tool", item_id, ext, text.encode(), "project:tools/t.yaml")


def parse_error(text: str, ext: str = ".yaml", kind: str = "tool", item_id: str = "t") -> str:
    with pytest.raises(ParseError) as info:
        parse_item(kind, item_id, ext, text.encode(), "project:tools/t.yaml")  # type: ignore[arg-type]
    return info.value.message


# --- YAML anchors and aliases ----------------------------------------------------------------


def test_a_billion_laughs_file_is_a_parse_error_naming_the_file_and_the_line() -> None:
    assert len(BOMB) < 600
    message = parse_error(BOMB)
    assert message == (
        "project:tools/t.yaml: line 3: YAML anchors and aliases are not allowed in item files"
    )


def test_an_unused_anchor_is_refused_too() -> None:
    message = parse_error(HEAD + "config: &base {command: echo}\n")
    assert "line 3: YAML anchors and aliases are not allowed in item files" in message


@pytest.mark.parametrize(
    "value",
    ['{"k":*a}', "[1,*a]", "{? *a : 1}", "{?*a : 1}", "*a", "\t*a"],
    ids=["json-key", "flow-seq", "explicit-key", "adjacent-key", "plain", "tab"],
)
def test_an_alias_wherever_yaml_allows_one_is_refused(value: str) -> None:
    message = parse_error(HEAD + "x: &a 1\ny: " + value + "\n")
    assert "YAML anchors and aliases are not allowed in item files" in message


_SOUP = st.lists(
    st.sampled_from(
        [
            *("&b ", "*a", "*a", " ", "\t", ":", "?", ",", "[", "]", "{", "}", "'k'", '"k"'),
            *("k", "1", "!t ", "- ", ": ", "? ", "\n  ", "[1]", "{a: 1}", "\ufeff"),
        ]
    ),
    max_size=8,
).map("".join)
_DEFINED = "x: &a 1\ny: "


@settings(max_examples=3000)
@given(_SOUP)
def test_the_quick_anchor_test_misses_no_anchor_or_alias_libyaml_would_load(soup: str) -> None:
    text = _DEFINED + soup
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        events = list(yaml.parse(text, Loader=loader))
        yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return  # never built, so never expanded
    in_soup = [
        e
        for e in events
        if (isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None))
        and e.start_mark.index >= len(_DEFINED)
    ]
    if in_soup:
        assert may_hold_anchors(" " + soup)  # the soup follows "y: "


def test_ampersands_and_stars_inside_values_are_not_anchors() -> None:
    item = tool(
        HEAD + 'requires: ["net.http:**", "process.exec:*", "fs.read:src/**"]\n'
        "config:\n"
        '  command: "*"\n'
        "  args: ['*.py', a&b, 'x &y', \"&z\", q=1&r=2]\n"
        "  env: {A: 'k:*v'}\n"
        "description: Tom & Jerry * 2  # &not an anchor\n"
    )
    assert item.requires == ("net.http:**", "process.exec:*", "fs.read:src/**")  # type: ignore[attr-defined]
    assert item.config["args"] == ["*.py", "a&b", "x &y", "&z", "q=1&r=2"]  # type: ignore[attr-defined]
    assert item.description == "Tom & Jerry * 2"  # type: ignore[attr-defined]


def test_an_alias_in_a_shell_header_names_the_file_line() -> None:
    text = (
        "#!/usr/bin/env bash\n# kiwi:\n"
        '# version: "1.0.0"\n# executor_id: runtimes/bash\n'
        "# config: &c {a: 1}\n# env_config: *c\necho hi\n"
    )
    message = parse_error(text, ".sh")
    assert "line 5: YAML anchors and aliases are not allowed in item files" in message


def test_an_alias_in_knowledge_front_matter_names_the_file_line() -> None:
    text = "---\ntitle: &t Style\ntags: [*t]\n---\nbody\n"
    message = parse_error(text, ".md", kind="knowledge", item_id="style")
    assert "line 2: YAML anchors and aliases are not allowed in item files" in message


def test_a_yaml_integer_too_long_to_convert_is_a_parse_error() -> None:
    message = parse_error(HEAD + "config: {n: " + "1" * 5000 + "}\n")
    assert message.startswith("project:tools/t.yaml: invalid YAML: ")


# --- version -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    ["1" * 100_000 + ".0.0", "1.0.0-" + "a" * 100_000, "1.0.0+" + "b" * 59],
    ids=["100k-major", "100k-pre", "65"],
)
def test_a_version_longer_than_64_characters_is_a_parse_error_naming_the_field(
    version: str,
) -> None:
    message = parse_error(f'version: "{version}"\nexecutor_id: primitives/subprocess\n')
    assert message.startswith("project:tools/t.yaml: version: expected a semantic version of ")
    assert f"at most 64 characters, got {len(version)} characters" in message
    assert len(message) < 200


def test_a_version_of_64_characters_is_fine() -> None:
    version = "1.0.0+" + "b" * 58
    assert tool(f'version: "{version}"\nexecutor_id: primitives/subprocess\n').version == version  # type: ignore[attr-defined]


def test_a_python_tool_version_is_held_to_the_same_limit() -> None:
    text = '__version__ = "1.0.0-' + "x" * 100 + '"\n__executor_id__ = "runtimes/python"\n'
    assert "version: expected a semantic version of at most 64 characters" in parse_error(
        text, ".py"
    )


def test_a_directive_version_is_held_to_the_same_limit() -> None:
    text = f'```xml\n<directive name="d" version="{"1" * 1000}"/>\n```\n'
    message = parse_error(text, ".md", kind="directive", item_id="d")
    assert "version: expected a semantic version of at most 64 characters" in message


def test_a_knowledge_version_is_held_to_the_same_limit() -> None:
    text = f"---\ntitle: x\nversion: '{'9' * 65}'\n---\nbody\n"
    message = parse_error(text, ".md", kind="knowledge", item_id="k")
    assert "version: expected a semantic version of at most 64 characters" in message


# --- $ref in schemas ----------------------------------------------------------------------


def schema_tool(parameters: str, config_schema: str = "") -> str:
    text = HEAD + "parameters:\n" + parameters
    if config_schema:
        text += "config_schema:\n" + config_schema
    return text


@pytest.mark.parametrize(
    "ref",
    ["http://127.0.0.1:9/x.json", "https://example.test/s#/a", "other.json", "//host/x", "x#/a"],
)
def test_a_non_local_ref_in_parameters_is_a_parse_error_naming_the_field_path(ref: str) -> None:
    message = parse_error(schema_tool(f"  type: object\n  properties:\n    x: {{$ref: '{ref}'}}\n"))
    assert message == (
        "project:tools/t.yaml: parameters.properties.x.$ref: only local references "
        f"('#/$defs/...') are allowed, got {ref!r}"
    )


def test_a_non_local_ref_in_config_schema_and_in_lists_is_named_by_its_path() -> None:
    message = parse_error(
        schema_tool(
            "  type: object\n",
            "  type: object\n  allOf: [{}, {$dynamicRef: 'https://e.test/m'}]\n",
        )
    )
    assert "config_schema.allOf[1].$dynamicRef: only local references" in message


def test_an_unreachable_local_ref_is_a_parse_error() -> None:
    message = parse_error(
        schema_tool("  type: object\n  properties:\n    x: {$ref: '#/$defs/missing'}\n")
    )
    assert message == (
        "project:tools/t.yaml: parameters.properties.x.$ref: '#/$defs/missing' "
        "points at nothing in the schema"
    )


@pytest.mark.parametrize(
    "ref", ["#/properties/y/type", "#/allOf/x", "#/allOf/7", "#nowhere", "#/$defs/a~2b"]
)
def test_a_local_ref_to_a_non_schema_or_a_bad_pointer_is_a_parse_error(ref: str) -> None:
    message = parse_error(
        schema_tool(
            "  type: object\n  allOf: [{}]\n  $defs: {a: {}}\n"
            f"  properties:\n    y: {{type: string}}\n    x: {{$ref: '{ref}'}}\n"
        )
    )
    assert "parameters.properties.x.$ref: " in message
    assert "points at nothing in the schema" in message or "not a schema" in message


def test_a_ref_loop_that_never_descends_into_the_value_is_a_parse_error() -> None:
    message = parse_error(
        schema_tool(
            "  type: object\n"
            "  $defs: {a: {$ref: '#/$defs/b'}, b: {allOf: [{$ref: '#/$defs/a'}]}}\n"
            "  properties:\n    x: {$ref: '#/$defs/a'}\n"
        )
    )
    assert "parameters.$defs." in message and "loops back" in message


def test_a_nested_id_is_refused_because_it_would_move_relative_refs_elsewhere() -> None:
    message = parse_error(
        schema_tool("  type: object\n  properties:\n    x: {$id: 'https://e.test/', $ref: '#'}\n")
    )
    assert "parameters.properties.x.$id: " in message


def test_local_refs_pointers_anchors_and_recursion_work() -> None:
    item = tool(
        schema_tool(
            "  type: object\n"
            "  $defs:\n"
            "    city: {type: string, minLength: 1}\n"
            "    'a/b~c': {type: integer}\n"
            "    node: {$anchor: node, type: object, properties: {kids: {type: array, "
            "items: {$ref: '#node'}}}}\n"
            "  properties:\n"
            "    city: {$ref: '#/$defs/city'}\n"
            "    n: {$ref: '#/$defs/a~1b~0c'}\n"
            "    tree: {$ref: '#/$defs/node'}\n"
            "    self: {$ref: '#'}\n"
            "    '$ref': {type: string}\n"
            "  default: {$ref: 'http://data.test/not-a-ref'}\n"
        )
    )
    schema = item.parameters  # type: ignore[attr-defined]
    ok = validate_params(
        schema,
        {"city": "Oslo", "n": 2, "tree": {"kids": [{"kids": []}]}, "$ref": "x"},
        tool_id="t",
        label="l",
    )
    assert ok["city"] == "Oslo"
    with pytest.raises(Exception) as info:
        validate_params(schema, {"city": "", "n": "x"}, tool_id="t", label="l")
    assert "params.city" in str(info.value) and "params.n" in str(info.value)


def test_validator_for_never_fetches_a_remote_ref() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/s.json", Response.json({"type": "string"}))
        schema = {"type": "object", "properties": {"x": {"$ref": f"{server.url}/s.json"}}}
        with pytest.raises(ParseError) as info:
            validator_for(schema, "project:tools/t.yaml", field="parameters")
        with pytest.raises(ParseError):
            check_config(schema, {"x": 1}, link_id="t", label="project:tools/t.yaml")
        assert server.requests == []
    assert "parameters.properties.x.$ref: only local references" in info.value.message


def test_validator_for_does_not_fetch_through_a_nested_id_either() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/dir/x", Response.json({"type": "string"}))
        schema = {"properties": {"x": {"$id": f"{server.url}/dir/", "$ref": "x"}}}
        with pytest.raises(ParseError):
            validator_for(schema, "l")
        assert server.requests == []


# --- ids and id patterns -----------------------------------------------------------------


def short(text: str) -> str:
    return repr(text[:12])


BAD_IDS = ["../x", "a/./b", "/abs", "a//b", "a/../b", "", "a\x00b", "a\\b", "a" * 5000, "a/"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=short)
def test_a_malformed_id_is_invalid_id_with_a_hint_saying_what_an_id_looks_like(bad: str) -> None:
    with pytest.raises(InvalidId) as info:
        check_id(bad)
    assert len(info.value.message) < 200
    assert "[a-z0-9][a-z0-9_.-]*" in info.value.hint and "runtimes/python" in info.value.hint


@pytest.mark.parametrize("bad", [*BAD_IDS, "a**", "**b/c", "A*", "a/*/../b"], ids=short)
def test_a_malformed_id_pattern_is_invalid_id_with_a_hint(bad: str) -> None:
    with pytest.raises(InvalidId) as info:
        check_pattern(bad)
    assert len(info.value.message) < 200
    assert "'**'" in info.value.hint and "runtimes/python" in info.value.hint


@pytest.mark.parametrize("good", ["**", "a/*", "*", "llm/**", "a/*_x/b", "runtimes/python"])
def test_globs_and_plain_ids_are_valid_patterns(good: str) -> None:
    assert check_pattern(good) == good


def test_an_id_of_128_character_segments_up_to_1024_characters_is_fine() -> None:
    longest = "/".join(["a" * 127] * 8)
    assert len(longest) == 1023
    assert check_id(longest) == longest
    with pytest.raises(InvalidId, match="at most 128"):
        check_id("b" * 129)
    with pytest.raises(InvalidId, match="at most 1024"):
        check_id("/".join(["a" * 100] * 11))


@pytest.mark.parametrize(
    "executor",
    ["", "x" * 100_000, "../primitives/subprocess", "A/b"],
    ids=["empty", "100k", "up", "upper"],
)
def test_an_executor_id_that_is_no_id_is_a_parse_error_naming_the_field(executor: str) -> None:
    message = parse_error(f'version: "1.0.0"\nexecutor_id: "{executor}"\n')
    assert message.startswith("project:tools/t.yaml: executor_id: the id ")
    assert len(message) < 200


def test_an_xml_entity_bomb_in_a_directive_is_refused_before_expat_expands_it() -> None:
    entities = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    text = (
        "# A directive\n\n```xml\n"
        f"<!DOCTYPE directive [{entities}]>\n"
        '<directive name="d" version="1.0.0"><metadata><description>&l9;</description>'
        "</metadata></directive>\n```\n"
    )
    message = parse_error(text, ".md", kind="directive", item_id="d")
    assert message == (
        "project:tools/t.yaml: line 4: a DOCTYPE (and its entities) is not allowed in item files"
    )
