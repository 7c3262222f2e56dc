"""The compiled schema subset agrees with jsonschema's ``is_valid`` (kernel/schemafast.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from kiwi_mcp.kernel.core.params import check_config, validate_params
from kiwi_mcp.kernel.core.schemafast import compile_schema
from kiwi_mcp.kernel.errors import ConfigInvalid, ParamsInvalid, ParseError

ROOT = Path(__file__).resolve().parents[2]

# Small pools, shared by schemas and values, so random values often sit on a boundary.
KEYS = ["a", "b", "c", "x_1", "A_1"]
PATTERNS = ["^a", "b", "^[a-c]+$", "^$", "_1$", "^[A-Z_][A-Z0-9_]*$", "é", "(a)|b"]
TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"]
NUMBERS = [-2, -1, 0, 1, 2, 3, -1.5, -0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 1e308, 10**20]
TEXTS = ["", "a", "b", "ab", "abc", "ba", "x_1", "A_1", "é", "aé", "ABC", "ü"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(NUMBERS),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(TEXTS),
    st.text(max_size=4),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=2), inner, max_size=4),
    ),
    max_leaves=12,
)
counts = st.integers(0, 3) | st.sampled_from([0.0, 1.0, 2.0])
bounds = st.sampled_from(NUMBERS)


def _keywords(schema: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    plain: dict[str, st.SearchStrategy[Any]] = {
        "type": st.sampled_from(TYPES) | st.lists(st.sampled_from(TYPES), min_size=1, unique=True),
        "enum": st.lists(values, max_size=4),
        "const": values,
        "minimum": bounds,
        "maximum": bounds,
        "exclusiveMinimum": bounds,
        "exclusiveMaximum": bounds,
        "multipleOf": st.sampled_from([1, 2, 3, 0.5, 1.5, 0.1, 1e-300]),
        "minLength": counts,
        "maxLength": counts,
        "pattern": st.sampled_from(PATTERNS),
        "minItems": counts,
        "maxItems": counts,
        "uniqueItems": st.booleans(),
        "minProperties": counts,
        "maxProperties": counts,
        "required": st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
        "title": st.just("t"),
        "description": st.just("d"),
        "default": values,
        "examples": st.lists(values, max_size=2),
        "$comment": st.just("c"),
        "deprecated": st.booleans(),
        "readOnly": st.booleans(),
        "writeOnly": st.booleans(),
        "format": st.sampled_from(["email", "uri", "date", "nope"]),
        "$schema": st.just("https://json-schema.org/draft/2020-12/schema"),
        "properties": st.dictionaries(st.sampled_from(KEYS), schema, max_size=3),
        "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), schema, max_size=2),
        "additionalProperties": schema,
        "items": schema,
        "prefixItems": st.lists(schema, min_size=1, max_size=3),
        "allOf": st.lists(schema, min_size=1, max_size=3),
        "anyOf": st.lists(schema, min_size=1, max_size=3),
        "oneOf": st.lists(schema, min_size=1, max_size=3),
        "not": schema,
    }
    return st.one_of([st.tuples(st.just(k), v) for k, v in plain.items()])


schemas: st.SearchStrategy[Any] = st.recursive(
    st.booleans() | st.lists(_keywords(st.booleans()), max_size=3).map(dict),
    lambda inner: st.lists(_keywords(inner), max_size=4).map(dict),
    max_leaves=8,
)


def _near(schema: Any) -> st.SearchStrategy[Any]:
    """Values built from the schema's own literals: members, bounds, required names."""
    if not isinstance(schema, dict):
        return values
    options: list[st.SearchStrategy[Any]] = [values]
    if schema.get("enum"):
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    words = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
    numbers = [schema.get(k) for k in words]
    for bound in [n for n in numbers if isinstance(n, int | float)]:
        options.append(st.sampled_from([bound, bound - 1, bound + 1, bound + 0.5, float(bound)]))
    for key in ("minLength", "maxLength"):
        if key in schema:
            size = int(schema[key])
            options.append(st.sampled_from(["a" * max(size + d, 0) for d in (-1, 0, 1)]))
    for key in ("minItems", "maxItems", "minProperties", "maxProperties"):
        if key in schema:
            size = int(schema[key])
            options.append(st.lists(values, min_size=max(size - 1, 0), max_size=size + 1))
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in schema.get(key, []):
            options.append(_near(sub))
    properties = schema.get("properties", {})
    if properties or schema.get("required"):
        fields = {name: _near(sub) for name, sub in properties.items()}
        for name in schema.get("required", []):
            fields.setdefault(name, values)
        options.append(st.fixed_dictionaries({}, optional=fields))
        options.append(st.fixed_dictionaries(fields))
    if "items" in schema or "prefixItems" in schema:
        options.append(st.lists(_near(schema.get("items", True)), max_size=3))
    return st.one_of(options)


