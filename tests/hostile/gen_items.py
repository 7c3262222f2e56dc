"""Malformed tool files for the item pass, deterministic from a seed: what a file holds
(wrong types for every field, alias bombs, deep nesting, huge and binary files, ``$ref``s);
where and how it lies is in ``gen_item_layouts.py``. ``cases`` picks from both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Final

from tests.hostile.gen_item_layouts import LAYOUTS
from tests.hostile.item_shapes import BASE, ItemCase, one_file, py_tool, yaml_tool

__all__ = ["ItemCase", "cases"]


_WRONG: Final[dict[str, list[Any]]] = {
    "version": [5, ["1.0.0"], {"a": 1}, None, "not-semver", True, "1.0.0" + "x" * 100_000],
    "tool_type": [5, ["http"], {"a": 1}],
    "executor_id": [
        5,
        ["primitives/subprocess"],
        {"id": "x"},
        "",
        "Primitives/Subprocess",
        "../primitives/subprocess",
        "/abs/path",
        "x" * 100_000,
    ],
    "description": [5, ["d"], {"d": 1}],
    "parameters": [
        "string",
        [1],
        5,
        {"type": "array"},
        {"type": "object", "properties": 5},
        {"type": "nonsense"},
    ],
    "config": ["string", [1], 5],
    "config_schema": ["x", 5, {"type": 5}],
    "requires": ["net.http", 5, [5], ["not a capability!"], [None]],
    "secrets": ["KEY", [5], {"a": 1}],
    "auth": ["weather", 5, {"service": 5}],
    "env_config": ["x", 5, {"interpreter": 5}],
    "mutates_state": ["yes", 5],
    "require_approval": ["no", []],
    "annotations": ["x", [1], {"read_only": "yes"}],
    "files": ["x.txt", [5], ["/etc/hostname"], ["../../../../etc/hostname"], ["missing.txt"]],
}
_PY_WRONG: Final[list[tuple[str, str, str]]] = [
    ("__version__", "version", "__version__ = 5"),
    ("__version__", "version", '__version__ = f"{1}.0.0"'),
    ("__version__", "version", "__version__: str = 5"),
    ("__version__", "version", '__version__, X = "1.0.0", 2'),
    ("__executor_id__", "executor_id", '__executor_id__ = ["runtimes/python"]'),
    ("__executor_id__", "executor_id", "__executor_id__ = None"),
    ("PARAMETERS", "parameters", 'PARAMETERS = "x"'),
    ("PARAMETERS", "parameters", "PARAMETERS = {**{}}"),
    ("CONFIG", "config", "CONFIG = dict(a=1)"),
    ("CONFIG", "config", "CONFIG = [1]"),
    ("CONFIG_SCHEMA", "config_schema", "CONFIG_SCHEMA = 5"),
    ("REQUIRES", "requires", "REQUIRES = [1]"),
    ("REQUIRES", "requires", "REQUIRES = __import__('os').environ"),
    ("SECRETS", "secrets", 'SECRETS = "K"'),
    ("AUTH", "auth", "AUTH = 5"),
    ("ENV_CONFIG", "env_config", "ENV_CONFIG = []"),
    ("MUTATES_STATE", "mutates_state", 'MUTATES_STATE = "yes"'),
    ("FILES", "files", 'FILES = "x"'),
    ("FILES", "files", 'FILES = ["../../../../etc/hostname"]'),
    ("__description__", "description", "__description__ = 5"),
]


def _wrong_types() -> Iterator[ItemCase]:
    for name, values in _WRONG.items():
        for n, value in enumerate(values):
            shown = (value,) if isinstance(value, str) and 0 < len(value) < 100 else ()
            yield one_file(
                "wrong-type", f"wrong_{name}_{n}", yaml_tool({**BASE, name: value}), (name, *shown)
            )
    yield one_file(
        "wrong-type",
        "missing_version",
        yaml_tool({k: v for k, v in BASE.items() if k != "version"}),
        ("version",),
    )
    yield one_file("wrong-type", "not_a_mapping", b"- just\n- a list\n", ("mapping",))
    for n, (py, name, line) in enumerate(_PY_WRONG):
        yield one_file("wrong-type", f"pywrong_{n}", py_tool(py, line), (py, name), ext=".py")


def _bomb(levels: int, width: int = 10) -> str:
    lines = ['x0: &x0 "lol"']
    for n in range(1, levels + 1):
        lines.append(f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _bombs() -> Iterator[ItemCase]:
    head = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
    run = "config: {command: '{python}', args: ['-c', 'print(1)']}\n"
    yield one_file(
        "alias-bomb", "bomb_version", (_bomb(9) + "version: *x9\n" + run).encode(), ("version",)
    )
    yield one_file(
        "alias-bomb",
        "bomb_config",
        (head + _bomb(9) + "config: {command: python, args: *x9}\n").encode(),
        ("args", "config"),
    )
    yield one_file(
        "alias-bomb",
        "bomb_params",
        (
            head + _bomb(9) + run + "parameters: {type: object, properties: {a: {enum: *x9}}}\n"
        ).encode(),
        ("parameters",),
        must_fail=False,
    )
    yield one_file(
        "alias-bomb",
        "bomb_requires",
        (head + _bomb(9) + run + "requires: *x9\n").encode(),
        ("requires",),
    )
    yield one_file(
        "alias-bomb",
        "bomb_quadratic",
        (head + _bomb(5) + run + "description: *x5\n").encode(),
        ("description",),
    )
    yield one_file(
        "alias-bomb",
        "bomb_unused",
        (head + run + _bomb(9).replace("x", "y")).encode(),
        (),
        must_fail=False,
    )
    yield one_file(
        "alias-bomb",
        "bomb_recursive",
        (head + run + "description: &d [*d]\n").encode(),
        ("description",),
    )


def _deep() -> Iterator[ItemCase]:
    head = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
    run = "config: {command: '{python}', args: ['-c', 'print(1)']}\n"
    yield one_file(
        "deep-nesting",
        "deep_flow_list",
        (head + run + "requires: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(),
        ("requires",),
    )
    yield one_file(
        "deep-nesting",
        "deep_flow_map",
        (head + "config: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n").encode(),
        ("config",),
    )
    # under the 1 MiB item limit, so the parser meets the depth (in a field that must be a
    # list), not the size check
    block = "".join("  " * n + "a:\n" for n in range(900)) + "  " * 900 + "b: 1\n"
    yield one_file(
        "deep-nesting",
        "deep_block",
        (
            head + run + "requires:\n" + "\n".join("  " + x for x in block.splitlines()) + "\n"
        ).encode(),
        ("requires",),
    )
    yield one_file(
        "deep-nesting",
        "deep_python_parens",
        py_tool("REQUIRES", "REQUIRES = " + "[" * 300 + "]" * 300),
        ("REQUIRES", "requires"),
        ext=".py",
    )
    yield one_file(
        "deep-nesting",
        "deep_python_dict",
        py_tool("CONFIG", "CONFIG = " + '{"a": ' * 150 + "1" + "}" * 150),
        ("CONFIG", "config"),
        ext=".py",
    )
    yield one_file(
        "deep-nesting",
        "deep_schema",
        yaml_tool({**BASE, "parameters": _nested_schema(60)}),
        ("parameters",),
        must_fail=False,
    )


def _nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def _huge(rng: random.Random) -> Iterator[ItemCase]:
    yield one_file(
        "huge-file",
        "huge_description",
        yaml_tool({**BASE, "description": "d" * 4_000_000}, big=True),
        (),
        must_fail=False,
    )
    pad = "".join(f"# padding line {n}\n" for n in range(100_000))
    yield one_file("huge-file", "huge_python", py_tool("#", pad), (), ext=".py", must_fail=False)
    keys = {f"k{n}": n for n in range(100_000)}
    yield one_file(
        "huge-file",
        "huge_keys",
        yaml_tool({**BASE, "annotations": keys}, big=True),
        (),
        must_fail=False,
    )
    yield one_file(
        "huge-file",
        "huge_then_bad",
        (pad + yaml_tool({**BASE, "version": 5}).decode()).encode(),
        ("version",),
    )


def _binary(rng: random.Random) -> Iterator[ItemCase]:
    noise = bytes(rng.randrange(256) for _ in range(4096))
    yield one_file("binary", "binary_yaml", noise, ())
    yield one_file("binary", "binary_python", noise, (), ext=".py")
    yield one_file("binary", "binary_shell", b"#!/bin/sh\n# kiwi:\n# " + noise, (), ext=".sh")
    yield one_file("binary", "utf16_yaml", yaml_tool(BASE).decode().encode("utf-16"), ())
    yield one_file("binary", "bom_yaml", b"\xef\xbb\xbf" + yaml_tool(BASE), (), must_fail=False)
    yield one_file(
        "binary", "nul_yaml", yaml_tool(BASE).replace(b"1.0.0", b"1.0\x00.0"), ("version",)
    )
    yield one_file(
        "binary",
        "latin1_python",
        py_tool("__description__", '__description__ = "caf\xe9"').decode().encode("latin-1"),
        (),
        ext=".py",
    )
    yield one_file("binary", "empty_yaml", b"", ())
    yield one_file("binary", "js_no_header", b"console.log('hi')\n", (), ext=".js")


def _remote_refs() -> Iterator[ItemCase]:
    remote = "{loopback}/schema.json"
    for n, params in enumerate(
        [
            {"$ref": remote},
            {"type": "object", "allOf": [{"$ref": remote}]},
            {"$id": "{loopback}/base", "$ref": "other.json"},
            {"$ref": "file:///etc/hostname"},
        ]
    ):
        yield one_file(
            "remote-ref",
            f"ref_remote_{n}",
            yaml_tool({**BASE, "parameters": params}),
            ("parameters", "$ref"),
        )
    yield one_file(
        "remote-ref",
        "ref_remote_config",
        yaml_tool({**BASE, "config_schema": {"$ref": remote}}),
        ("config_schema", "$ref"),
    )
    yield one_file(
        "remote-ref",
        "ref_schema_dialect",
        yaml_tool({**BASE, "parameters": {"$schema": remote, "type": "object"}}),
        ("parameters", "$schema"),
        must_fail=False,
    )


def _local_refs() -> Iterator[ItemCase]:
    for n, params in enumerate(
        [
            {"$ref": "#/$defs/missing"},
            {"$ref": "#/definitions/x"},
            {"$ref": "other.json"},
            {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        ]
    ):
        yield one_file(
            "local-ref",
            f"ref_local_{n}",
            yaml_tool({**BASE, "parameters": params}),
            ("parameters", "$ref"),
        )


def _mutations(rng: random.Random) -> Iterator[ItemCase]:
    """Seeded byte damage to a good file, for runs asking more files than the catalogue."""
    n = 0
    while True:
        data = bytearray(yaml_tool(BASE))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        yield one_file("mutation", f"mutant_{n}", bytes(data), (), must_fail=False)
        n += 1


def cases(seed: int, files: int | None = None) -> list[ItemCase]:
    """Cases holding at least ``files`` files (None: the whole catalogue): round-robin over
    the classes (so a small run meets each), shuffled within a class by the seed, then, past
    the catalogue, seeded mutations of a good file."""
    rng = random.Random(seed)
    groups = [
        list(g)
        for g in (
            _bombs(),
            _deep(),
            _huge(rng),
            _binary(rng),
            _wrong_types(),
            _remote_refs(),
            _local_refs(),
            *(layout(rng) for layout in LAYOUTS),
        )
    ]
    for group in groups:
        rng.shuffle(group)
    chosen: list[ItemCase] = []
    total = 0
    if files is None:
        files = sum(case.count for group in groups for case in group)
    while total < files and any(groups):
        for group in groups:  # a whole round: even the smallest run meets every class
            if group:
                chosen.append(group.pop(0))
                total += chosen[-1].count
    mutants = _mutations(rng)
    while total < files:
        chosen.append(next(mutants))
        total += 1
    return chosen
