"""Laws of coverage and attenuation, checked with Hypothesis against a naive reference."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

from hypothesis import given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.trust.capabilities import CapabilitySet, covers
from kiwi_mcp.kernel.trust.globs import glob_covers

PATH_PARTS = ["a", "b", "ab", "ba", "*", "a*", "*b", "**"]
CONCRETE_PARTS = ["a", "b", "ab", "ba", "aab"]
# Every concrete path of up to three segments over CONCRETE_PARTS.
UNIVERSE = [
    "/".join(combo) for n in range(1, 4) for combo in itertools.product(CONCRETE_PARTS, repeat=n)
]

path_globs = st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=4).map("/".join)
concrete_paths = st.sampled_from(UNIVERSE)
host_globs = st.lists(
    st.sampled_from(["a", "b", "ex", "*", "**", "e*"]), min_size=1, max_size=4
).map(".".join)
NAMES = ["fs.read", "fs.write", "tool.execute", "tool.load"]
caps = st.one_of(
    st.builds(lambda n, s: f"{n}:{s}", st.sampled_from(NAMES), path_globs),
    st.sampled_from(NAMES),
    st.builds(lambda s: f"net.http:{s}", host_globs),
    st.builds(lambda s, p: f"net.http:{s}:{p}", host_globs, st.sampled_from([80, 443])),
)


def reference_match(pattern: list[str], parts: list[str]) -> bool:
    """Straight from the SPEC's words: '**' spans whole segments, '*' stays in one."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(reference_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and reference_match(rest, parts[1:])


@given(path_globs, concrete_paths)
def test_concrete_coverage_agrees_with_the_reference_matcher(glob: str, path: str) -> None:
    expected = reference_match(glob.split("/"), path.split("/"))
    assert glob_covers(glob, path, "path") is expected


@given(path_globs, path_globs)
@settings(max_examples=300)
def test_glob_coverage_is_sound_over_every_small_path(granted: str, wanted: str) -> None:
    if glob_covers(granted, wanted, "path"):
        for path in UNIVERSE:
            if reference_match(wanted.split("/"), path.split("/")):
                assert reference_match(granted.split("/"), path.split("/")), path


@given(caps)
def test_coverage_is_reflexive(cap: str) -> None:
    assert covers(cap, cap)


@given(caps, caps, caps)
@settings(max_examples=300)
def test_coverage_is_transitive(a: str, b: str, c: str) -> None:
    if covers(a, b) and covers(b, c):
        assert covers(a, c)


@given(path_globs)
def test_fs_write_implies_fs_read_of_the_same_scope(scope: str) -> None:
    assert covers(f"fs.write:{scope}", f"fs.read:{scope}")
    assert not covers(f"fs.read:{scope}", f"fs.write:{scope}")


@given(st.lists(caps, max_size=4), st.lists(caps, max_size=6), concrete_paths)
@settings(max_examples=200)
def test_attenuation_never_widens(granted: list[str], requested: list[str], path: str) -> None:
    parent = CapabilitySet.from_strings(granted)
    child = parent.attenuate(requested)
    for cap in child.to_list():
        assert parent.covers(cap)
        assert cap in requested
    for name in NAMES:
        if child.covers(f"{name}:{path}"):
            assert parent.covers(f"{name}:{path}")


SMALL_GLOBS = ["/".join(combo) for n in (1, 2) for combo in itertools.product(PATH_PARTS, repeat=n)]


def test_glob_coverage_is_transitive_and_sound_for_every_short_glob() -> None:
    matches = {
        glob: {p for p in UNIVERSE if reference_match(glob.split("/"), p.split("/"))}
        for glob in SMALL_GLOBS
    }
    table = {(g, w): glob_covers(g, w, "path") for g in SMALL_GLOBS for w in SMALL_GLOBS}
    for (g, w), covered in table.items():
        if covered:
            assert matches[w] <= matches[g], (g, w)
            for c in SMALL_GLOBS:
                if table[(w, c)]:
                    assert table[(g, c)], (g, w, c)
    # Exact where it can be: a few inclusions that must be proven, not just allowed.
    assert table[("**", "a/**")] and table[("a/**", "a/*")] and table[("*", "a*")]
