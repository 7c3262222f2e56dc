"""Hostile item files end to end through ``kiwi`` (issue #12): each fails only itself, with
a code and a hint, and never hangs, fetches or crashes the other commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.http_server import LoopbackServer, Response
from tests.support.project import KIWI, Project

OK = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: A fine tool
config: {command: echo, args: [fine]}
"""

BOMB = (
    'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "description: *i\nconfig: {command: echo, args: *i}\n"
)

#: A hang guard, far above what any of these commands takes.
TIMEOUT_S = 30


def kiwi(project: Project, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KIWI, *args],
        cwd=project.root,
        env={**project.env, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def search(project: Project, *words: str) -> dict[str, dict[str, object]]:
    """The project's items that match any of ``words``."""
    done = kiwi(project, "--json", "search", "--limit", "100", *words)
    assert done.returncode == 0, done.stderr
    return {hit["id"]: hit for hit in json.loads(done.stdout) if hit["space"] == "project"}


def left_out(project: Project) -> dict[str, tuple[str, str]]:
    """What the project's index left out (``kiwi index status``): id → (code, reason)."""
    done = kiwi(project, "--json", "index", "status")
    assert done.returncode == 0, done.stderr
    spaces = {s["space"]: s for s in json.loads(done.stdout)["spaces"]}
    return {e["id"]: (e["code"], e["reason"]) for e in spaces["project"]["left_out"]}


def assert_ok_still_runs(project: Project) -> None:
    done = kiwi(project, "run", "ok")
    assert (done.returncode, done.stdout.strip()) == (0, "fine"), done.stderr


@pytest.fixture
def signed_ok(project: Project) -> Project:
    project.write_tool("ok.yaml", OK)
    project.sign("ok")
    return project


def test_an_alias_bomb_fails_only_itself_and_search_and_run_keep_working(
    signed_ok: Project,
) -> None:
    project = signed_ok
    project.write_tool("bomb.yaml", BOMB)
    hits = search(project, "bomb", "ok")
    assert hits["ok"]["error"] is None
    assert "bomb" not in hits  # an unparsable item is never a result (SPEC §15)
    assert left_out(project)["bomb"] == (
        "PARSE_ERROR",
        "project:tools/bomb.yaml: line 3: YAML anchors and aliases are not allowed in item files",
    )
    assert_ok_still_runs(project)
    shown = kiwi(project, "show", "tool", "bomb")
    assert shown.returncode == 1
    assert "[PARSE_ERROR]" in shown.stderr and "line 3" in shown.stderr


def test_an_item_file_over_one_mebibyte_fails_only_itself(signed_ok: Project) -> None:
    project = signed_ok
    big = project.write_tool("big.yaml", OK)
    with big.open("ab") as handle:
        handle.truncate(2 * 1024 * 1024)
    hits = search(project, "big", "ok")
    assert "big" not in hits and "ok" in hits
    assert left_out(project)["big"] == (
        "PARSE_ERROR",
        "project:tools/big.yaml: item file is 2097152 bytes; the limit is 1048576 bytes (1 MiB)",
    )
    assert_ok_still_runs(project)


def test_a_remote_ref_in_parameters_is_a_parse_error_and_is_never_fetched(
    project: Project,
) -> None:
    with LoopbackServer() as server:
        server.route("GET", "/schema.json", Response.json({"type": "string"}))
        url = f"{server.url}/schema.json"
        project.write_tool(
            "fetchy.yaml",
            'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
            f"parameters:\n  type: object\n  properties:\n    x: {{$ref: '{url}'}}\n"
            "config: {command: echo}\n",
        )
        done = kiwi(project, "--json", "run", "fetchy", "-p", "x=1", KIWI_VERIFY="hash")
        resolved = kiwi(project, "--json", "resolve", "fetchy", "-p", "x=1", KIWI_VERIFY="hash")
        assert server.requests == []
    envelope = json.loads(done.stdout)
    assert envelope["error"]["code"] == "PARSE_ERROR"
    assert "parameters.properties.x.$ref: only local references" in envelope["error"]["message"]
    assert url not in json.dumps(envelope["data"])
    assert json.loads(resolved.stdout)["ok"] is False


def test_an_unreachable_local_ref_is_a_parse_error_not_an_internal_error(
    project: Project,
) -> None:
    project.write_tool(
        "missing_ref.yaml",
        'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
        "parameters:\n  type: object\n  properties:\n    x: {$ref: '#/$defs/missing'}\n"
        "config: {command: echo}\n",
    )
    done = kiwi(project, "--json", "run", "missing_ref", "-p", "x=1", KIWI_VERIFY="hash")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PARSE_ERROR"
    assert "parameters.properties.x.$ref: '#/$defs/missing' points at nothing" in error["message"]


def test_a_version_of_100k_characters_is_a_parse_error_naming_the_field(
    project: Project,
) -> None:
    project.write_tool(
        "longver.yaml",
        f'version: "1.0.0-{"a" * 100_000}"\nexecutor_id: primitives/subprocess\n'
        "config: {command: echo}\n",
    )
    for args in (["run", "longver"], ["lockfile", "freeze", "longver"], ["sign", "tool", "*"]):
        done = kiwi(project, *args)
        assert done.returncode == 1, args
        assert "[PARSE_ERROR] project:tools/longver.yaml: version: expected a semantic " in (
            done.stderr
        ), args
        assert "internal error" not in done.stderr
        assert len(done.stderr) < 1000


def test_symlink_loops_and_dangling_links_break_no_command(signed_ok: Project) -> None:
    project = signed_ok
    tools = project.tools
    (tools / "loop").symlink_to("loop")
    (tools / "a.yaml").symlink_to("b.yaml")
    (tools / "b.yaml").symlink_to("a.yaml")
    (tools / "up").symlink_to("..")
    (tools / "sub").mkdir()
    (tools / "sub" / "again").symlink_to("..")
    (tools / "dang.yaml").symlink_to("nowhere.yaml")
    (tools / "etc").symlink_to("/etc")
    hits = search(project, "ok", "loop", "dang", "up", "etc", "again", "passwd")
    assert "ok" in hits
    assert not {"a", "b", "dang", "loop"} & set(hits)
    assert not [hit for hit in hits if hit.startswith(("up/", "etc/", "sub/"))]
    # and each one left out is reported, relative to its space, with the reason
    shown = kiwi(project, "search", "ok").stderr
    for name in ("loop", "a.yaml", "dang.yaml"):
        assert f"kiwi: skipped project:tools/{name}: " in shown, name
    assert str(project.root) not in shown
    assert_ok_still_runs(project)
    signed = kiwi(project, "--json", "sign", "tool", "**")
    assert signed.returncode == 0, signed.stderr
    assert [entry["id"] for entry in json.loads(signed.stdout)] == ["ok"]


BAD_IDS = ["../x", "a/./b", "/abs", "a//b", "a/../b", "", "a\\b", "a" * 5000, "A"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda s: repr(s[:12]))
def test_sign_of_a_malformed_id_is_invalid_id_with_a_hint(signed_ok: Project, bad: str) -> None:
    done = kiwi(signed_ok, "sign", "tool", bad)
    assert done.returncode == 1
    assert done.stderr.startswith("kiwi: [INVALID_ID] ")
    assert "hint: " in done.stderr and "runtimes/python" in done.stderr
    assert "internal error" not in done.stderr
    assert len(done.stderr) < 1000


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda s: repr(s[:12]))
def test_run_resolve_and_show_of_a_malformed_id_are_invalid_id(
    signed_ok: Project, bad: str
) -> None:
    for args in (["run", bad], ["resolve", bad], ["show", "tool", bad]):
        done = kiwi(signed_ok, *args)
        assert done.returncode == 1, args
        assert "[INVALID_ID] " in done.stdout + done.stderr, args
        assert len(done.stdout + done.stderr) < 1000, args


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_a_killed_signers_temp_file_is_never_an_item_and_is_removed_by_the_next_sign(
    signed_ok: Project,
) -> None:
    project = signed_ok
    (project.tools / "sub").mkdir()
    planted = [
        project.tools / f".ok.yaml.{_dead_pid()}.0123456789ab.tmp",
        project.tools / "sub" / f".x.yaml.{os.getpid()}.0123456789ab.tmp",
    ]
    for path in planted:
        path.write_text(OK)
    old = planted[1].stat().st_mtime - 3600
    os.utime(planted[1], (old, old))
    hits = search(project, "ok", "x", "tmp", "yaml")
    assert list(hits) == ["ok"]
    done = kiwi(project, "--json", "sign", "tool", "**")
    assert done.returncode == 0, done.stderr
    assert [path.exists() for path in planted] == [False, False]
    assert [entry["id"] for entry in json.loads(done.stdout)] == ["ok"]
