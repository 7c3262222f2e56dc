"""The house's shape, checked: the import contracts, and what an import linter cannot see.

* ``lint-imports`` keeps every contract in ``pyproject.toml`` (layers, no circles, …).
* ``kernel/core/`` is pure (STYLE.md §2): no disk, environment, clock or process state, and
  no module-level mutable state — ``core_offences`` states the rule, ``ALLOWED_CORE_STATE``
  names the few exceptions.
* Every ``kernel/**/__init__.py`` but the public face holds at most a docstring, which keeps
  ``kiwi --help`` lazy.
* Every import of the kernel or the primitives is spelled ``kiwi_mcp.…``: a checkout
  would tolerate a bare ``kernel.…``, an installed wheel would not.

Each checker is also run on a planted offence, so a checker that sees nothing fails.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ROOT / "kernel"
CORE = KERNEL / "core"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = [
    contract["name"]
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
]

# The module-level mutable state kernel/core may hold, by (file, name), each with why it is
# safe. All but the last are memo tables of pure functions: an entry is a function of its
# key, so a hit returns what a miss would compute and no caller can observe the table.
ALLOWED_CORE_STATE = {
    ("parse.py", "_cache"): "parse_item's frozen records by (kind, id, ext, sha256 of the "
    "bytes); LRU-bounded at _CACHE_SIZE",
    ("params.py", "_validators"): "jsonschema validators by the schema's canonical JSON (one "
    "per distinct schema, unbounded); a validator keeps no state between validations",
    ("params.py", "_compiled"): "compiled schema predicates by the schema's id(), each entry "
    "holding its schema so the id is not reused; cleared at _MAX_COMPILED",
    ("templating.py", "_PIECES"): "a template string's tokens by the string itself; filled "
    "only below _MAX_PIECES",
    # Not a memo: a constant that nothing mutates, in a file another change owns. It should
    # become a MappingProxyType there, and this entry go.
    ("directives.py", "_CHECKS"): "a constant table of input types",
}

# What the core may not touch: the modules, ``module.attribute`` pairs and builtins
# through which code reaches the disk, the environment, the clock or the process.
_FORBIDDEN_MODULES = frozenset(
    {"os", "time", "shutil", "subprocess", "tempfile", "glob", "socket", "signal"}
)
_FORBIDDEN_ATTRIBUTES = frozenset(
    {
        ("sys", "stdin"),
        ("sys", "stdout"),
        ("sys", "stderr"),
        ("sys", "argv"),
        ("datetime", "now"),
        ("datetime", "utcnow"),
        ("datetime", "today"),
        ("date", "today"),
    }
)
_FORBIDDEN_CALLS = frozenset({"open", "input", "print"})
# Calls whose result is a mutable container; ``dict.fromkeys`` and the like count too.
_MUTABLE_FACTORIES = frozenset(
    {
        "dict",
        "list",
        "set",
        "bytearray",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "deque",
        "ChainMap",
        "WeakKeyDictionary",
        "WeakValueDictionary",
    }
)
_MUTABLE_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
_CACHE_DECORATORS = frozenset({"cache", "lru_cache"})


def _lint_imports(root: Path) -> tuple[int, str]:
    """``lint-imports`` run on the tree at ``root``: exit code, output (spaces collapsed)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Contracts:" in done.stdout, done.stdout + done.stderr
    return done.returncode, " ".join(done.stdout.split())


def test_every_import_contract_is_kept() -> None:
    assert len(CONTRACTS) >= 8
    code, report = _lint_imports(ROOT)
    assert [name for name in CONTRACTS if f"{name} KEPT" not in report] == [], report
    assert code == 0, report


