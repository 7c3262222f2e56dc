"""The hostile pass's own checks, each shown failing on a planted offence (a check that
cannot fail would be a defect of the pass), and its generators shown deterministic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hostile.gen_items import cases
from tests.hostile.gen_lines import CLASSES, Line, generate, id_key
from tests.hostile.hostile_report import Report
from tests.hostile.hostile_sandbox import answer_problems
from tests.hostile.item_pass import GOOD, judge
from tests.hostile.item_shapes import ItemCase
from tests.hostile.wire_pass import verdict

SECRET = "/tmp/kiwi-hostile-abc123"


def _line(expect: Any, key: str | None = '"h1"', inner: tuple[str, ...] = ()) -> Line:
    return Line("test", b"{}", expect, key, inner)


@pytest.mark.parametrize(
    ("expect", "keyed", "nulls", "inner", "wanted"),
    [
        ("id", 1, 0, [], None),
        ("id", 0, 1, [], "id-unanswered"),
        ("id", 0, 0, [], "id-unanswered"),
        ("id", 1, 1, [], "answered-more-than-once"),
        ("id", 2, 0, [], "answered-more-than-once"),
        ("null", 0, 1, [], None),
        ("null", 1, 0, [], None),
        ("null", 0, 0, [], "unanswered"),
        ("null", 0, 2, [], "answered-more-than-once"),
        ("none", 0, 0, [], None),
        ("none", 0, 1, [], "notification-or-response-answered"),
        ("optional", 0, 1, [], None),
        ("optional", 0, 2, [], "answered-more-than-once"),
        ("batch", 0, 0, [1, 0], None),
        ("batch", 0, 0, [0, 0], "batch-unanswered"),
        ("batch", 0, 1, [2], "answered-more-than-once"),
    ],
)
def test_each_line_kind_is_judged_by_its_answers(
    expect: str, keyed: int, nulls: int, inner: list[int], wanted: str | None
) -> None:
    assert verdict(_line(expect), keyed, nulls, inner) == wanted


def _tool_answer(envelope: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": envelope}}


def test_an_answer_leaking_a_traceback_or_the_sandbox_path_is_caught() -> None:
    leaky = _tool_answer(
        {
            "ok": False,
            "data": {"path": f"{SECRET}/x"},  # data may name files: not a leak
            "error": {"code": "X", "message": f"bad {SECRET}/project", "hint": "h"},
            "meta": {"project": f"{SECRET}/project"},
        }
    )
    raw = json.dumps(leaky) + ' Traceback (most recent call last): File "x.py"'
    assert sorted(answer_problems(raw, leaky, [SECRET])) == [
        ("path-in-error", "structuredContent.error.message"),
        ("path-in-meta", "structuredContent.meta.project"),
        ("traceback", 'File "'),
        ("traceback", "Traceback (most recent call last)"),
    ]
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": f"at {SECRET}"}}
    assert answer_problems(json.dumps(error), error, [SECRET]) == [
        ("path-in-error", "error.message")
    ]
    clean = _tool_answer({"ok": True, "data": {"path": SECRET}, "error": None, "meta": {}})
    assert answer_problems(json.dumps(clean), clean, [SECRET]) == []


BAD = ItemCase(
    "wrong-type",
    "wrong_version_0",
    "bad/wrong_version_0",
    ("wrong_version_0.yaml",),
    files={"project:bad/wrong_version_0.yaml": b"version: 5\n"},
)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "data": None, "error": {"code": code, "message": message, "hint": ""}}


@pytest.mark.parametrize(
    ("envelope", "problems"),
    [
        (_error("PARSE_ERROR", "project:tools/bad/wrong_version_0.yaml: version: expected"), []),
        ({"ok": True, "data": {"ran": True}, "error": None, "meta": {}}, ["bad-item-ran"]),
        (_error("INTERNAL_ERROR", "internal error in 'execute' (OSError)"), ["internal-error"]),
        (_error("ITEM_NOT_FOUND", "no tool 'bad/wrong_version_0'"), ["file-not-seen"]),
        (
            _error("PARSE_ERROR", "something is wrong somewhere"),
            ["error-names-neither-file-nor-field"],
        ),
        (
            _error("PARSE_ERROR", "wrong_version_0.yaml: " + "x" * 20_000),
            ["error-message-unbounded"],
        ),
        ("not an envelope", ["no-envelope"]),
    ],
)
def test_a_bad_item_run_must_fail_clearly(envelope: Any, problems: list[str]) -> None:
    _, _, found = judge(BAD, "cli", envelope, "off")
    assert [invariant for invariant, _ in found] == problems


def test_a_strict_only_case_may_run_unchecked_but_not_signed() -> None:
    sig = ItemCase("signature-garbage", "sig_0", "bad/sig_0", ("sig",), strict_only=True)
    ran = {"ok": True, "data": {"ran": True}, "error": None, "meta": {}}
    assert judge(sig, "cli", ran, "off")[2] == []
    assert [p for p, _ in judge(sig, "cli", ran, "signed")[2]] == ["bad-item-ran"]
    shadow = ItemCase("temp-names", "shadow_good", GOOD, (), must_fail=False)
    assert [p for p, _ in judge(shadow, "mcp", _error("PARSE_ERROR", "x"), "off")[2]] == [
        "good-tool-broken"
    ]


def test_the_lines_are_the_same_for_a_seed_and_cover_every_class() -> None:
    first, again = generate(7, 300), generate(7, 300)
    assert first == again
    assert first != generate(8, 300)
    assert {line.cls for line in first} == set(CLASSES)
    keys = [key for line in first for key in (line.key, *line.inner) if key is not None]
    assert len(keys) == len(set(keys))
    assert id_key("h1") == '"h1"' and id_key(None) is None and id_key(1.5) == "1.5"


def test_the_item_catalogue_holds_at_least_100_files_and_a_small_run_meets_every_class() -> None:
    catalogue = cases(12)
    assert sum(case.count for case in catalogue) >= 100
    assert [case.name for case in catalogue] == [case.name for case in cases(12)]
    small = {case.cls for case in cases(12, 12)}
    assert small == {case.cls for case in catalogue}
    assert len({case.name for case in catalogue}) == len(catalogue)


def test_the_report_counts_and_keeps_the_first_examples() -> None:
    report = Report(seed=1)
    report.sent("stdio", "x", 3)
    for n in range(7):
        report.violation("stdio", "x", "hang", f"example {n}")
    assert not report.ok and report.total_violations == 7
    assert len(report.examples[("stdio", "hang")]) == 5
    assert "stdio / x" in report.render()
    assert json.loads(json.dumps(report.to_dict()))["violations"][0]["count"] == 7
