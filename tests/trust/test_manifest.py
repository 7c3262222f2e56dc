"""The system space manifest: deterministic bytes, per-file checks, and the --check script."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import IntegrityFailed, ParseError
from kiwi_mcp.kernel.trust.manifest import (
    build_manifest,
    check_file,
    check_tree,
    load_manifest,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> Path:
    (root / "tools" / "runtimes").mkdir(parents=True)
    (root / "tools" / "runtimes" / "python.yaml").write_bytes(b"version: '1.0.0'\n")
    (root / "tools" / "__pycache__").mkdir()
    (root / "tools" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "directives").mkdir()
    (root / "directives" / "a.md").write_bytes(b"# A\n")
    return root


def test_the_manifest_lists_every_file_but_itself_and_pycache(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    write_manifest(root)
    manifest = build_manifest(root)
    assert manifest == {
        "manifest_version": 1,
        "files": {
            "directives/a.md": hashlib.sha256(b"# A\n").hexdigest(),
            "tools/runtimes/python.yaml": hashlib.sha256(b"version: '1.0.0'\n").hexdigest(),
        },
    }


def test_state_written_at_the_top_of_the_space_is_not_shipped(tmp_path: Path) -> None:
    """Runs inside the repository write logs, lockfiles, indexes and threads into its .ai;
    only at the top are those names state: a tool folder may be called ``index``."""
    root = _tree(tmp_path)
    for state in ("logs", "lockfiles", "index", "threads"):
        (root / state).mkdir()
        (root / state / "x").write_bytes(b"state")
    (root / "tools" / "index").mkdir()
    (root / "tools" / "index" / "refresh.yaml").write_bytes(b"version: '1.0.0'\n")
    assert sorted(build_manifest(root)["files"]) == [
        "directives/a.md",
        "tools/index/refresh.yaml",
        "tools/runtimes/python.yaml",
    ]


def test_writing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = write_manifest(root).read_bytes()
    assert write_manifest(root).read_bytes() == first
    assert first.endswith(b"}\n") and first.startswith(b'{\n  "files": {\n')
    assert load_manifest(root) == json.loads(first)


def test_check_file_names_a_modified_or_unknown_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    write_manifest(root)
    manifest = load_manifest(root)
    check_file(manifest, "directives/a.md", b"# A\n")
    with pytest.raises(IntegrityFailed) as info:
        check_file(manifest, "directives/a.md", b"# B\n")
    assert info.value.message.startswith(
        "system file 'directives/a.md' does not match the manifest"
    )
    assert info.value.hint.startswith("The installed package was modified; reinstall")
    with pytest.raises(IntegrityFailed) as unknown:
        check_file(manifest, "directives/new.md", b"")
    assert unknown.value.message == "system file 'directives/new.md' is not in the manifest"


def test_a_missing_or_damaged_manifest_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IntegrityFailed) as info:
        load_manifest(tmp_path)
    assert info.value.message == f"system space manifest {tmp_path / 'manifest.json'} is missing"
    (tmp_path / "manifest.json").write_text('{"manifest_version": 2, "files": {}}')
    with pytest.raises(ParseError) as bad:
        load_manifest(tmp_path)
    assert bad.value.message.endswith("manifest_version: expected 1, got 2")


def test_check_tree_names_stale_missing_and_extra_files(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    write_manifest(root)
    assert check_tree(root) == []
    (root / "directives" / "a.md").write_bytes(b"changed\n")
    (root / "tools" / "runtimes" / "python.yaml").unlink()
    (root / "directives" / "b.md").write_bytes(b"new\n")
    new = hashlib.sha256(b"changed\n").hexdigest()
    old = hashlib.sha256(b"# A\n").hexdigest()
    assert check_tree(root) == [
        f"stale: directives/a.md (manifest {old}, file {new})",
        "extra: directives/b.md (on disk, not in the manifest)",
        "missing: tools/runtimes/python.yaml (in the manifest, not on disk)",
    ]


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiwi_mcp.kernel.trust.manifest", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_script_writes_then_checks_and_fails_when_out_of_date(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    wrote = _script(str(root))
    assert wrote.returncode == 0 and (root / "manifest.json").is_file()
    ok = _script("--check", str(root))
    assert ok.returncode == 0, ok.stderr
    (root / "directives" / "a.md").write_bytes(b"changed\n")
    stale = _script("--check", str(root))
    assert stale.returncode == 1
    assert "stale: directives/a.md" in stale.stderr
    assert "is out of date; run 'python -m kiwi_mcp.kernel.trust.manifest" in stale.stderr