def test_the_layers_contract_reports_a_planted_core_to_exec_import(tmp_path: Path) -> None:
    for folder in ("kernel", "primitives"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copytree(
        ROOT / "kiwi_mcp",
        tmp_path / "kiwi_mcp",
        ignore=shutil.ignore_patterns("__pycache__", "kernel", "primitives"),
    )
    for folder in ("kernel", "primitives"):  # the links, made again inside the copy
        (tmp_path / "kiwi_mcp" / folder).symlink_to(Path("..") / folder)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "kernel" / "core" / "merge.py"
    planted.write_text(
        planted.read_text(encoding="utf-8") + "\nfrom kiwi_mcp.kernel.exec import kernel\n",
        encoding="utf-8",
    )
    code, report = _lint_imports(tmp_path)
    assert code == 1
    layers = next(name for name in CONTRACTS if name.startswith("Layers:"))
    assert f"{layers} BROKEN" in report, report
    assert "kiwi_mcp.kernel.core.merge -> kiwi_mcp.kernel.exec" in report, report


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for a name or attribute chain, else ``""``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _is_mutable(value: ast.expr) -> bool:
    """Whether an expression builds a mutable container (a binary operation is judged by
    its left operand, as ``frozenset(…) | {…}`` is a frozenset)."""
    if isinstance(value, _MUTABLE_DISPLAYS):
        return True
    if isinstance(value, ast.BinOp):
        return _is_mutable(value.left)
    if isinstance(value, ast.Call):
        name = _dotted(value.func).split(".")
        return name[-1] in _MUTABLE_FACTORIES or (len(name) >= 2 and name[-2] in _MUTABLE_FACTORIES)
    return False


def _state_offences(body: list[ast.stmt], where: str) -> list[tuple[int, str, str]]:
    """(line, name, what) for each name bound to a mutable container in a module or class
    body, looking into the ``if``/``try``/``with`` blocks that run with it."""
    found: list[tuple[int, str, str]] = []
    for node in body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.ClassDef):
            found.extend(_state_offences(node.body, f"{where}{node.name}."))
        elif isinstance(node, ast.If | ast.With | ast.Try):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for inner in getattr(node, block, []):
                    nested = inner.body if isinstance(inner, ast.ExceptHandler) else [inner]
                    found.extend(_state_offences(nested, where))
        if value is None or not _is_mutable(value):
            continue
        for target in targets:
            name = _dotted(target) or ast.unparse(target)
            if where == "" and name == "__all__":
                continue  # read by the import system; a list by convention
            found.append((node.lineno, f"{where}{name}", "module-level mutable state"))
    return found


