"""The project's policy.yaml: defaults, and errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES, load_policy


def _write(root: Path, text: str) -> Path:
    path = root / ".ai" / "config" / "policy.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return root


def test_an_absent_policy_gives_the_spec_defaults(tmp_path: Path) -> None:
    caps = load_policy(tmp_path)
    assert caps.to_list() == [
        "tool.execute:**",
        "directive.execute:**",
        "knowledge.load:**",
        "net.http:**",
        "process.exec:*",
        "fs.read:**",
        "fs.write:**",
        "tool.sign:**",
    ]
    assert caps.to_list() == list(DEFAULT_CAPABILITIES)
    assert caps.covers("tool.load:x/y") and not caps.covers("spawn.thread")


def test_a_policy_file_replaces_the_defaults(tmp_path: Path) -> None:
    root = _write(tmp_path, 'version: 1\ncapabilities: ["fs.read:docs/**", "spawn.thread"]\n')
    caps = load_policy(root)
    assert caps.to_list() == ["fs.read:docs/**", "spawn.thread"]
    assert not caps.covers("tool.execute:x")


def test_an_empty_capability_list_denies_everything(tmp_path: Path) -> None:
    caps = load_policy(_write(tmp_path, "version: 1\ncapabilities: []\n"))
    assert caps.missing(["tool.execute:a"]) == ["tool.execute:a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'version: 1\ncapabilities: ["fs.read", "fs.write", "net.htp:x"]\n',
            ".ai/config/policy.yaml: capabilities[2]: unknown capability 'net.htp:x'",
        ),
        ("version: 2\ncapabilities: []\n", ".ai/config/policy.yaml: version: expected 1, got 2"),
        ("capabilities: []\n", ".ai/config/policy.yaml: version: missing"),
        ("version: 1\n", ".ai/config/policy.yaml: capabilities: missing"),
        (
            "version: 1\ncapabilities: fs.read\n",
            ".ai/config/policy.yaml: capabilities: expected a list, got str",
        ),
        (
            "version: 1\ncapabilities: [3]\n",
            ".ai/config/policy.yaml: capabilities[0]: expected a string, got 3",
        ),
        (
            "version: 1\ncapabilities: []\nallow_all: true\n",
            ".ai/config/policy.yaml: allow_all: unknown field (allowed: version, capabilities)",
        ),
        ("- a\n", ".ai/config/policy.yaml: expected a mapping with version, capabilities"),
        ("version: [1\n", ".ai/config/policy.yaml: line 2: not valid YAML"),
        (
            'version: 1\ncapabilities: ["fs.read:../x"]\n',
            ".ai/config/policy.yaml: capabilities[0]: bad scope in capability 'fs.read:../x':"
            " '..' segments are not allowed in '../x'",
        ),
    ],
)
def test_a_bad_policy_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        load_policy(_write(tmp_path, text))
    assert info.value.message == message
    assert info.value.code == "PARSE_ERROR"
