"""Registry benchmark (issue 20; SPEC §16). A script, not a test: prints numbers and ratios.

A real PostgreSQL (``kiwi_mcp.registry.localdb``) and a real ``kiwi registry serve``
process; 100k published items (signed, bulk-loaded through the same tables and ranked
document the server writes), then over HTTP with keep-alive:

* ``get`` p99 (target ≤ 5 ms)
* ``publish`` p99 of a new signed version, verified by the server (target ≤ 100 ms)
* ranked ``search`` p99 per query class — rare (~10 matches), common (~1k), very common
  (~33k) — (target ≤ 50 ms each)

``KIWI_BENCH_ITEMS`` changes the item count (default 100000).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiwi_mcp.kernel.trust.encoding import b64url_encode, fingerprint
from kiwi_mcp.kernel.trust.signing import sign_item, split_signature
from kiwi_mcp.registry.localdb import start
from kiwi_mcp.registry.schema import migrate

ITEMS = int(os.environ.get("KIWI_BENCH_ITEMS", "100000"))
PUBLISHERS = 50
KIWI = str(Path(sys.executable).with_name("kiwi"))
TOOL = """version: "{version}"
tool_type: runtime
executor_id: primitives/subprocess
description: {description}
parameters: {{type: object}}
config:
  command: echo
  args: ["{word}"]
"""
_WORDS = [f"w{n:04d}" for n in range(5000)]


def _description(i: int, rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=8)
    if i % 10_000 == 7:
        words.append("quokka")  # rare: ~10 items
    if i % 100 == 3:
        words.append("compiler")  # common: ~1%
    if i % 3 == 0:
        words.append("weather")  # very common: ~33%
    return "Tool " + " ".join(words)


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _load(database: str, keys: list[Ed25519PrivateKey]) -> None:
    """Bulk-publish ITEMS signed items: COPY into a staging table, then the server's tables."""
    rng = random.Random(20)
    now = datetime.now(UTC)
    buf = io.StringIO()
    for i in range(ITEMS):
        owner = i % PUBLISHERS
        item_id = f"p{owner}/tool{i}"
        description = _description(i, rng)
        data = sign_item(
            TOOL.format(version="1.0.0", description=description, word=i).encode(),
            ext=".yaml",
            kind="tool",
            item_id=item_id,
            key=keys[owner],
            now=now,
        )
        line, _ = split_signature(data, ".yaml")
        assert line is not None
        row = [
            item_id,
            f"p{owner}",
            description,
            data.decode(),
            line.content_hash,
            line.to_text(),
            line.fingerprint,
        ]
        buf.write(
            "\t".join(
                v.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") for v in row
            )
            + "\n"
        )
    buf.seek(0)
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn)
        with conn.transaction():
            for n, key in enumerate(keys):
                pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
                conn.execute(
                    "INSERT INTO publishers (name, fingerprint, public_key) VALUES (%s, %s, %s)",
                    (f"p{n}", fingerprint(key.public_key()), pem.decode()),
                )
            conn.execute(
                "CREATE TEMP TABLE staging (id text, publisher text, description text,"
                " content text, content_hash text, signature_line text, fp text)"
            )
            with conn.cursor().copy("COPY staging FROM STDIN") as copy:
                while chunk := buf.read(1 << 20):
                    copy.write(chunk)
            conn.execute(
                "INSERT INTO items (kind, id, publisher, description, latest, search)"
                " SELECT 'tool', id, publisher, description, '1.0.0',"
                " setweight(to_tsvector('english', id || ' ' || translate(id, '/_-.', '    ')),"
                " 'A') || setweight(to_tsvector('english', description), 'B')"
                " || setweight(to_tsvector('english', content), 'D') FROM staging"
            )
            conn.execute(
                "INSERT INTO versions (kind, id, version, ext, content, content_hash,"
                " signature_line, signer_fingerprint, publisher)"
                " SELECT 'tool', id, '1.0.0', '.yaml', convert_to(content, 'UTF8'),"
                " content_hash, signature_line, fp, publisher FROM staging"
            )
        conn.execute("VACUUM ANALYZE")


