"""The README's commands, run top to bottom in a fresh folder, all succeed (issue 13's
acceptance).

Which blocks run is written in README.md, not here: every code block carries a marker, the
HTML comment on the line before it, and a block without one fails this test.

* ``<!-- readme-test: run -->`` (a note in parentheses may follow): each shell command runs as
  written, one after another in one shell, so a ``cd`` carries over. A trailing
  ``# -> OUTPUT`` is what the command prints: JSON compared as JSON, other text as a substring.
* ``<!-- readme-test: file: PATH -->``: the block is written to PATH, relative to the shell's
  folder at that point, by a heredoc as a reader would.
* ``<!-- readme-test: run-inline -->`` before a paragraph: its ``kiwi …`` code spans run, in
  order.
* ``<!-- readme-test: skip: REASON -->``: not run, for the reason given.

Kiwi cannot be installed from a registry here (and kiwi-mcp is not on PyPI): the install
lines of a ``run`` block stand for the ``kiwi`` under test, first on PATH (see
``STAND_INS``). The user space, the home folder and the credential store (the file backend,
as in the other CLI tests) are new and empty.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.project import KIWI

README = Path(__file__).resolve().parents[2] / "README.md"
#: The whole run, not one command: a hang is named by the first command without an exit code.
TIMEOUT = 120.0

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")
HEREDOC = re.compile(r"(?<!<)<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
EXPECT = re.compile(r"\s#\s*->\s*(.+)$")
INLINE_KIWI = re.compile(r"`(kiwi [^`]+)`")
#: What an install line of the README stands for in this test (the first match wins).
STAND_INS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?:pipx|uv tool|pip) install kiwi-mcp\b.*$"), "command -v kiwi"),
    (re.compile(r"^uvx --from kiwi-mcp (?=kiwi\b)"), ""),
)


class MarkerError(ValueError):
    """The README's markers do not say what to run."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    line: int
    written: str
    text: str
    expect: str | None = None
    writes_file: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    command: Command
    returncode: int | None  # None: it did not finish (an earlier one failed, or a hang)
    stdout: str
    stderr: str


def parse_readme(text: str, name: str = "README.md") -> list[Command]:
    """The commands of the marked blocks, top to bottom.

    Raises:
        MarkerError: a block without a marker, an unknown or dangling marker, a heredoc
            without its end, or nothing marked to run.
    """
    lines = text.splitlines()
    commands: list[Command] = []
    marker: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        found = MARKER.match(line)
        fence = FENCE.match(line)
        if found:
            if marker is not None:
                raise MarkerError(f"{name}:{marker[0]}: a marker followed by another marker")
            marker = (i + 1, found.group(1))
        elif fence:
            end = _fence_end(lines, i, fence.group(1), name)
            if marker is None:
                raise MarkerError(
                    f"{name}:{i + 1}: a code block without a marker; say whether it runs on "
                    "the line before it: <!-- readme-test: run | file: PATH | skip: REASON -->"
                )
            commands += _block(marker, lines[i + 1 : end], i + 2, name)
            marker = None
            i = end
        elif line.strip() and marker is not None:
            if marker[1] != "run-inline":
                raise MarkerError(f"{name}:{marker[0]}: {marker[1]!r} is not before a code block")
            end = i
            while end < len(lines) and lines[end].strip() and not FENCE.match(lines[end]):
                end += 1
            spans = INLINE_KIWI.findall(" ".join(lines[i:end]))
            if not spans:
                raise MarkerError(f"{name}:{marker[0]}: run-inline before a paragraph no kiwi in")
            commands += [Command(line=i + 1, written=span, text=span) for span in spans]
            marker = None
            i = end - 1
        i += 1
    if marker is not None:
        raise MarkerError(f"{name}:{marker[0]}: {marker[1]!r} is not before a code block")
    if all(command.writes_file for command in commands):
        raise MarkerError(f"{name}: no block is marked '<!-- readme-test: run -->'")
    return commands


def _fence_end(lines: list[str], start: int, fence: str, name: str) -> int:
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for end in range(start + 1, len(lines)):
        if closing.match(lines[end]):
            return end
    raise MarkerError(f"{name}:{start + 1}: a code block that is never closed")


