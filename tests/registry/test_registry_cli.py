"""``kiwi registry …`` through the real CLI entry point, as an operator types it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiwi_mcp.kernel.faces.cli.main import main
from tests.registry.conftest import LiveRegistry
from tests.registry.people import GREET, Person, person


def _kiwi(
    who: Person, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("KIWI_USER_SPACE", str(who.user_space))
    monkeypatch.setenv("KIWI_AUTH_BACKEND", "file")
    capsys.readouterr()
    code = main(["--json", "--project", str(who.project), "registry", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_login_publish_search_install_through_the_cli(
    registry: LiveRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = registry.url
    alice, carol = person(tmp_path, "alice"), person(tmp_path, "carol")
    code, out = _kiwi(alice, monkeypatch, capsys, "login", url, "--name", "alice")
    assert code == 0 and out["data"]["name"] == "alice"  # type: ignore[index]
    assert "token" not in json.dumps(out)
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    code, out = _kiwi(
        alice, monkeypatch, capsys, "publish", "tool", "alice/greet", "--registry", url
    )
    assert code == 0 and out["data"]["status"] == "published"  # type: ignore[index]
    code, out = _kiwi(carol, monkeypatch, capsys, "search", "greet", "--registry", url)
    assert [r["id"] for r in out["data"]["results"]] == ["alice/greet"]  # type: ignore[index]

    code, out = _kiwi(
        carol, monkeypatch, capsys, "install", "tool", "alice/greet@1.0.0", "--registry", url
    )
    assert code == 1
    assert out["error"]["code"] == "SIGNATURE_UNTRUSTED"  # type: ignore[index]
    assert "kiwi trust add" in out["error"]["hint"]  # type: ignore[index]
    carol.trust(alice)
    code, out = _kiwi(
        carol, monkeypatch, capsys, "install", "tool", "alice/greet@1.0.0", "--registry", url
    )
    assert code == 0 and out["data"]["version"] == "1.0.0"  # type: ignore[index]
    assert (carol.project / ".ai" / "tools" / "alice" / "greet.yaml").is_file()


def test_whoami_without_a_login_names_the_login_command(
    registry: LiveRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    nobody = person(tmp_path, "nobody")
    code, out = _kiwi(nobody, monkeypatch, capsys, "whoami", "--registry", registry.url)
    assert code == 1
    assert out["error"]["code"] == "AUTH_REQUIRED"  # type: ignore[index]
    assert out["error"]["hint"] == (  # type: ignore[index]
        f"Run 'kiwi registry login {registry.url} --name <your-name>'."
    )


def test_serve_with_an_unreachable_database_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nobody = person(tmp_path, "nobody")
    code, out = _kiwi(
        nobody, monkeypatch, capsys, "serve", "--database", "postgresql://kiwi@127.0.0.1:1/x"
    )
    assert code == 1
    assert out["error"]["code"] == "NOT_AVAILABLE"  # type: ignore[index]
    assert out["error"]["message"].startswith(  # type: ignore[index]
        "the registry database cannot be used: "
    )
