"""``kiwi index status|refresh|rebuild`` and ``kiwi search --mode`` end to end (SPEC §15)."""

from __future__ import annotations

import json

from tests.support.project import Project

WEATHER = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: Tell the weather forecast for a city
config: {command: echo, args: [sunny]}
"""

BROKEN = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\ndescription: [unclosed\n'


def test_status_lists_what_was_left_out_and_why_and_search_modes_answer(
    project: Project,
) -> None:
    project.write_tool("weather.yaml", WEATHER)
    project.sign("weather")
    project.write_tool("unsigned.yaml", WEATHER.replace("weather", "climate"))
    project.write_tool("broken.yaml", BROKEN)
    for mode in ("hybrid", "keyword", "semantic"):
        done = project.kiwi("--json", "search", "--mode", mode, "weather", "forecast")
        assert done.returncode == 0, done.stderr
        hits = json.loads(done.stdout)
        assert hits[0]["id"] == "weather", mode
        assert hits[0]["signed"] is True
        assert not {"unsigned", "broken"} & {h["id"] for h in hits}
        assert "2 items are left out of the results" in done.stderr  # said, not silent
        assert "KIWI_VERIFY=signed ('kiwi index status' says which and why)" in done.stderr
    status = json.loads(project.kiwi("--json", "index", "status").stdout)
    assert status["verify"] == "signed"
    spaces = {s["space"]: s for s in status["spaces"]}
    assert spaces["project"]["searchable"]["tool"] == 1
    left = {e["id"]: e for e in spaces["project"]["left_out"]}
    assert left["unsigned"]["code"] == "SIGNATURE_MISSING"
    assert left["broken"]["code"] == "PARSE_ERROR"
    assert left["broken"]["path"] == "tools/broken.yaml"
    assert spaces["project"]["folder"] == str(project.root / ".ai" / "index")
    shown = project.kiwi("index", "status").stdout
    assert "left out tools/unsigned.yaml: SIGNATURE_MISSING" in shown
    project.sign("unsigned")
    done = project.kiwi("search", "climate")
    assert "1 item is left out" in done.stderr  # only the broken one now


def test_refresh_and_rebuild_report_what_they_did(project: Project) -> None:
    project.write_tool("weather.yaml", WEATHER)
    project.sign("weather")
    rebuilt = json.loads(project.kiwi("--json", "index", "rebuild", "--space", "project").stdout)
    assert rebuilt == {"project": {"added": 1, "removed": 0, "recovered": 0}}
    (project.tools / "weather.yaml").unlink()
    refreshed = json.loads(project.kiwi("--json", "index", "refresh").stdout)
    assert refreshed["project"]["removed"] == 1
    bad = project.kiwi("search", "--mode", "fuzzy", "x")
    assert bad.returncode == 2 and "invalid choice: 'fuzzy'" in bad.stderr