def _block(marker: tuple[int, str], body: list[str], first: int, name: str) -> list[Command]:
    at, spec = marker
    if spec.startswith("skip:") and spec[5:].strip():
        return []
    if spec.startswith("file:") and spec[5:].strip():
        path = spec[5:].strip()
        content = "\n".join(body)
        delimiter = "KIWI_README_EOF"
        if delimiter in content:
            raise MarkerError(f"{name}:{first}: the block holds its heredoc's end, {delimiter}")
        heredoc = f"cat > {shlex.quote(path)} <<'{delimiter}'\n{content}\n{delimiter}"
        return [Command(line=first, written=f"(write {path})", text=heredoc, writes_file=True)]
    if spec == "run-inline":
        raise MarkerError(f"{name}:{at}: run-inline is for a paragraph, not a code block")
    if re.fullmatch(r"run(?:\s+\(.+\))?", spec):
        return _shell_commands(body, first, name)
    raise MarkerError(
        f"{name}:{at}: unknown marker {spec!r}; expected run, file: PATH, run-inline"
        " or skip: REASON"
    )


def _shell_commands(body: list[str], first: int, name: str) -> list[Command]:
    """One command per line, a line ending in ``\\`` and a heredoc's lines kept with it."""
    commands = []
    i = 0
    while i < len(body):
        if not body[i].strip() or body[i].lstrip().startswith("#"):
            i += 1
            continue
        start = i
        while body[i].endswith("\\") and i + 1 < len(body):
            i += 1
        heredoc = HEREDOC.search(body[i])
        if heredoc:
            strip, word = heredoc.group(1), heredoc.group(3)
            i += 1
            while i < len(body) and (body[i].lstrip("\t") if strip else body[i]) != word:
                i += 1
            if i == len(body):
                raise MarkerError(f"{name}:{first + start}: a heredoc without its {word!r} line")
        written = "\n".join(body[start : i + 1])
        expect = EXPECT.search(body[start])
        commands.append(
            Command(
                line=first + start,
                written=written,
                text=_stand_in(written),
                expect=expect.group(1).strip() if expect else None,
            )
        )
        i += 1
    return commands


def _stand_in(written: str) -> str:
    for pattern, replacement in STAND_INS:
        if pattern.search(written):
            return pattern.sub(replacement, written, count=1)
    return written


def run_top_to_bottom(commands: list[Command], root: Path) -> tuple[list[Outcome], bool]:
    """Run ``commands`` in one shell in the fresh folder ``root/work``, stopping at the first
    that fails; each one's output goes to files, so no pipe outlives a killed run. Returns the
    outcomes and whether the run was stopped by ``TIMEOUT``."""
    work, home, out = root / "work", root / "home", root / "out"
    for folder in (work, home, out):
        folder.mkdir(parents=True)
    script = ["set -o pipefail"]
    for n, command in enumerate(commands):
        where = shlex.quote(str(out / str(n)))
        script.append(
            f"{{ {command.text}\n}} >{where}.out 2>{where}.err; "
            f'__readme_rc=$?; echo "$__readme_rc" >{where}.rc; '
            '[ "$__readme_rc" -eq 0 ] || exit 1'
        )
    (root / "readme.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    env = {
        "PATH": f"{Path(KIWI).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
        "KIWI_USER_SPACE": str(root / "user"),
        "KIWI_AUTH_BACKEND": "file",
    }
    with (root / "shell.log").open("wb") as log:
        shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc", str(root / "readme.sh")],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            shell.wait(timeout=TIMEOUT)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
            timed_out = True
    outcomes = []
    for n, command in enumerate(commands):
        rc = out / f"{n}.rc"
        outcomes.append(
            Outcome(
                command=command,
                returncode=int(rc.read_text()) if rc.exists() else None,
                stdout=_read(out / f"{n}.out"),
                stderr=_read(out / f"{n}.err"),
            )
        )
    return outcomes, timed_out


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def first_problem(outcomes: list[Outcome], timed_out: bool) -> str | None:
    """Why the run did not do what the README says, naming the README line, or None."""
    for outcome in outcomes:
        command = outcome.command
        said = f"README.md:{command.line}: {command.written}"
        if command.text != command.written:
            said += f"\n  (run as: {command.text})"
        shown = f"\n--- stdout\n{outcome.stdout[-2000:]}\n--- stderr\n{outcome.stderr[-2000:]}"
        if outcome.returncode is None:
            cause = f"did not finish within {TIMEOUT:.0f} s" if timed_out else "did not run"
            return f"{said}\n{cause}{shown}"
        if outcome.returncode != 0:
            return f"{said}\nexited {outcome.returncode}{shown}"
        if command.expect is not None and not _shows(outcome.stdout, command.expect):
            return f"{said}\ndid not print {command.expect}{shown}"
    return None


