"""Two publishers and a consumer, each with their own user space and key (issue 20)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kiwi_mcp.kernel.errors import (
    AuthRequired,
    IntegrityFailed,
    PermissionDenied,
    SignatureMissing,
    SignatureUntrusted,
)
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.ops.lockfiles import freeze, validate
from kiwi_mcp.kernel.ops.registry import call, login, publish, service_for, whoami, write
from kiwi_mcp.kernel.ops.registry_install import install
from kiwi_mcp.kernel.services.lockfiles.registry_pins import pins_path, read_pins
from tests.registry.conftest import LiveRegistry
from tests.registry.people import GREET, Person, person


def _login(who: Person, url: str, name: str | None = None) -> dict[str, object]:
    result: dict[str, object] = who.run(lambda k: login(k, url, name or who.name))
    return result


def _greet_published(who: Person, url: str) -> None:
    _login(who, url)
    who.write_tool("alice/greet", GREET.format(word="hello"))
    who.run(lambda k: publish(k, url, "tool", "alice/greet"))


def test_publish_search_install_and_run_across_three_people(
    registry: LiveRegistry, alice: Person, bob: Person, carol: Person
) -> None:
    url = registry.url
    assert _login(alice, url)["fingerprint"] == alice.keys.fingerprint()
    _login(bob, url)
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    bob.write_tool(
        "bob/weather",
        GREET.format(word="forecast for").replace(
            "Greet someone by name with a friendly hello", "Weather forecast for a city"
        ),
    )
    done = alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert done["status"] == "published" and done["version"] == "1.0.0"
    bob.run(lambda k: publish(k, url, "tool", "bob/weather"))

    found = carol.run(lambda k: call(k, "search", {"registry": url, "q": "friendly hello"}))
    assert [r["id"] for r in found["results"]][:1] == ["alice/greet"]
    assert found["results"][0]["source"] == "registry"
    weather = carol.run(lambda k: call(k, "search", {"registry": url, "q": "forecast"}))
    assert [r["id"] for r in weather["results"]] == ["bob/weather"]

    carol.trust(alice)
    installed = carol.run(lambda k: install(k, url, "tool", "alice/greet"))
    assert installed.path == carol.project / ".ai" / "tools" / "alice" / "greet.yaml"
    assert installed.fingerprint == alice.keys.fingerprint()
    envelope = carol.run(lambda k: k.execute("alice/greet", {"name": "Carol"}))
    assert envelope["ok"], envelope
    assert "hello Carol" in json.dumps(envelope["data"])

    pins = read_pins(carol.project / ".ai")
    assert pins["tool:alice/greet"]["content_hash"] == installed.content_hash
    assert pins["tool:alice/greet"]["registry"] == url
    stats = carol.run(
        lambda k: call(k, "stats", {"registry": url, "kind": "tool", "id": "alice/greet"})
    )
    assert stats["downloads"] == 1


async def _freeze(kernel: Kernel, tool_id: str) -> dict[str, str]:
    frozen = freeze(kernel, tool_id)
    return dict(json.loads(frozen.path.read_bytes())["pins"])


async def _drifts(kernel: Kernel, tool_id: str) -> list[str]:
    return [f"{d.link_id}:{d.field}" for d in validate(kernel, tool_id).drifts]


async def _status(kernel: Kernel, tool_id: str) -> str:
    return validate(kernel, tool_id).status


def test_the_lockfile_locks_where_an_installed_item_came_from(
    registry: LiveRegistry, alice: Person, carol: Person
) -> None:
    url = registry.url
    _greet_published(alice, url)
    carol.trust(alice)
    carol.run(lambda k: install(k, url, "tool", "alice/greet@1.0.0"))

    pins = carol.run(lambda k: _freeze(k, "alice/greet"))
    assert list(pins) == ["registry:tool:alice/greet"]  # the subprocess primitive has none
    assert carol.run(lambda k: _drifts(k, "alice/greet")) == []

    strict = Kernel(
        replace(carol.kernel().settings, lockfile="strict"),
        as_operator=True,
        clock_ns=lambda: time.time_ns() + 60 * 10**9,  # every file settled: chains are kept
    )

    async def twice() -> tuple[dict[str, Any], dict[str, Any]]:
        """One long-lived kernel: runs, then the same bytes are said to come from elsewhere
        (another registry, a re-install): its prepared chain is planned again, and refused."""
        first = await strict.execute("alice/greet", {"name": "Carol"})
        path = pins_path(carol.project / ".ai")
        recorded = json.loads(path.read_bytes())
        recorded["tool:alice/greet"]["registry"] = "http://127.0.0.1:9"
        path.write_text(json.dumps(recorded))
        return first, await strict.execute("alice/greet", {"name": "Carol"})

    ran, refused = asyncio.run(twice())
    assert ran["ok"], ran
    assert refused["error"]["code"] == "LOCKFILE_MISMATCH", refused
    assert "registry:tool:alice/greet" in refused["error"]["message"]
    assert carol.run(lambda k: _drifts(k, "alice/greet")) == ["pins:registry:tool:alice/greet"]

    # a newer version installed over it is unlocked (a lockfile is per version) until frozen
    alice.write_tool("alice/greet", GREET.format(word="hi").replace('"1.0.0"', '"1.1.0"'))
    alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    carol.run(lambda k: install(k, url, "tool", "alice/greet@1.1.0"))
    assert carol.run(lambda k: _status(k, "alice/greet")) == "absent"
    new_pins = carol.run(lambda k: _freeze(k, "alice/greet"))
    assert new_pins["registry:tool:alice/greet"] != pins["registry:tool:alice/greet"]
    assert carol.run(lambda k: _status(k, "alice/greet")) == "ok"


def test_a_second_key_cannot_take_a_bound_name(
    registry: LiveRegistry, alice: Person, bob: Person
) -> None:
    _login(alice, registry.url)
    with pytest.raises(PermissionDenied) as caught:
        _login(bob, registry.url, name="alice")
    assert caught.value.details["reason"] == "name_taken"
    assert "the publisher name 'alice' is bound to another key" in caught.value.message


def test_an_id_belongs_to_its_first_publisher(
    registry: LiveRegistry, alice: Person, bob: Person
) -> None:
    url = registry.url
    _login(alice, url)
    _login(bob, url)
    alice.write_tool("shared/greet", GREET.format(word="hello"))
    bob.write_tool("shared/greet", GREET.format(word="stolen"))
    alice.run(lambda k: publish(k, url, "tool", "shared/greet"))
    with pytest.raises(PermissionDenied) as caught:
        bob.run(lambda k: publish(k, url, "tool", "shared/greet"))
    assert caught.value.details["reason"] == "id_owned"
    assert caught.value.message == "tool 'shared/greet' belongs to publisher 'alice', not to 'bob'"


def test_a_published_version_never_changes_but_identical_bytes_are_accepted_again(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    _greet_published(alice, url)
    again = alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert again["status"] == "unchanged"
    alice.write_tool("alice/greet", GREET.format(word="changed"))
    with pytest.raises(PermissionDenied) as caught:
        alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert caught.value.details == {
        "reason": "version_immutable",
        "version": "1.0.0",
        "registry": url,
    }


def test_an_item_signed_by_another_key_is_refused_at_publish(
    registry: LiveRegistry, alice: Person, bob: Person
) -> None:
    url = registry.url
    _login(alice, url)
    bob.write_tool("alice/greet", GREET.format(word="hello"))
    target = alice.project / ".ai" / "tools" / "alice" / "greet.yaml"
    target.parent.mkdir(parents=True)
    target.write_bytes((bob.project / ".ai" / "tools" / "alice" / "greet.yaml").read_bytes())
    with pytest.raises(SignatureUntrusted) as caught:
        alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert "not by the logged-in publisher's key" in caught.value.message


def test_an_untrusted_publisher_is_refused_at_install_with_the_trust_hint(
    registry: LiveRegistry, alice: Person, carol: Person
) -> None:
    url = registry.url
    _greet_published(alice, url)
    with pytest.raises(SignatureUntrusted) as caught:
        carol.run(lambda k: install(k, url, "tool", "alice/greet"))
    assert "kiwi trust add" in caught.value.hint
    assert caught.value.details["publisher"] == "alice"
    assert not (carol.project / ".ai" / "tools" / "alice").exists()


TAMPERINGS = {
    "content": (
        "UPDATE versions SET content = replace(convert_from(content, 'UTF8'), 'hello',"
        " 'rm -rf')::bytea WHERE id = 'alice/greet'",
        "changed after it was signed",
    ),
    "content_hash": (
        "UPDATE versions SET content_hash = repeat('0', 64) WHERE id = 'alice/greet'",
        "the registry records 0000",
    ),
    "publisher_key": (
        "UPDATE publishers SET public_key = (SELECT public_key FROM publishers WHERE name = 'bob')"
        " WHERE name = 'alice'",
        "but sends another key",
    ),
}


@pytest.mark.parametrize("column", sorted(TAMPERINGS))
def test_a_row_changed_in_the_database_is_caught_at_install(
    registry: LiveRegistry, alice: Person, bob: Person, carol: Person, column: str
) -> None:
    url = registry.url
    _login(alice, url)
    _login(bob, url)
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    carol.trust(alice)
    sql, message = TAMPERINGS[column]
    with psycopg.connect(registry.database, autocommit=True) as conn:
        conn.execute(sql.encode())
    with pytest.raises(IntegrityFailed) as caught:
        carol.run(lambda k: install(k, url, "tool", "alice/greet"))
    assert message in caught.value.message
    assert not (carol.project / ".ai" / "tools" / "alice").exists()


def test_an_expired_token_is_refused_by_the_registry(registry: LiveRegistry, alice: Person) -> None:
    url = registry.url
    _login(alice, url)
    assert alice.run(lambda k: whoami(k, url))["name"] == "alice"
    with psycopg.connect(registry.database, autocommit=True) as conn:
        conn.execute("UPDATE tokens SET expires_at = now() - interval '1 second'")
    with pytest.raises(AuthRequired) as caught:
        alice.run(lambda k: whoami(k, url))
    assert caught.value.details["reason"] == "token_expired"
    assert "kiwi registry login" in caught.value.hint


def test_an_expired_token_is_not_even_sent(registry: LiveRegistry, tmp_path: Path) -> None:
    now = [time.time()]
    dave = person(tmp_path, "dave", clock=lambda: now[0])
    _login(dave, registry.url)
    now[0] += 10 * 3600
    with pytest.raises(AuthRequired) as caught:
        dave.run(lambda k: write(k, registry.url, "whoami", {}))
    assert caught.value.message == f"the login to the registry {registry.url} has expired"


def test_a_token_about_to_expire_is_refused_with_the_login_command(
    registry: LiveRegistry, tmp_path: Path
) -> None:
    """Within the AuthStore's margin the kernel would not inject it: the registry verbs say
    so first, with the login command (not the generic ``kiwi auth signin``)."""
    now = [time.time()]
    dave = person(tmp_path, "dave", clock=lambda: now[0])
    expires_at = datetime.fromisoformat(str(_login(dave, registry.url)["expires_at"])).timestamp()
    now[0] = expires_at - 10
    with pytest.raises(AuthRequired) as caught:
        dave.run(lambda k: write(k, registry.url, "whoami", {}))
    assert "kiwi registry login" in str(caught.value.hint)


def test_the_token_is_kept_under_the_registry_service(
    registry: LiveRegistry, alice: Person
) -> None:
    _login(alice, registry.url)
    kernel = alice.kernel()
    record = kernel.auth.record(service_for(registry.url))
    assert record is not None and record.scopes == ("registry.write",)
    assert record.expires_at is not None
    assert service_for(registry.url).startswith("registry:127.0.0.1:")


def test_an_unsigned_or_changed_item_is_refused_at_publish(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    _login(alice, url)
    alice.write_tool("alice/plain", GREET.format(word="hello"), sign=False)
    with pytest.raises(SignatureMissing):
        alice.run(lambda k: publish(k, url, "tool", "alice/plain"))
    path = alice.write_tool("alice/greet", GREET.format(word="hello"))
    path.write_text(path.read_text().replace("hello", "changed"))
    with pytest.raises(IntegrityFailed) as caught:
        alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert "changed after it was signed" in caught.value.message
