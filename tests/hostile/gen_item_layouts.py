"""Malformed tool files, the layout half: very long ids and values, signature-line
garbage, symlink loops, FIFOs and other odd files, temp-file names, and executes-through
chains that loop or never reach a primitive."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

from tests.hostile.item_shapes import BASE, ItemCase, one_file, py_tool, yaml_tool

__all__ = ["LAYOUTS"]


def _long(rng: random.Random) -> Iterator[ItemCase]:
    stem = "l" * 240
    yield ItemCase(
        "long-values",
        "long_id",
        f"bad/{stem}",
        (stem[:40], "segment"),  # a message may show a long id shortened
        files={f"project:bad/{stem}.yaml": yaml_tool(BASE)},
        must_fail=False,
    )
    deep = "/".join(f"{chr(97 + n)}" * 60 for n in range(9))
    yield ItemCase(
        "long-values",
        "deep_id",
        f"bad/{deep}",
        ("a" * 60, "item_id"),
        files={f"project:bad/{deep}.yaml": yaml_tool(BASE)},
        must_fail=False,
    )
    yield one_file(
        "long-values",
        "long_requires",
        yaml_tool({**BASE, "requires": [f"net.http:h{n}.test" for n in range(50_000)]}, big=True),
        (),
        must_fail=False,
    )
    yield one_file(
        "long-values",
        "long_secrets",
        yaml_tool({**BASE, "secrets": [f"S{n}" for n in range(50_000)]}, big=True),
        (),
        must_fail=False,
    )
    yield one_file(
        "long-values",
        "long_arg",
        yaml_tool(
            {**BASE, "config": {**BASE["config"], "args": ["-c", "pass", "a" * 200_000]}},
            big=True,
        ),
        ("args", "E2BIG", "argument"),
    )


def _signatures(rng: random.Random) -> Iterator[ItemCase]:
    body = yaml_tool(BASE)
    fake = f"# kiwi:signed:v1:2024-01-01T00:00:00Z:{'ab' * 32}:{'A' * 86}:{'cd' * 32}\n"
    for n, line in enumerate(
        [
            "# kiwi:signed:v1:garbage\n",
            "# kiwi:signed:v1:2024-01-01T00:00:00Z:zz:zz:zz\n",
            "# kiwi:signed:v2:2024-01-01T00:00:00Z:" + "ab" * 32 + ":x:" + "cd" * 32 + "\n",
            "# kiwi:signed:v1:" + "A" * 1_000_000 + "\n",
            "# kiwi:signed:v1:2024-01-01T00:00:00Z:\x00:\x00:\x00\n",
            fake + fake,
            "// kiwi:signed:v1:2024-01-01T00:00:00Z:" + "ab" * 32 + ":x:" + "cd" * 32 + "\n",
        ]
    ):
        yield one_file(
            "signature-garbage",
            f"sig_{n}",
            line.encode() + body,
            ("kiwi:signed", "signature", "sig"),
            strict_only=True,
        )
    yield one_file(
        "signature-garbage",
        "sig_wellformed_wrong",
        fake.encode() + body,
        ("signature", "hash", "integrity"),
        strict_only=True,
    )
    yield one_file(
        "signature-garbage",
        "sig_crlf",
        (fake + body.decode()).replace("\n", "\r\n").encode(),
        ("signature", "hash", "integrity"),
        strict_only=True,
    )


def _filesystem(rng: random.Random) -> Iterator[ItemCase]:
    yield ItemCase(
        "symlinks",
        "symlink_self_loop",
        "bad/self_loop",
        ("self_loop",),
        links={"project:bad/self_loop.yaml": "self_loop.yaml"},
    )
    yield ItemCase(
        "symlinks",
        "pair_loop",
        "bad/loop_b",
        ("loop_b",),
        links={"project:bad/loop_b.yaml": "loop_c.yaml", "project:bad/loop_c.yaml": "loop_b.yaml"},
    )
    yield ItemCase(
        "symlinks",
        "dangling",
        "bad/gone",
        ("gone",),
        links={"project:bad/gone.yaml": "/nonexistent-kiwi-hostile/gone.yaml"},
    )
    yield ItemCase(
        "symlinks",
        "dangling_relative",
        "bad/gone2",
        ("gone2",),
        links={"project:bad/gone2.yaml": "missing.yaml"},
    )
    yield ItemCase(
        "symlinks",
        "dir_loop",
        "bad/dirloop/dirloop/nothing",
        ("dirloop",),
        links={"project:bad/dirloop": "."},
    )
    yield ItemCase(
        "symlinks", "dev_zero", "bad/zero", ("zero",), links={"project:bad/zero.yaml": "/dev/zero"}
    )
    yield ItemCase(
        "symlinks",
        "dev_random",
        "bad/urandom",
        ("urandom",),
        links={"project:bad/urandom.py": "/dev/urandom"},
    )
    yield ItemCase(
        "symlinks",
        "outside_file",
        "bad/hostname",
        ("hostname",),
        links={"project:bad/hostname.yaml": "/etc/hostname"},
    )
    yield ItemCase("symlinks", "fifo", "bad/fifo", ("fifo",), fifos=("project:bad/fifo.yaml",))
    yield ItemCase(
        "symlinks",
        "folder_with_ext",
        "bad/folder",
        ("folder",),
        folders=("project:bad/folder.yaml",),
    )


def _temp_names(rng: random.Random) -> Iterator[ItemCase]:
    junk = b"version: [\n\x00garbage"
    for n, name in enumerate(
        [
            ".#tmpname.yaml",
            "#tmpname.yaml#",
            "tmpname.yaml~",
            ".tmpname.yaml.swp",
            "tmpname.yaml.tmp",
            "tmpname.yaml.orig",
            "4913",
            "Tmpname.yaml",
            "tmp name.yaml",
        ]
    ):
        stem = name.split(".yaml")[0].strip(".#").replace(" ", "_").lower() or "tmpname"
        yield ItemCase(
            "temp-names", f"temp_{n}", f"bad/{stem}", (stem,), files={f"project:bad/{name}": junk}
        )
    yield ItemCase(
        "temp-names",
        "shadow_good",
        "good/tool",
        (),
        files={
            "project:good/tool.py~": junk,
            "project:good/.#tool.py": junk,
            "project:good/#tool.py#": junk,
        },
        must_fail=False,
    )
    yield ItemCase(
        "temp-names",
        "emacs_lock_link",
        "good/tool",
        (),
        links={"project:good/.#tool.yaml": "root@host.1234:1700000000"},
        must_fail=False,
    )
    yield ItemCase(
        "temp-names",
        "same_id_two_ext",
        "bad/dup",
        ("dup",),
        files={"project:bad/dup.yaml": yaml_tool(BASE), "project:bad/dup.py": py_tool()},
    )


def _chain(stem: str, target: str) -> bytes:
    return yaml_tool(
        {
            **{k: v for k, v in BASE.items() if k != "config"},
            "executor_id": target,
            "description": stem,
        }
    )


def _chains(rng: random.Random) -> Iterator[ItemCase]:
    yield ItemCase(
        "exec-loops",
        "two_loop",
        "bad/loop_a",
        ("bad/loop_a", "bad/loop_b"),
        files={
            "project:bad/loop_a.yaml": _chain("a", "bad/loop_b"),
            "project:bad/loop_b.yaml": _chain("b", "bad/loop_a"),
        },
    )
    yield ItemCase(
        "exec-loops",
        "self_loop",
        "bad/loop_self",
        ("bad/loop_self",),
        files={"project:bad/loop_self.yaml": _chain("s", "bad/loop_self")},
    )
    three = {f"project:bad/tri_{x}.yaml": _chain(x, f"bad/tri_{y}") for x, y in ("ab", "bc", "ca")}
    yield ItemCase("exec-loops", "three_loop", "bad/tri_a", ("bad/tri_a",), files=three)
    long = {
        f"project:bad/link_{n:02}.yaml": _chain(f"l{n}", f"bad/link_{n + 1:02}") for n in range(11)
    }
    long["project:bad/link_11.yaml"] = _chain("end", "runtimes/bash")
    yield ItemCase("exec-loops", "too_long", "bad/link_00", ("bad/link_00", "10"), files=long)
    yield ItemCase(
        "exec-loops",
        "missing_link",
        "bad/to_nowhere",
        ("bad/nowhere",),
        files={"project:bad/to_nowhere.yaml": _chain("n", "bad/nowhere")},
    )
    yield ItemCase(
        "exec-loops",
        "to_directive",
        "bad/to_directive",
        ("bad/to_directive", "directive"),
        files={
            "project:bad/to_directive.yaml": _chain("d", "hostile_directive"),
            "project:../directives/hostile_directive.md": b"# A directive\n",
        },
    )
    yield ItemCase(
        "exec-loops",
        "null_executor",
        "bad/no_executor",
        ("executor_id", "no_executor"),
        files={
            "project:bad/no_executor.yaml": yaml_tool(
                {**BASE, "executor_id": None, "tool_type": "http"}
            )
        },
    )
    yield ItemCase(
        "exec-loops",
        "tier_violation",
        "bad/user_up",
        ("bad/user_up", "bad/proj_low", "tier"),
        files={
            "user:bad/user_up.yaml": _chain("u", "bad/proj_low"),
            "project:bad/proj_low.yaml": yaml_tool(BASE),
        },
    )
    yield ItemCase(
        "exec-loops",
        "impostor_primitive",
        "good/tool",
        (),
        files={
            "project:primitives/subprocess.yaml": yaml_tool(
                {
                    **BASE,
                    "executor_id": None,
                    "tool_type": "primitive",
                    "config": {"command": "false"},
                }
            )
        },
        must_fail=False,
    )


LAYOUTS: Final = (_long, _signatures, _filesystem, _temp_names, _chains)