def _shows(stdout: str, expect: str) -> bool:
    try:
        wanted = json.loads(expect)
    except ValueError:
        return expect in stdout
    try:
        return bool(json.loads(stdout) == wanted)
    except ValueError:
        return False


@pytest.mark.slow
def test_the_readmes_commands_run_top_to_bottom_in_a_fresh_folder(tmp_path: Path) -> None:
    commands = parse_readme(README.read_text(encoding="utf-8"))
    outcomes, timed_out = run_top_to_bottom(commands, tmp_path)
    assert first_problem(outcomes, timed_out) is None, first_problem(outcomes, timed_out)


def test_a_code_block_without_a_marker_fails_naming_its_line() -> None:
    text = "# T\n\n<!-- readme-test: run -->\n```sh\ntrue\n```\n\n```sh\nrm -rf x\n```\n"
    with pytest.raises(MarkerError, match=r"^README.md:8: a code block without a marker"):
        parse_readme(text)


def test_a_readme_with_nothing_marked_to_run_fails() -> None:
    text = "<!-- readme-test: skip: a demo -->\n```sh\nmake demo\n```\n"
    with pytest.raises(MarkerError, match="no block is marked"):
        parse_readme(text)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("rnu", "unknown marker 'rnu'"),
        ("skip:", "unknown marker 'skip:'"),
        ("file:", "unknown marker 'file:'"),
    ],
)
def test_a_marker_must_be_one_the_test_knows(marker: str, message: str) -> None:
    with pytest.raises(MarkerError, match=message):
        parse_readme(f"<!-- readme-test: {marker} -->\n```sh\ntrue\n```\n")


def test_commands_are_split_by_line_keeping_heredocs_and_expected_output() -> None:
    text = (
        "<!-- readme-test: run (a note) -->\n```sh\n"
        "pipx install kiwi-mcp   # or: uv tool install kiwi-mcp\n"
        "uvx --from kiwi-mcp kiwi --help\n"
        "# a comment line\n"
        "cat > a.yaml <<'EOF'\nx: 1\nEOF\n"
        'kiwi run hello   # -> {"greeting": "Hi"}\n```\n'
        "<!-- readme-test: file: .ai/tools/b.py -->\n```python\nX = 1\n```\n"
        "<!-- readme-test: run-inline -->\nThen `kiwi sign tool b` and `'*'`, then\n"
        "`kiwi run b`.\n"
    )
    commands = parse_readme(text)
    assert [(c.line, c.text, c.expect) for c in commands] == [
        (3, "command -v kiwi", None),
        (4, "kiwi --help", None),
        (6, "cat > a.yaml <<'EOF'\nx: 1\nEOF", None),
        (9, 'kiwi run hello   # -> {"greeting": "Hi"}', '{"greeting": "Hi"}'),
        (13, "cat > .ai/tools/b.py <<'KIWI_README_EOF'\nX = 1\nKIWI_README_EOF", None),
        (16, "kiwi sign tool b", None),
        (16, "kiwi run b", None),
    ]


def test_a_failing_command_stops_the_run_and_is_named(tmp_path: Path) -> None:
    commands = parse_readme(
        "<!-- readme-test: run -->\n```sh\nmkdir d && cd d\ntouch here\nfalse\ntouch never\n```\n"
    )
    outcomes, timed_out = run_top_to_bottom(commands, tmp_path)
    assert [o.returncode for o in outcomes] == [0, 0, 1, None] and not timed_out
    assert (tmp_path / "work" / "d" / "here").is_file()  # the cd carried over
    assert not (tmp_path / "work" / "d" / "never").exists()
    problem = first_problem(outcomes, timed_out)
    assert problem is not None and problem.startswith("README.md:5: false\nexited 1\n")


def test_a_command_that_does_not_print_what_the_readme_shows_fails(tmp_path: Path) -> None:
    commands = parse_readme(
        "<!-- readme-test: run -->\n```sh\n"
        'printf \'{"a": 1}\'   # -> {"a": 1}\n'
        'printf \'{"a": 2}\'   # -> {"a": 1}\n```\n'
    )
    outcomes, timed_out = run_top_to_bottom(commands, tmp_path)
    problem = first_problem(outcomes, timed_out)
    assert problem is not None and problem.startswith("README.md:4: ")
    assert '\ndid not print {"a": 1}\n' in problem