def _ref(i: int) -> dict[str, str]:
    return {"kind": "tool", "id": f"p{i % PUBLISHERS}/tool{i}"}


def _login(client: httpx.Client, key: Ed25519PrivateKey, name: str) -> str:
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    asked = client.post("/v1/login/challenge", json={"name": name, "public_key": pem}).json()
    text = asked["data"]["challenge"]
    got = client.post(
        "/v1/login", json={"challenge": text, "signature": b64url_encode(key.sign(text.encode()))}
    ).json()
    return str(got["data"]["token"])


def _timed(call: object, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        response = call(i)  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return samples


def _report(name: str, samples: list[float], target_ms: float) -> None:
    p50, p99 = statistics.median(samples) * 1000, _p(samples, 0.99)
    verdict = "ok" if p99 <= target_ms else "MISSED"
    print(
        f"{name:<28} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  target ≤ {target_ms:g} ms "
        f"({p99 / target_ms:.2f}× the target) {verdict}"
    )


def _start_server(url: str, port: int, *extra: str) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    server = subprocess.Popen(
        [KIWI, "registry", "serve", "--database", url, "--port", str(port), *extra],
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 300
    while True:
        try:
            got = client.get("/v1/health")
            if got.status_code == 200 and got.json()["data"]["keyword_index"] != "loading":
                return server, client
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the registry server did not start")
        time.sleep(0.05)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


QUERIES = (
    ("rare (~10)", "quokka"),
    ("common (~1%)", "compiler"),
    ("very common (~33%)", "weather"),
    ("two words", "weather compiler"),
    ("very common + rare", "weather quokka"),
)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kiwi-bench-registry-"))
    pg = start(folder)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        keys = [Ed25519PrivateKey.generate() for _ in range(PUBLISHERS)]
        began = time.perf_counter()
        _load(pg.url, keys)
        print(f"loaded {ITEMS} signed items in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        server, client = _start_server(pg.url, 18766)
        servers.append(server)
        print(
            f"server up with its keyword index in {time.perf_counter() - began:.1f} s,"
            f" RSS {_rss_mb(server.pid):.0f} MB"
        )
        plain_server, plain = _start_server(pg.url, 18767, "--no-keyword-index")
        servers.append(plain_server)
        print(f"(second instance without the index: RSS {_rss_mb(plain_server.pid):.0f} MB)")
        rng = random.Random(7)
        for name, who in (("index instance", client), ("plain instance", plain)):
            _timed(lambda i, c=who: c.get("/v1/get", params=_ref(i)), 50)
            _report(
                f"get [{name}]",
                _timed(lambda i, c=who: c.get("/v1/get", params=_ref(rng.randrange(ITEMS))), 1000),
                5,
            )
        token = _login(client, keys[0], "p0")
        auth = {"Authorization": f"Bearer {token}"}
        now = datetime.now(UTC)
        bodies = []
        for i in range(300):
            item_id = f"p0/new{i}"
            data = sign_item(
                TOOL.format(
                    version="2.0.0", description=f"Fresh tool {i} weather", word=i
                ).encode(),
                ext=".yaml",
                kind="tool",
                item_id=item_id,
                key=keys[0],
                now=now,
            )
            bodies.append({"kind": "tool", "id": item_id, "ext": ".yaml", "content": data.decode()})
        _report(
            "publish",
            _timed(lambda i: client.post("/v1/publish", json=bodies[i], headers=auth), 300),
            100,
        )
        for label, q in QUERIES:
            for name, who in (("index", client), ("postgresql", plain)):
                _timed(lambda i, c=who, w=q: c.get("/v1/search", params={"q": w}), 5)
                _report(
                    f"search {label} [{name}]",
                    _timed(
                        lambda i, c=who, w=q: c.get("/v1/search", params={"q": w, "limit": 20}), 200
                    ),
                    50,
                )
        print(f"after the runs: RSS {_rss_mb(server.pid):.0f} MB (indexed instance)")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