def core_offences(path: Path) -> list[str]:
    """What makes a module impure, as ``file:line: what`` (empty when it is pure).

    The rule: no import or use of ``os``, ``time``, ``shutil``, ``subprocess``,
    ``tempfile``, ``glob``, ``socket`` or ``signal``; no ``sys.stdin``/``stdout``/
    ``stderr``/``argv``, ``environ`` or ``datetime.now``/``utcnow``/``today``; no call of
    ``open``, ``input`` or ``print``; no ``global`` statement and no ``functools`` cache
    decorator; and no name in a module or class body bound to a mutable container (a dict,
    list or set display or comprehension, or a call of ``dict``, ``list``, ``set``,
    ``defaultdict``, ``OrderedDict``, …). Constants are tuples, frozensets or
    ``MappingProxyType``; the entries of ``ALLOWED_CORE_STATE`` are the only exceptions.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found.extend(
                (line, alias.name, "import")
                for alias in node.names
                if alias.name.split(".")[0] in _FORBIDDEN_MODULES
            )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top in _FORBIDDEN_MODULES:
                found.append((line, node.module, "import"))
            found.extend(
                (line, f"{top}.{alias.name}", "import")
                for alias in node.names
                if (top, alias.name) in _FORBIDDEN_ATTRIBUTES or alias.name == "environ"
            )
        elif isinstance(node, ast.Attribute):
            owner = _dotted(node.value)
            if (
                (owner.split(".")[-1], node.attr) in _FORBIDDEN_ATTRIBUTES
                or node.attr == "environ"
                or owner in _FORBIDDEN_MODULES
            ):
                found.append((line, f"{owner}.{node.attr}", "use"))
        elif isinstance(node, ast.Name) and node.id == "environ":
            found.append((line, "environ", "use"))
        elif isinstance(node, ast.Call) and _dotted(node.func) in _FORBIDDEN_CALLS:
            found.append((line, f"{_dotted(node.func)}(", "call"))
        elif isinstance(node, ast.Global):
            found.append((line, ", ".join(node.names), "global statement"))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if _dotted(target).split(".")[-1] in _CACHE_DECORATORS:
                    found.append((decorator.lineno, node.name, "cache decorator"))
    found.extend(_state_offences(tree.body, ""))
    return [
        f"{path.name}:{line}: {what}: {name}"
        for line, name, what in sorted(found)
        if (path.name, name) not in ALLOWED_CORE_STATE or what != "module-level mutable state"
    ]


def _core_modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def test_the_core_reaches_no_disk_environment_clock_or_process_state() -> None:
    modules = _core_modules()
    assert len(modules) >= 18
    assert [offence for path in modules for offence in core_offences(path)] == []


def test_every_allowed_piece_of_core_state_is_still_there() -> None:
    # A stale entry would let a new table of the same name in without a reason.
    for file, name in ALLOWED_CORE_STATE:
        tree = ast.parse((CORE / file).read_text(encoding="utf-8"))
        held = {n for _, n, _ in _state_offences(tree.body, "")}
        assert name in held, f"{file}: {name} is gone; remove it from ALLOWED_CORE_STATE"


@pytest.mark.parametrize(
    ("source", "offence"),
    [
        ("import os\n", "import: os"),
        ("from os.path import join\n", "import: os.path"),
        ("import time\n", "import: time"),
        ("def f(os):\n    return os.getcwd()\n", "use: os.getcwd"),
        ("from datetime import datetime\nx = datetime.now()\n", "use: datetime.now"),
        ("import datetime\nx = datetime.date.today()\n", "use: datetime.date.today"),
        ("import sys\nx = sys.stdin.read()\n", "use: sys.stdin"),
        ("from sys import stdin\n", "import: sys.stdin"),
        ("def f(p):\n    return open(p)\n", "call: open("),
        ("_seen = {}\n", "module-level mutable state: _seen"),
        ("TABLE: dict[str, int] = {'a': 1}\n", "module-level mutable state: TABLE"),
        ("import collections\n_m = collections.OrderedDict()\n", "mutable state: _m"),
        ("_d = dict.fromkeys('ab')\n", "module-level mutable state: _d"),
        ("class C:\n    shared = []\n", "module-level mutable state: C.shared"),
        ("_k = [] + [1]\n", "module-level mutable state: _k"),
        ("_n = 0\ndef f():\n    global _n\n", "global statement: _n"),
        ("import functools\n@functools.lru_cache(8)\ndef f(): ...\n", "cache decorator: f"),
    ],
)
def test_the_core_check_reports_a_planted_offence(
    source: str, offence: str, tmp_path: Path
) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(source, encoding="utf-8")
    found = core_offences(planted)
    assert len(found) == 1 and found[0].endswith(offence), found


def test_the_core_check_lets_immutable_constants_and_allowed_state_pass(tmp_path: Path) -> None:
    planted = tmp_path / "params.py"
    planted.write_text(
        "from types import MappingProxyType\n__all__ = ['f']\n"
        "A = (1, 2)\nB = frozenset({'x'}) | {'y'}\nC = MappingProxyType({'k': [1]})\n"
        "_validators: dict[str, object] = {}\n",
        encoding="utf-8",
    )
    assert core_offences(planted) == []


def test_every_init_module_but_the_public_face_holds_at_most_a_docstring() -> None:
    inits = sorted(path for path in KERNEL.rglob("__init__.py") if path != KERNEL / "__init__.py")
    assert len(inits) >= 10
    offenders = []
    for path in inits:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        if body:
            offenders.append(f"{path.relative_to(ROOT)}:{body[0].lineno}")
    assert offenders == []


_BARE = frozenset({"kernel", "primitives"})
_PREFIXED_TREES = ("kernel", "primitives", "tests", "bench", "scripts")


def bare_imports(path: Path) -> list[str]:
    """Each import of ``kernel``/``primitives`` without the ``kiwi_mcp.`` prefix, as
    ``file:line: name`` — ``import_module("kernel.…")`` included."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and _dotted(node.func).split(".")[-1] == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        line = getattr(node, "lineno", 0)
        found.extend(f"{path.name}:{line}: {name}" for name in names if name.split(".")[0] in _BARE)
    return found


def test_every_import_of_the_kernel_and_primitives_is_prefixed() -> None:
    sources = [
        path
        for tree in _PREFIXED_TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    assert len(sources) >= 100
    assert [offence for path in sources for offence in bare_imports(path)] == []


def test_the_prefix_check_reports_bare_imports(tmp_path: Path) -> None:
    planted = tmp_path / "bare.py"
    planted.write_text(
        "import kernel\nfrom primitives.process import run_process\n"
        "from kernel.core import ids\nimport importlib\nimportlib.import_module('kernel.x')\n"
        "from kiwi_mcp.kernel import core\nfrom . import kernel as k\n",
        encoding="utf-8",
    )
    assert bare_imports(planted) == [
        "bare.py:1: kernel",
        "bare.py:2: primitives.process",
        "bare.py:3: kernel.core",
        "bare.py:5: kernel.x",
    ]
