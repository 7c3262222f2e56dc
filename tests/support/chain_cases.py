"""The chain cases of ``tests/fixtures/chains/``: reading them, splitting them, checking them.

A case names the files of a project space, a user space and (optionally) a system space,
the tool to ask for with its params, and what must come out: the chain and a subset of the
final config, or an error code with its chain and message fragments. Adding a case needs no
new Python: ``needs_the_disk`` sends it to one of two runners.

* ``tests/core/test_chain_cases.py`` plans it over values: :class:`MemorySpaces` builds the
  ``LoadedItem`` records from the case's bytes, and :func:`plan_in_memory` runs the core's
  steps (resolve, params, static plan, template, ``config_schema``) in SPEC §5.2 order.
* ``tests/exec/test_chain_cases_disk.py`` writes it into a temp folder and asks a
  ``Kernel``: for what only the store on disk decides (symlinks, shadowing, bare names,
  ambiguity, a manifest).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from kiwi_mcp.kernel.core.chain import Chain, resolve_chain
from kiwi_mcp.kernel.core.ids import EXTENSIONS, check_id, is_item_name
from kiwi_mcp.kernel.core.params import check_config, validate_params
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.core.spaces import SPACE_ORDER, ItemFile, LoadedItem, Located, SpaceName
from kiwi_mcp.kernel.core.static_plan import StaticPlan, static_plan
from kiwi_mcp.kernel.core.templating import TemplateContext
from kiwi_mcp.kernel.errors import InvalidId, ItemNotFound, KiwiError
from kiwi_mcp.kernel.store.paths import system_space_root

__all__ = [
    "CASES",
    "MemoryPlan",
    "MemorySpaces",
    "check_error",
    "check_plan",
    "load_case",
    "needs_the_disk",
    "plan_in_memory",
]

CASES = sorted((Path(__file__).parent.parent / "fixtures" / "chains").glob("*.yaml"))
#: Where the in-memory spaces say they are; nothing is read from or written to these.
ROOTS: Mapping[SpaceName, PurePosixPath] = {
    "project": PurePosixPath("/case/project/.ai"),
    "user": PurePosixPath("/case/user"),
    "system": PurePosixPath("/case/system"),
}
_SPACES: Mapping[str, SpaceName] = {name: name for name in SPACE_ORDER}
HOST_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/case"}


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a mapping"
    return case


@functools.cache
def shipped_system_files() -> Mapping[str, str]:
    """The shipped system space's tool files, as a case would name them (``system/tools/…``),
    read once."""
    root = system_space_root()
    found = {}
    for path in sorted((root / "tools").rglob("*")):
        rel = path.relative_to(root / "tools")
        named = all(is_item_name(part) for part in rel.with_suffix("").parts)
        if path.is_file() and path.suffix in EXTENSIONS["tool"] and named:
            found[f"system/tools/{rel.as_posix()}"] = path.read_text(encoding="utf-8")
    return found


def _tool_ids(files: Mapping[str, str]) -> dict[tuple[str, str], list[str]]:
    """(space, tool id) → the case paths holding it."""
    ids: dict[tuple[str, str], list[str]] = {}
    for rel in files:
        space, _, inner = rel.partition("/")
        folder, _, name = inner.partition("/")
        if folder == "tools":
            ids.setdefault((space, str(PurePosixPath(name).with_suffix(""))), []).append(rel)
    return ids


def needs_the_disk(case: Mapping[str, Any]) -> str | None:
    """Why only a ``Kernel`` over real files can run ``case``, or None when values can."""
    files: Mapping[str, str] = case.get("files") or {}
    expect = case["expect"]
    ids = _tool_ids({**files, **(shipped_system_files() if not _has_system(files) else {})})
    if case.get("symlinks"):
        return "a symlink: where it points is a question for the file system"
    if _has_system(files):
        return "a system space of its own, which the kernel checks against its manifest"
    if "shadowed" in expect or "ignored" in expect:
        return "which files were shadowed or ignored is the store's account of a space"
    if expect.get("error", {}).get("code") == "AMBIGUOUS_ID" or any(
        len(paths) > 1 for paths in ids.values()
    ):
        return "ambiguity is decided by the store's index of a space"
    if any(space != "system" and tool.startswith("primitives/") for space, tool in ids):
        return "only the store ignores a primitive outside the system space"
    ask = case["ask"]
    if "/" not in ask and _valid_id(ask) and not any(tool == ask for _, tool in ids):
        return "a bare name is resolved by the store's index"
    return None


def _has_system(files: Mapping[str, str]) -> bool:
    return any(rel.startswith("system/") for rel in files)


def _valid_id(text: str) -> bool:
    try:
        check_id(text)
    except InvalidId:
        return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class MemorySpaces:
    """The three spaces as bytes by (space, tool id); a link is parsed when it is loaded,
    as the store does, so a file off the chain may be broken."""

    files: Mapping[tuple[SpaceName, str], tuple[str, bytes]]

    @classmethod
    def from_case(cls, case: Mapping[str, Any]) -> MemorySpaces:
        named = {**shipped_system_files(), **(case.get("files") or {})}
        files: dict[tuple[SpaceName, str], tuple[str, bytes]] = {}
        for (space, tool), paths in _tool_ids(named).items():
            assert len(paths) == 1 and space in _SPACES, f"not a case for memory: {paths}"
            rel = paths[0]
            files[(_SPACES[space], tool)] = (PurePosixPath(rel).suffix, named[rel].encode("utf-8"))
        return cls(files=files)

    def load(self, tool_id: str, within: Sequence[SpaceName] = SPACE_ORDER) -> LoadedItem:
        """The tool in the first space of ``within`` that holds it.

        Raises:
            InvalidId, ItemNotFound, ParseError: as the store would.
        """
        check_id(tool_id)
        for space in SPACE_ORDER:
            found = self.files.get((space, tool_id)) if space in within else None
            if found is None:
                continue
            ext, data = found
            file = ItemFile(
                kind="tool",
                id=tool_id,
                space=space,
                path=Path(ROOTS[space] / "tools" / f"{tool_id}{ext}"),
                ext=ext,
            )
            item = parse_item("tool", tool_id, ext, data, file.label)
            sha256 = hashlib.sha256(data).hexdigest()
            return LoadedItem(located=Located(file=file), item=item, data=data, sha256=sha256)
        plural = "s" if len(within) > 1 else ""
        raise ItemNotFound(
            f"no tool {tool_id!r} in the {'/'.join(within)} space{plural}", item_id=tool_id
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryPlan:
    chain: Chain
    params: dict[str, Any]
    config: dict[str, Any]


def plan_in_memory(spaces: MemorySpaces, tool_id: str, params: Mapping[str, Any]) -> MemoryPlan:
    """``Kernel.plan`` without verification, lockfile or environment lookup, all callers
    holding every capability: resolve → static plan → params → template → ``config_schema``.

    The environment is the host's plus the interpreter each ``env_config`` names, found at
    ``/usr/bin/<binary>``. As in ``exec/plan.py``, a static plan's error waits until the
    params are checked, and every error after resolution carries the chain.

    Raises:
        KiwiError: the first check that failed.
    """
    chain = resolve_chain(spaces.load(tool_id), spaces.load)
    try:
        return _finish(chain, params)
    except KiwiError as err:
        raise err.with_context(chain=list(chain.ids)) from None


def _finish(chain: Chain, params: Mapping[str, Any]) -> MemoryPlan:
    static: StaticPlan | None = None
    failed: KiwiError | None = None
    try:
        static = static_plan(chain)
    except KiwiError as err:
        failed = err
    asked, link = chain.asked, chain.links[0]
    checked = validate_params(
        asked.parameters, dict(params), tool_id=asked.id, label=link.file.label
    )
    if failed is not None:
        raise failed
    assert static is not None
    env = dict(HOST_ENV)
    interpreter = static.env_config.interpreter
    if interpreter is not None:
        env[interpreter.var] = f"/usr/bin/{interpreter.binary}"
    path = link.file.path
    ctx = TemplateContext(
        params=checked,
        env=env,
        tool={"path": str(path), "dir": str(path.parent), "id": asked.id, "sha256": link.sha256},
        project_path=str(ROOTS["project"].parent),
        user_path=str(ROOTS["user"]),
    )
    config: dict[str, Any] = static.template(ctx).value
    for tool, each in zip(chain.tools, chain.links, strict=True):
        if tool.config_schema:
            check_config(tool.config_schema, config, link_id=tool.id, label=each.file.label)
    return MemoryPlan(chain=chain, params=checked, config=config)


def check_error(err: KiwiError, wanted: Mapping[str, Any]) -> None:
    """``err`` is what the case's ``expect.error`` says."""
    assert err.code == wanted["code"], f"{err.code}: {err}"
    if "chain" in wanted:
        assert list(err.chain) == wanted["chain"]
    for fragment in wanted.get("message_contains", []):
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
    if "candidates" in wanted:
        assert err.details["candidates"] == wanted["candidates"]


def check_plan(
    expect: Mapping[str, Any], chain: Chain, params: Mapping[str, Any], config: Any
) -> None:
    """A successful plan is what the case's ``expect`` says (``shadowed``/``ignored`` are
    the disk runner's to check)."""
    assert list(chain.ids) == expect["chain"]
    if "spaces" in expect:
        assert [link.file.space for link in chain.links] == expect["spaces"]
    if "params" in expect:
        assert params == expect["params"]
    if "config" in expect:
        _subset(expect["config"], config)


def _subset(expected: Any, actual: Any, where: str = "config") -> None:
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            if value == "<absent>":
                assert key not in actual, f"{where}.{key} should be absent, is {actual[key]!r}"
            else:
                assert key in actual, f"{where}.{key} missing from {actual!r}"
                _subset(value, actual[key], f"{where}.{key}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"
