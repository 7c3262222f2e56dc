"""The server's own promises: stateless instances, visibility, dependants, migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kiwi_mcp.kernel.errors import AuthRequired, ItemNotFound, PermissionDenied
from kiwi_mcp.kernel.ops.registry import call, login, publish, read, service_for, write
from kiwi_mcp.registry.localdb import LocalPostgres
from kiwi_mcp.registry.schema import MIGRATIONS, migrate, schema_version
from tests.registry.conftest import LiveRegistry, fresh_database, run_server
from tests.registry.people import GREET, Person, person

WRAPPER = """version: "1.0.0"
tool_type: http
executor_id: alice/greet
description: Greets through alice's tool
parameters: {type: object}
config: {}
"""


def test_a_login_started_on_one_instance_finishes_on_another(
    postgres: LocalPostgres, alice: Person
) -> None:
    database = fresh_database(postgres)
    first, one = run_server(database)
    second, two = run_server(database)
    try:
        public_key = alice.keys.public_pem().decode()
        asked = alice.run(
            lambda k: call(
                k, "challenge", {"registry": first, "name": "alice", "public_key": public_key}
            )
        )
        from kiwi_mcp.kernel.trust.encoding import b64url_encode

        signature = b64url_encode(alice.keys.private_key().sign(asked["challenge"].encode()))
        got = alice.run(
            lambda k: call(
                k,
                "login",
                {"registry": second, "challenge": asked["challenge"], "signature": signature},
            )
        )
        assert got["fingerprint"] == alice.keys.fingerprint()
        # a challenge is used once, whichever instance sees it again
        with pytest.raises(AuthRequired, match="unknown, used or expired"):
            alice.run(
                lambda k: call(
                    k,
                    "login",
                    {"registry": first, "challenge": asked["challenge"], "signature": signature},
                )
            )
    finally:
        one.stop()
        two.stop()


def test_private_and_unlisted_items_are_hidden_from_search_and_strangers(
    registry: LiveRegistry, alice: Person, tmp_path: Path
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    ref = {"registry": url, "kind": "tool", "id": "alice/greet"}
    stranger = person(tmp_path, "eve")

    alice.run(lambda k: write(k, url, "visibility", {**ref, "visibility": "unlisted"}))
    assert (
        stranger.run(lambda k: call(k, "search", {"registry": url, "q": "greet"}))["results"] == []
    )
    assert stranger.run(lambda k: call(k, "get", ref))["visibility"] == "unlisted"

    alice.run(lambda k: write(k, url, "visibility", {**ref, "visibility": "private"}))
    with pytest.raises(ItemNotFound):
        stranger.run(lambda k: call(k, "get", ref))
    listed = stranger.run(lambda k: call(k, "list", {"registry": url}))
    assert listed["items"] == []


def test_delete_is_refused_while_another_item_depends_on_it(
    registry: LiveRegistry, alice: Person
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    alice.write_tool("alice/wrapper", WRAPPER)
    alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    alice.run(lambda k: publish(k, url, "tool", "alice/wrapper"))
    target = {"kind": "tool", "id": "alice/greet", "version": "1.0.0"}
    with pytest.raises(PermissionDenied) as caught:
        alice.run(lambda k: write(k, url, "delete", target))
    assert caught.value.details["dependants"] == ["tool:alice/wrapper"]
    alice.run(lambda k: write(k, url, "delete", {**target, "id": "alice/wrapper"}))
    done = alice.run(lambda k: write(k, url, "delete", target))
    assert done == {"kind": "tool", "id": "alice/greet", "deleted": "1.0.0", "latest": None}


def test_update_changes_metadata_and_search_follows(registry: LiveRegistry, alice: Person) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    alice.run(
        lambda k: write(
            k,
            url,
            "update",
            {
                "kind": "tool",
                "id": "alice/greet",
                "description": "Salutations",
                "tags": ["etiquette"],
            },
        )
    )
    found = alice.run(lambda k: call(k, "search", {"registry": url, "q": "etiquette"}))
    assert [r["id"] for r in found["results"]] == ["alice/greet"]
    versions = alice.run(
        lambda k: call(k, "versions", {"registry": url, "kind": "tool", "id": "alice/greet"})
    )
    assert [v["version"] for v in versions["versions"]] == ["1.0.0"]


def test_migrations_apply_once_and_record_the_version(postgres: LocalPostgres) -> None:
    database = fresh_database(postgres)
    with psycopg.connect(database, autocommit=True) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == len(MIGRATIONS)
        assert migrate(conn) == len(MIGRATIONS)
        rows = conn.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))


def _agent_policy(who: Person, caps: list[str]) -> None:
    """The operator's signed policy for the agents of ``who``'s project (SPEC §9.4)."""
    from datetime import UTC, datetime

    from kiwi_mcp.kernel.trust.signing import sign_item

    text = "version: 1\ncapabilities:\n" + "".join(f'  - "{c}"\n' for c in caps)
    path = who.project / ".ai" / "config" / "policy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        sign_item(
            text.encode(),
            ext=".yaml",
            kind="config",
            item_id="policy",
            key=who.keys.private_key(),
            now=datetime.now(UTC),
        )
    )


def test_an_agent_publishes_only_with_registry_write_and_never_holds_the_token(
    registry: LiveRegistry, alice: Person
) -> None:
    import asyncio
    import json

    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES

    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    content = alice.write_tool("alice/greet", GREET.format(word="hello")).read_text()
    args = {"registry": url, "kind": "tool", "id": "alice/greet", "ext": ".yaml"}
    args["content"] = content

    def agent() -> Kernel:  # the agents' kernel: capabilities from the project's policy
        return Kernel(alice.kernel().settings, clock=alice.clock)

    searched = asyncio.run(agent().execute("registry/search", {"registry": url, "q": "x"}))
    assert searched["ok"], searched
    refused = asyncio.run(agent().execute("registry/publish", args))
    assert refused["error"]["code"] == "PERMISSION_DENIED"
    assert "registry.write" in refused["error"]["message"]

    _agent_policy(alice, [*DEFAULT_CAPABILITIES, "registry.write"])
    with_token = asyncio.run(agent().execute("registry/publish", {**args, "token": "t"}))
    assert with_token["error"]["code"] == "PARAMS_INVALID"  # a token is never a parameter
    done = asyncio.run(agent().execute("registry/publish", args))
    assert done["ok"], done
    assert done["data"]["data"]["status"] == "published"
    token = alice.kernel().auth.record(service_for(url))
    assert token is not None and token.access_token not in json.dumps(done)
    got = alice.run(lambda k: read(k, url, "get", {"kind": "tool", "id": "alice/greet"}))
    assert got["publisher"] == "alice"

    # the login is this registry's: a request to another host gets no token at all
    elsewhere = asyncio.run(agent().execute("registry/publish", {**args, "registry": _nowhere()}))
    assert elsewhere["error"]["code"] == "AUTH_REQUIRED", elsewhere
    assert f"registry:127.0.0.1:{_nowhere().rsplit(':', 1)[1]}" in elsewhere["error"]["message"]


def _nowhere() -> str:
    return "http://127.0.0.1:9"


def test_a_draft_is_seen_only_by_its_publisher_and_changes_until_published(
    registry: LiveRegistry, alice: Person, tmp_path: Path
) -> None:
    url = registry.url
    alice.run(lambda k: login(k, url, "alice"))
    stranger = person(tmp_path, "eve")
    ref = {"registry": url, "kind": "tool", "id": "alice/greet"}
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    first = alice.run(lambda k: publish(k, url, "tool", "alice/greet", draft=True))
    assert (first["status"], first["state"]) == ("uploaded", "draft")
    with pytest.raises(ItemNotFound):
        stranger.run(lambda k: call(k, "get", ref))
    assert (
        stranger.run(lambda k: call(k, "search", {"registry": url, "q": "greet"}))["results"] == []
    )
    alice.write_tool("alice/greet", GREET.format(word="hi"))  # a draft may change
    alice.run(lambda k: publish(k, url, "tool", "alice/greet", draft=True))
    mine = alice.run(lambda k: read(k, url, "versions", {"kind": "tool", "id": "alice/greet"}))
    assert [(v["version"], v["state"]) for v in mine["versions"]] == [("1.0.0", "draft")]
    done = alice.run(lambda k: publish(k, url, "tool", "alice/greet"))
    assert (done["status"], done["state"]) == ("published", "published")
    assert stranger.run(lambda k: call(k, "get", ref))["latest"] == "1.0.0"
    alice.write_tool("alice/greet", GREET.format(word="again"))
    with pytest.raises(PermissionDenied):
        alice.run(lambda k: publish(k, url, "tool", "alice/greet", draft=True))