@st.composite
def schema_and_value(draw: st.DrawFn) -> tuple[Any, Any]:
    schema = draw(schemas)
    return schema, draw(_near(schema))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema_and_value())
def test_the_compiled_check_agrees_with_jsonschema(case: tuple[Any, Any]) -> None:
    schema, value = case
    Draft202012Validator.check_schema(schema)
    check = compile_schema(schema)
    assert check is not None, schema
    assert check(value) == Draft202012Validator(schema).is_valid(value)


KEYWORDS = sorted(
    [
        *("type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
        *("multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems"),
        *("uniqueItems", "minProperties", "maxProperties", "required", "title", "description"),
        *("default", "examples", "$comment", "deprecated", "readOnly", "writeOnly", "format"),
        *("$schema", "properties", "patternProperties", "additionalProperties", "items"),
        *("prefixItems", "allOf", "anyOf", "oneOf", "not"),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(KEYWORDS), values | schemas)
def test_a_schema_the_compiler_accepts_passes_check_schema(keyword: str, value: Any) -> None:
    schema = {keyword: value}
    if compile_schema(schema) is not None:
        Draft202012Validator.check_schema(schema)


MALFORMED: dict[str, list[Any]] = {
    "type": ["strnig", 3, [], ["string", "string"], ["string", 1], None],
    "enum": [3, "a", {"a": 1}],
    "minimum": ["1", True, None, [1]],
    "maximum": ["1", False],
    "exclusiveMinimum": ["0", True],
    "exclusiveMaximum": [None, "1"],
    "multipleOf": [0, -1, 0.0, "2", True],
    "minLength": [-1, 1.5, "1", True],
    "maxLength": [-1, 0.5, None, False],
    "pattern": ["(", "[a-", 3, "a{4294967296}"],
    "minItems": [-1, 1.5, "2"],
    "maxItems": [-2, True],
    "uniqueItems": [1, "yes", None],
    "minProperties": [-1, 2.5],
    "maxProperties": ["1", -3],
    "required": [3, "a", ["a", "a"], [1], {"a": 1}],
    "title": [3, None],
    "description": [["x"], True],
    "examples": ["x", 3],
    "$comment": [1],
    "deprecated": ["yes", 1],
    "readOnly": [0],
    "writeOnly": ["no"],
    "format": [1, None],
    "properties": [3, [], {"a": 3}, {"a": {"type": "strnig"}}],
    "patternProperties": [3, {"(": {}}, {"a": "b"}],
    "additionalProperties": [3, "x", {"minimum": "1"}],
    "items": [3, [{}], {"required": 3}],
    "prefixItems": [[], {}, [3], 3],
    "allOf": [[], {}, [3]],
    "anyOf": [[], [{"type": 1}]],
    "oneOf": [[], "x"],
    "not": [3, {"enum": 1}],
}


@pytest.mark.parametrize(
    ("keyword", "value"),
    [(k, v) for k, bad in MALFORMED.items() for v in bad],
)
def test_a_malformed_keyword_is_refused_by_the_compiler_and_by_check_schema(
    keyword: str, value: Any
) -> None:
    assert compile_schema({keyword: value}) is None
    with pytest.raises((SchemaError, OverflowError)):
        Draft202012Validator.check_schema({keyword: value})


def test_every_supported_keyword_has_malformed_cases_except_the_free_ones() -> None:
    assert set(KEYWORDS) - set(MALFORMED) == {"$schema", "const", "default"}


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"a": {}}},
        {"if": {}, "then": {}, "else": {}},
        {"dependentSchemas": {"a": {}}},
        {"dependentRequired": {"a": ["b"]}},
        {"unevaluatedProperties": False},
        {"unevaluatedItems": False},
        {"contains": {}},
        {"minContains": 1},
        {"propertyNames": {"pattern": "^a"}},
        {"$id": "https://example.test/s"},
        {"$anchor": "a"},
        {"x-vendor": 1},
        {"$schema": "http://json-schema.org/draft-07/schema#"},
        {"properties": {"a": {"$ref": "#"}}},
        {"anyOf": [{"type": "string"}, {"contains": {}}]},
        {"patternProperties": {"(?i)a": {}, "(?i)b": {}}, "additionalProperties": False},
        {"minimum": float("nan")},
        {"maximum": float("inf")},
        {"properties": {1: {}}},
        "string",
        None,
        3,
    ],
)
def test_a_schema_outside_the_subset_is_not_compiled(schema: Any) -> None:
    assert compile_schema(schema) is None


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"type": "integer"}, True, False),
        ({"type": "integer"}, 1.0, True),
        ({"type": "integer"}, 1.5, False),
        ({"type": "number"}, False, False),
        ({"type": "boolean"}, 0, False),
        ({"type": ["string", "null"]}, None, True),
        ({"enum": [1]}, 1.0, True),
        ({"enum": [1]}, True, False),
        ({"enum": [0]}, False, False),
        ({"enum": [True]}, 1, False),
        ({"enum": ["a", "b"]}, "b", True),
        ({"enum": ["a", "b"]}, ["a"], False),
        ({"const": [1]}, [True], False),
        ({"const": [1]}, [1.0], True),
        ({"const": {"a": [1, {"b": 0}]}}, {"a": [1.0, {"b": 0.0}]}, True),
        ({"const": {"a": [1, {"b": 0}]}}, {"a": [1, {"b": False}]}, False),
        ({"const": None}, None, True),
        ({"uniqueItems": True}, [1, 1.0], False),
        ({"uniqueItems": True}, [1, True], True),
        ({"uniqueItems": True}, [0, False], True),
        ({"uniqueItems": True}, [[1], [True]], True),
        ({"uniqueItems": True}, [{"a": 1}, {"a": 1.0}], False),
        ({"uniqueItems": True}, [{"a": 1}, {"a": True}], True),
        ({"maxLength": 1}, "é", True),
        ({"maxLength": 1}, "😀", True),
        ({"pattern": "b"}, "abc", True),
        ({"multipleOf": 0.1}, 0.3, False),
        ({"multipleOf": 1e-300}, 10**20, False),
        ({"multipleOf": 0.5}, 1e308, True),
        ({"items": False, "prefixItems": [{}]}, [1], True),
        ({"items": False, "prefixItems": [{}]}, [1, 2], False),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5, True),
        ({"additionalProperties": False, "patternProperties": {"^a": {}}}, {"ab": 1}, True),
        ({"additionalProperties": False, "patternProperties": {"^a": {}}}, {"b": 1}, False),
        ({"format": "email"}, "not an email", True),
        (False, None, False),
        (True, {"any": "thing"}, True),
    ],
)
def test_json_types_and_equality_follow_jsonschema(schema: Any, value: Any, valid: bool) -> None:
    check = compile_schema(schema)
    assert check is not None
    assert check(value) is valid
    assert Draft202012Validator(schema).is_valid(value) is valid


