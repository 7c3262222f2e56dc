"""A non-editable install in a fresh venv, used from an unrelated folder, finds its system
space and runs real chains (issue 2's acceptance)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.http_server import LoopbackServer, Response

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the built wheel; dependencies come from this venv via a .pth."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("kiwi_mcp-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    new_site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(new_site, "kiwi_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _kiwi(
    venv: Path, *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "kiwi"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wheel_installs_one_namespace_and_no_top_level_kernel_or_primitives(
    installed: Path, tmp_path: Path
) -> None:
    python = str(installed / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    top = sorted(p.name for p in Path(site).iterdir() if not p.name.endswith((".pth", "-info")))
    assert top == ["kiwi_mcp"]
    probe = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u, kiwi_mcp.kernel, kiwi_mcp.primitives; "
            "print(u.find_spec('kernel'), u.find_spec('primitives'))",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == ["None", "None"]
    for argv in (
        [python, "-m", "kiwi_mcp", "--version"],
        [str(installed / "bin" / "kiwi"), "--version"],
    ):
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.strip()) == (0, "kiwi 0.1.0"), done.stderr
    served = subprocess.run(
        [str(installed / "bin" / "kiwi-mcp"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 0 and served.stdout.startswith("usage: kiwi serve"), served.stderr


def test_the_installed_package_runs_chains_from_another_folder(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    project = tmp_path / "proj"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
        "KIWI_USER_SPACE": str(tmp_path / "u"),
    }
    where = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import kiwi_mcp.kernel, kiwi_mcp.kernel.store.paths; "
            "print(kiwi_mcp.kernel.__file__); "
            "print(kiwi_mcp.kernel.store.paths.system_space_root())",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(installed)) and where[1].startswith(str(installed))
    assert Path(where[1], "manifest.json").is_file()

    done = _kiwi(
        installed, "--json", "run", "examples/hello", "-p", "name=wheel", cwd=elsewhere, env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["greeting"] == "Hello, wheel!"

    project.mkdir()  # --project must name an existing folder (SPEC §11)
    assert (
        _kiwi(installed, "--project", str(project), "init", cwd=elsewhere, env=env).returncode == 0
    )
    tools = project / ".ai" / "tools"
    (tools / "shout.sh").write_text(
        '#!/usr/bin/env bash\n# kiwi:\n# version: "1.0.0"\n# executor_id: runtimes/bash\n'
        'read -r line\nprintf \'{"got": %s}\' "$line"\n'
    )
    (tools / "ping.yaml").write_text(
        'version: "1.0.0"\nexecutor_id: primitives/http_client\n'
        "parameters: {type: object, properties: {who: {type: string}}, required: [who]}\n"
        'config: {method: POST, url: "${BASE}/ping", query: {who: "${params.who}"},'
        ' headers: {X-Who: "${params.who}"}, json: {who: "${params.who}"}}\n'
    )
    assert (
        _kiwi(
            installed, "--project", str(project), "sign", "tool", "*", cwd=elsewhere, env=env
        ).returncode
        == 0
    )
    done = _kiwi(
        installed,
        "--project",
        str(project),
        "--json",
        "run",
        "hello",
        "-p",
        "name=p",
        cwd=elsewhere,
        env=env,
    )
    assert json.loads(done.stdout)["data"] == {"greeting": "Hello, p!"}, done.stderr
    done = _kiwi(
        installed,
        "--project",
        str(project),
        "--json",
        "run",
        "shout",
        "-p",
        "x=1",
        cwd=elsewhere,
        env=env,
    )
    assert json.loads(done.stdout)["data"] == {"got": {"x": "1"}}, done.stderr
    with LoopbackServer() as server:
        server.route("POST", "/ping", Response.json({"pong": True}))
        (project / ".env").write_text(f"BASE={server.url}\n")
        done = _kiwi(
            installed,
            "--project",
            str(project),
            "--json",
            "run",
            "ping",
            "-p",
            "who=me",
            cwd=elsewhere,
            env=env,
        )
        [request] = server.requests
    assert json.loads(done.stdout)["data"] == {"pong": True}, done.stderr
    assert request.query == {"who": "me"} and request.headers["X-Who"] == "me"
    assert request.json() == {"who": "me"}
