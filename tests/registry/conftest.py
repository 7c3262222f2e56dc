"""A real PostgreSQL for the session; per test, an empty database and a live registry server.

The cluster is started once (about a second) from the project's own helper
(``kiwi_mcp.registry.localdb``) in a temporary folder and stopped at the end. Each test gets
an emptied database (or, when it runs several instances, its own) and a registry served by
uvicorn on a loopback port, so tests never see each other's publishers or items.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn

from kiwi_mcp.registry.app import create_app
from kiwi_mcp.registry.localdb import LocalPostgres, start
from kiwi_mcp.registry.schema import migrate
from tests.registry.people import Person, person

_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    # not under pytest's tmp folder: under root that is 0700, and the server runs as kiwi-pg
    folder = Path(tempfile.mkdtemp(prefix="kiwi-registry-pg-"))
    server = start(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveRegistry:
    """A registry server on a fresh database: its URL and the database's."""

    url: str
    database: str


def fresh_database(postgres: LocalPostgres) -> str:
    name = f"t{next(_numbers)}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return postgres.url.rsplit("/", 1)[0] + "/" + name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(kw_only=True, slots=True)
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def run_server(
    database: str, *, token_ttl_s: int = 3600, keyword_index: bool = True
) -> tuple[str, RunningServer]:
    """Start a registry instance on ``database`` in a thread; returns its URL once it serves."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(database, token_ttl_s=token_ttl_s, keyword_index=keyword_index),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the registry server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", RunningServer(server=server, thread=thread)


@pytest.fixture(scope="session")
def shared_database(postgres: LocalPostgres) -> str:
    """One migrated database for the tests that need only one registry (emptied for each:
    a ``CREATE DATABASE`` costs ~0.6 s, a ``TRUNCATE`` a few ms)."""
    database = fresh_database(postgres)
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn)
    return database


@pytest.fixture
def registry(shared_database: str) -> Iterator[LiveRegistry]:
    database = shared_database
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE publishers, challenges, tokens, items, versions, changes"
            " RESTART IDENTITY CASCADE"
        )
    url, running = run_server(database)
    try:
        yield LiveRegistry(url=url, database=database)
    finally:
        running.stop()


@pytest.fixture
def alice(tmp_path: Path) -> Person:
    """A publisher with her own project, user space and key."""
    return person(tmp_path, "alice")


@pytest.fixture
def bob(tmp_path: Path) -> Person:
    """Another publisher."""
    return person(tmp_path, "bob")


@pytest.fixture
def carol(tmp_path: Path) -> Person:
    """A consumer, who trusts whom she chooses."""
    return person(tmp_path, "carol")