SUBPROCESS_SCHEMA = {
    "type": "object",
    "required": ["command"],
    "additionalProperties": False,
    "properties": {
        "command": {"type": "string", "minLength": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "param_env_prefix": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"},
    },
}


def test_an_invalid_config_still_gets_jsonschemas_messages() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        check_config(
            SUBPROCESS_SCHEMA,
            {"command": "", "timout": 3, "param_env_prefix": "x"},
            link_id="primitives/subprocess",
            label="primitives/subprocess.yaml",
        )
    assert caught.value.details["errors"] == [
        {"path": "config.timout", "problem": "unknown field"},
        {"path": "config.command", "problem": "'' should be non-empty"},
        {"path": "config.param_env_prefix", "problem": "'x' does not match '^[A-Z_][A-Z0-9_]*$'"},
    ]


def test_a_schema_outside_the_subset_is_validated_by_jsonschema() -> None:
    schema = {
        "type": "object",
        "$defs": {"n": {"type": "integer", "minimum": 1}},
        "properties": {"n": {"$ref": "#/$defs/n"}},
    }
    assert validate_params(schema, {"n": 2}, tool_id="t", label="t.yaml") == {"n": 2}
    with pytest.raises(ParamsInvalid) as caught:
        validate_params(schema, {"n": 0}, tool_id="t", label="t.yaml")
    assert caught.value.details["errors"] == [
        {"path": "params.n", "problem": "0 is less than the minimum of 1"}
    ]


def test_a_malformed_schema_is_still_a_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        validate_params({"type": "strnig"}, {}, tool_id="t", label="tools/t.yaml")
    assert caught.value.message.startswith("tools/t.yaml: invalid JSON Schema at type: ")


def test_a_value_the_check_cannot_handle_goes_to_jsonschema() -> None:
    schema = {"type": "object", "properties": {"n": {"multipleOf": 0.5}}}
    with pytest.raises(OverflowError):
        validate_params(schema, {"n": 10**400}, tool_id="t", label="t.yaml")


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_importing_the_params_module_does_not_import_jsonschema() -> None:
    done = _fresh_python(
        "import kiwi_mcp.kernel.core.params, sys; assert 'jsonschema' not in sys.modules"
    )
    assert done.returncode == 0, done.stderr


def test_validating_good_params_and_config_does_not_import_jsonschema() -> None:
    code = (
        "import sys\n"
        "from kiwi_mcp.kernel.core.params import check_config, validate_params\n"
        "schema = {'type': 'object', 'properties': {'n': {'type': 'integer', 'default': 1}},"
        " 'additionalProperties': False}\n"
        "assert validate_params(schema, {}, tool_id='t', label='t.yaml') == {'n': 1}\n"
        f"check_config({SUBPROCESS_SCHEMA!r}, {{'command': 'ls', 'timeout': 2}},"
        " link_id='s', label='s.yaml')\n"
        "assert 'jsonschema' not in sys.modules, 'jsonschema was imported'\n"
        "try:\n"
        "    validate_params(schema, {'n': 'x'}, tool_id='t', label='t.yaml')\n"
        "except Exception as exc:\n"
        "    print(exc.details['errors'])\n"
    )
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == "[{'path': 'params.n', 'problem': \"'x' is not of type 'integer'\"}]"
    )


def test_schemas_built_per_call_are_each_held_to_their_own_rules() -> None:
    # the cache keeps each schema alive, so a new dict never inherits a dead one's id
    for round_ in range(40):
        kind, good, bad = ("integer", 1, "x") if round_ % 2 else ("string", "x", 1)
        schema = {"type": "object", "properties": {"n": {"type": kind}}}
        assert validate_params(schema, {"n": good}, tool_id="t", label="t.yaml") == {"n": good}
        with pytest.raises(ParamsInvalid):
            validate_params(schema, {"n": bad}, tool_id="t", label="t.yaml")


def test_every_mcp_input_schema_is_in_the_compiled_subset() -> None:
    from kiwi_mcp.kernel.faces.mcp.schemas import TOOL_SPECS

    for tool in TOOL_SPECS:
        assert compile_schema(dict(tool.input_schema)) is not None, tool.name
