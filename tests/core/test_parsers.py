"""Item parsers, over bytes (no disk)."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.errors import ParseError

DIRECTIVE = b"""<!-- kiwi:signed:v1:2026-01-01T00:00:00Z:aa:bb:cc -->
# Summarise docs

```xml
<directive name="summarise" version="1.2.0">
  <metadata>
    <description>Summarise the docs folder</description>
    <category>docs</category>
    <author>kiwi</author>
    <model tier="fast"/>
    <permissions>
      <read resource="filesystem" path="docs/**"/>
      <execute resource="tool" id="llm/*"/>
    </permissions>
    <limits turns="5" spend="0.50"/>
  </metadata>
  <inputs>
    <input name="topic" type="string" required="true">What to focus on</input>
    <input name="style" default="short">Tone</input>
  </inputs>
  <outputs><output name="summary"/></outputs>
</directive>
```

Read every file about ${inputs.topic} and write a summary.
"""


def test_a_directive_is_parsed_with_permissions_limits_inputs_and_process() -> None:
    item = parse_item("directive", "docs/summarise", ".md", DIRECTIVE, "t")
    assert isinstance(item, Directive)
    assert (item.name, item.version, item.category) == ("summarise", "1.2.0", "docs")
    assert item.permissions[0] == ("read", {"resource": "filesystem", "path": "docs/**"})
    assert item.limits == {"turns": "5", "spend": "0.50"}
    assert item.model == {"tier": "fast"}
    assert [(i.name, i.required, i.default) for i in item.inputs] == [
        ("topic", True, None),
        ("style", False, "short"),
    ]
    assert item.outputs == ("summary",)
    assert "${inputs.topic}" in item.process
    assert "<directive" not in item.process


def test_a_directive_name_must_match_its_file() -> None:
    with pytest.raises(ParseError) as info:
        parse_item("directive", "docs/other", ".md", DIRECTIVE, "t")
    assert "must equal the file's name 'other'" in info.value.message


def test_a_directive_without_xml_block_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_item("directive", "x", ".md", b"# just prose\n", "t")
    assert "no ```xml metadata block" in info.value.message


def test_knowledge_front_matter_and_backlinks() -> None:
    text = (
        b"---\nid: kiwi\ntitle: About Kiwi\ntags: [kernel]\ncategory: notes\n---\n"
        b"See [[chains]] and [[trust|the trust layer]].\n"
    )
    item = parse_item("knowledge", "notes/kiwi", ".md", text, "t")
    assert isinstance(item, Knowledge)
    assert item.title == "About Kiwi"
    assert item.tags == ("kernel",)
    assert item.links == ("chains", "trust")


def test_javascript_header_metadata() -> None:
    text = (
        b'// kiwi:\n// version: "1.0.0"\n// executor_id: runtimes/node\n'
        b'// description: JS\nconsole.log("{}")\n'
    )
    item = parse_item("tool", "js/t", ".js", text, "t")
    assert isinstance(item, Tool)
    assert (item.executor_id, item.description, item.source_format) == ("runtimes/node", "JS", "js")


def test_a_shell_tool_without_header_says_how_to_write_one() -> None:
    with pytest.raises(ParseError) as info:
        parse_item("tool", "s", ".sh", b"#!/bin/sh\necho hi\n", "t")
    assert "expected the metadata header '# kiwi:'" in info.value.message


def test_python_metadata_accepts_annotated_literals_and_the_docstring() -> None:
    text = (
        b'"""Adds numbers.\n\nMore."""\n__version__: str = "2.0.0"\n'
        b'__executor_id__ = "runtimes/python"\nREQUIRES = ["fs.read:**"]\n'
    )
    item = parse_item("tool", "add", ".py", text, "t")
    assert isinstance(item, Tool)
    assert (item.version, item.description, item.requires) == (
        "2.0.0",
        "Adds numbers.",
        ("fs.read:**",),
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            b'version: "1"\nexecutor_id: primitives/subprocess\n',
            "version: expected a semantic version",
        ),
        (b'version: "1.0.0"\n', "executor_id: required field is missing"),
        (
            b'version: "1.0.0"\nexecutor_id: x\nrequires: "net.http"\n',
            "requires: expected a list of strings",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\nfiles: ["../up.sh"]\n',
            "files[0]: expected a path inside",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\ntool_type: primitive\n',
            "tool_type: expected a label",
        ),
        (b"- a list\n", "must be a mapping"),
        (b"version: 1.0\nexecutor_id: x\n", "version: expected a string (quote it), got 1.0"),
        (b'version: "1.0.0"\nexecutor_id: x\ndescription: 5\n', "description: expected a string"),
        (b'version: "1.0.0"\nexecutor_id: x\ntool_type: 5\n', "tool_type: expected a string"),
        (
            b'version: "1.0.0"\nexecutor_id: x\nrequire_approval: "no"\n',
            "require_approval: expected true or false",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\nannotations: "x"\n',
            "annotations: expected a mapping",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\nannotations: [1]\n',
            "annotations: expected a mapping",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\nannotations: {read_only: "yes"}\n',
            "annotations.read_only: expected true or false",
        ),
        (
            b'version: "1.0.0"\nexecutor_id: x\nannotations: {safe: true}\n',
            "annotations.safe: expected one of read_only, idempotent",
        ),
    ],
)
def test_tool_fields_are_checked_and_named(text: bytes, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_item("tool", "t", ".yaml", text, "project:tools/t.yaml")
    assert fragment in info.value.message
    assert info.value.message.startswith("project:tools/t.yaml")


def test_a_signed_knowledge_entry_keeps_its_front_matter() -> None:
    text = (
        b"<!-- kiwi:signed:v1:2026-01-01T00:00:00Z:" + b"a" * 64 + b":sig:" + b"f" * 64 + b" -->\n"
        b"---\ntitle: Signed\n---\nBody\n"
    )
    item = parse_item("knowledge", "signed", ".md", text, "t")
    assert isinstance(item, Knowledge)
    assert item.title == "Signed"
    assert item.body == "Body\n"


def test_approval_and_annotations_are_read_from_yaml_and_python() -> None:
    yaml_tool = parse_item(
        "tool",
        "t",
        ".yaml",
        b'version: "1.0.0"\nexecutor_id: x\nrequire_approval: true\n'
        b"annotations: {read_only: true}\n",
        "project:tools/t.yaml",
    )
    py_tool = parse_item(
        "tool",
        "t",
        ".py",
        b'__version__ = "1.0.0"\n__executor_id__ = "x"\nREQUIRE_APPROVAL = True\n'
        b'ANNOTATIONS = {"idempotent": True}\n',
        "project:tools/t.py",
    )
    assert isinstance(yaml_tool, Tool) and isinstance(py_tool, Tool)
    assert yaml_tool.require_approval and yaml_tool.annotations.read_only
    assert not yaml_tool.annotations.idempotent
    assert py_tool.require_approval and py_tool.annotations.idempotent
    assert yaml_tool.to_dict()["annotations"] == {"read_only": True, "idempotent": False}
