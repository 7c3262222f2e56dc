"""A tool's extra files (``files:``) travel through the registry: published with the tool,
covered by its signature, checked at install and written next to it (issue 20)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kiwi_mcp.kernel.errors import IntegrityFailed, PermissionDenied, UsageError
from kiwi_mcp.kernel.ops.registry import login, publish, write
from kiwi_mcp.kernel.ops.registry_install import install
from kiwi_mcp.kernel.ops.sign import sign_items
from kiwi_mcp.kernel.trust.signing import sign_item
from kiwi_mcp.registry.items import check_item
from tests.registry.conftest import LiveRegistry
from tests.registry.people import Person

CALC = '''"""Count words with a helper module and a word list shipped beside the tool."""

__version__ = "{version}"
__tool_type__ = "python"
__executor_id__ = "runtimes/python"
FILES = ["helper.py", "data/words.txt"]
PARAMETERS = {{"type": "object", "properties": {{"text": {{"type": "string"}}}}}}


def execute(params, context):
    import helper

    return {{"known": helper.known(params["text"]), "mark": helper.MARK}}
'''

HELPER = """import os

MARK = "{mark}"


def known(text):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "data", "words.txt"), encoding="utf-8") as handle:
        words = set(handle.read().split())
    return [word for word in text.split() if word in words]
"""

WORDS = "kiwi fern tūī\n"


def _folder(who: Person) -> Path:
    return who.project / ".ai" / "tools" / "alice"


def _write_calc(
    who: Person, *, version: str = "1.0.0", mark: str = "one", words: str = WORDS
) -> None:
    """The tool, its helper and its word list in the project, signed with ``kiwi sign``."""
    folder = _folder(who)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "calc.py").write_text(CALC.format(version=version))
    (folder / "helper.py").write_text(HELPER.format(mark=mark))
    (folder / "data" / "words.txt").write_text(words, encoding="utf-8")
    _sign(who)


def _sign(who: Person) -> None:
    kernel = who.kernel()
    sign_items(kernel.store, who.user_space, "tool", "alice/calc", caps=None)


def _publish_calc(who: Person, url: str) -> dict[str, Any]:
    result: dict[str, Any] = who.run(lambda k: publish(k, url, "tool", "alice/calc"))
    return result


def _calc_published(who: Person, url: str, *, trusted_by: Person | None = None) -> None:
    """``who`` logs in, writes and publishes ``alice/calc``; ``trusted_by`` trusts them."""
    who.run(lambda k: login(k, url, "alice"))
    _write_calc(who)
    _publish_calc(who, url)
    if trusted_by is not None:
        trusted_by.trust(who)


def _sent_as_is(who: Person, url: str, files: dict[str, str] | None) -> Any:
    """Publish ``alice/calc`` through the registry tool with exactly ``files`` (None: the
    parameter left out, as an agent calling the tool may)."""
    content = (_folder(who) / "calc.py").read_text()
    params: dict[str, Any] = {"kind": "tool", "id": "alice/calc", "ext": ".py", "content": content}
    if files is not None:
        params["files"] = files
    return who.run(lambda k: write(k, url, "publish", params))


def test_a_tool_with_files_is_published_installed_and_run_by_someone_who_trusts_its_publisher(
    registry: LiveRegistry, alice: Person, carol: Person
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    _write_calc(alice)
    done = _publish_calc(alice, url)
    assert done["status"] == "published"
    with psycopg.connect(registry.database) as conn:
        row = conn.execute("SELECT files FROM versions WHERE id = 'alice/calc'").fetchone()
    assert row is not None and row[0] == {
        "helper.py": HELPER.format(mark="one"),
        "data/words.txt": WORDS,
    }

    carol.trust(alice)
    installed = carol.run(lambda k: install(k, url, "tool", "alice/calc@1.0.0"))
    folder = _folder(carol)
    assert installed.path == folder / "calc.py"
    assert installed.content_hash == done["content_hash"]
    assert installed.files == ("helper.py", "data/words.txt")
    assert (folder / "helper.py").read_text() == HELPER.format(mark="one")
    assert (folder / "data" / "words.txt").read_text(encoding="utf-8") == WORDS
    envelope = carol.run(lambda k: k.execute("alice/calc", {"text": "a kiwi and a tūī"}))
    assert envelope["ok"], envelope
    assert envelope["data"] == {"known": ["kiwi", "tūī"], "mark": "one"}


def test_a_new_version_replaces_the_files_of_the_one_installed(
    registry: LiveRegistry, alice: Person, carol: Person
) -> None:
    url = registry.url
    _calc_published(alice, url, trusted_by=carol)
    carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    _write_calc(alice, version="1.1.0", mark="two", words="moa\n")
    _publish_calc(alice, url)
    carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    envelope = carol.run(lambda k: k.execute("alice/calc", {"text": "kiwi moa"}))
    assert envelope["data"] == {"known": ["moa"], "mark": "two"}, envelope


TAMPERINGS = {
    "changed": (
        "UPDATE versions SET files = jsonb_set(files, '{helper.py}', to_jsonb("
        "replace(files->>'helper.py', 'MARK = \"one\"', 'MARK = \"evil\"')))",
        "changed after it was signed",
    ),
    "added": (
        """UPDATE versions SET files = files || '{"extra.py": "import os"}'""",
        "the registry sends file 'extra.py', which the item does not list",
    ),
    "removed": (
        "UPDATE versions SET files = files - 'data/words.txt'",
        "lists extra file 'data/words.txt', which the registry does not send",
    ),
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_a_file_changed_on_the_server_is_caught_at_install_and_nothing_is_written(
    registry: LiveRegistry, alice: Person, carol: Person, how: str
) -> None:
    url = registry.url
    _calc_published(alice, url, trusted_by=carol)
    sql, message = TAMPERINGS[how]
    with psycopg.connect(registry.database, autocommit=True) as conn:
        assert conn.execute(sql.encode()).rowcount == 1
    with pytest.raises(IntegrityFailed) as caught:
        carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    assert message in caught.value.message
    assert not _folder(carol).exists()


def test_a_missing_or_unlisted_file_is_refused_at_publish(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    _write_calc(alice)
    helper = HELPER.format(mark="one")

    with pytest.raises(UsageError) as none_sent:
        _sent_as_is(alice, url, None)
    assert none_sent.value.details["file"] == "helper.py"

    with pytest.raises(UsageError) as missing:
        _sent_as_is(alice, url, {"helper.py": helper})
    assert missing.value.message == (
        "tool 'alice/calc' lists extra file 'data/words.txt', which was not sent"
    )
    assert missing.value.details["file"] == "data/words.txt"

    with pytest.raises(UsageError) as unlisted:
        _sent_as_is(alice, url, {"helper.py": helper, "data/words.txt": WORDS, "notes.txt": "hi"})
    assert unlisted.value.message == (
        "files: 'notes.txt' was sent, but tool 'alice/calc' does not list it"
    )

    (_folder(alice) / "data" / "words.txt").unlink()
    with pytest.raises(IntegrityFailed) as local:
        _publish_calc(alice, url)
    assert "extra file 'data/words.txt' is missing" in local.value.message
    with psycopg.connect(registry.database) as conn:
        assert conn.execute("SELECT count(*) FROM versions").fetchone() == (0,)


def test_a_binary_extra_file_is_refused_before_anything_is_sent(alice: Person) -> None:
    _write_calc(alice)
    (_folder(alice) / "data" / "words.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    _sign(alice)
    with pytest.raises(UsageError) as caught:
        _publish_calc(alice, "http://127.0.0.1:9")
    assert "extra file 'data/words.txt' is not UTF-8 text" in caught.value.message
    assert caught.value.details["file"] == "data/words.txt"


def test_republishing_a_version_with_a_changed_helper_file_is_refused(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    _calc_published(alice, url)
    assert _publish_calc(alice, url)["status"] == "unchanged"
    _write_calc(alice, mark="changed")  # the same version, re-signed over the new helper
    with pytest.raises(PermissionDenied) as caught:
        _publish_calc(alice, url)
    assert caught.value.details["reason"] == "version_immutable"
    assert "of its extra files" in caught.value.message


def test_install_never_writes_outside_the_folder_or_over_a_file_not_its_own(
    registry: LiveRegistry, alice: Person, carol: Person, tmp_path: Path
) -> None:
    url = registry.url
    _calc_published(alice, url, trusted_by=carol)
    folder = _folder(carol)
    folder.mkdir(parents=True)

    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "data").symlink_to(outside)
    with pytest.raises(IntegrityFailed) as escaped:
        carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    assert "would be written outside the item's folder" in escaped.value.message
    assert list(outside.iterdir()) == []
    assert not (folder / "helper.py").exists()
    (folder / "data").unlink()

    (folder / "helper.py").write_text("MINE = True\n")
    with pytest.raises(UsageError) as clobber:
        carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    assert clobber.value.details["file"] == "helper.py"
    assert (folder / "helper.py").read_text() == "MINE = True\n"
    assert not (folder / "calc.py").exists()

    (folder / "helper.py").unlink()
    carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    (folder / "helper.py").write_text("edited locally\n")  # the installed item's own file
    carol.run(lambda k: install(k, url, "tool", "alice/calc"))
    assert (folder / "helper.py").read_text() == HELPER.format(mark="one")
    pins = json.loads((carol.project / ".ai" / "registry" / "pins.json").read_text())
    assert pins["tool:alice/calc"]["version"] == "1.0.0"


def test_a_draft_carries_its_files_and_publishing_it_keeps_them(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    _write_calc(alice)
    uploaded = alice.run(lambda k: publish(k, url, "tool", "alice/calc", draft=True))
    assert uploaded["state"] == "draft"
    published = _publish_calc(alice, url)
    assert published["content_hash"] == uploaded["content_hash"]
    with psycopg.connect(registry.database) as conn:
        row = conn.execute("SELECT state, files FROM versions WHERE id = 'alice/calc'").fetchone()
    assert row is not None and row[0] == "published"
    assert sorted(row[1]) == ["data/words.txt", "helper.py"]


def _check_signed(who: Person, files: dict[str, bytes]) -> str:
    """``check_item`` of ``alice/calc`` listing and signed over ``files``; its hash."""
    listing = json.dumps(sorted(files))
    text = CALC.format(version="1.0.0").replace('["helper.py", "data/words.txt"]', listing)
    content = sign_item(
        text.encode(),
        ext=".py",
        kind="tool",
        item_id="alice/calc",
        extra_files=sorted(files.items()),
        key=who.keys.private_key(),
        now=datetime.now(UTC),
    )
    return check_item(
        "tool",
        "alice/calc",
        ".py",
        content,
        fingerprint=who.keys.fingerprint(),
        public_key=who.keys.public_pem().decode(),
        files=files,
    ).content_hash


def test_the_item_with_its_files_is_bounded(alice: Person) -> None:
    """64 files, or 1 MiB with the item, pass; one more file or byte is refused."""
    assert _check_signed(alice, {f"f{n}.txt": b"x" for n in range(64)})
    assert _check_signed(alice, {"big.txt": b"x" * (1024 * 1024 - 4096)})  # the item < 4 KiB
    with pytest.raises(UsageError) as many:
        _check_signed(alice, {f"f{n}.txt": b"x" for n in range(65)})
    with pytest.raises(UsageError) as big:
        _check_signed(alice, {"big.txt": b"x" * (1024 * 1024)})
    for caught in (many, big):
        assert "over the limit (1 MiB with the extra files, at most 64 of them)" in (
            caught.value.message
        )


SHADOW = """version: "1.0.0"
executor_id: primitives/subprocess
description: Not alice/calc's helper but a tool of its own
config: {command: echo, args: [owned]}
"""


def test_an_extra_file_that_is_itself_a_tool_is_refused(alice: Person) -> None:
    """A helper file may not bring in another item: ``alice/fetch`` was never published."""
    assert _check_signed(alice, {"helper.yaml": b"just: data\n"})  # not a tool: a helper
    with pytest.raises(UsageError) as caught:
        _check_signed(alice, {"fetch.yaml": SHADOW.encode()})
    assert "'fetch.yaml' of tool 'alice/calc' is itself a tool ('alice/fetch')" in (
        caught.value.message
    )
    assert caught.value.details["file"] == "fetch.yaml"


def test_which_extra_files_the_store_would_read_as_tools() -> None:
    from kiwi_mcp.kernel.core.parse import item_among_files

    shadow = SHADOW.encode()
    assert item_among_files("alice/calc", "fetch.yaml", shadow) == "alice/fetch"
    assert item_among_files("calc", "web/fetch.yaml", shadow) == "web/fetch"
    assert item_among_files("alice/calc", "fetch.txt", shadow) is None  # not a tool's ext
    assert item_among_files("alice/calc", "Fetch.yaml", shadow) is None  # not an id
    assert item_among_files("alice/calc", "helper.py", HELPER.encode()) is None  # a module
    assert item_among_files("alice/calc", "data/words.txt", WORDS.encode()) is None


def test_the_cli_install_names_the_files_it_wrote(
    registry: LiveRegistry,
    alice: Person,
    carol: Person,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kiwi_mcp.kernel.faces.cli.main import main

    url = registry.url
    _calc_published(alice, url, trusted_by=carol)
    monkeypatch.setenv("KIWI_USER_SPACE", str(carol.user_space))
    monkeypatch.setenv("KIWI_AUTH_BACKEND", "file")
    capsys.readouterr()
    argv = ["install", "tool", "alice/calc", "--registry", url]
    assert main(["--project", str(carol.project), "registry", *argv]) == 0
    out = capsys.readouterr().out
    folder = _folder(carol)
    assert f"  + {folder / 'helper.py'}" in out
    assert f"  + {folder / 'data' / 'words.txt'}" in out
