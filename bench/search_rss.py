"""Where a serving process's RSS goes (bench helper for bench_search.py, issue 19).

VmRSS counts anonymous memory (what the process allocated) and the resident pages of every
file it maps: shared libraries, the model table, and the index files read through a memory
map (usearch's view, tantivy's segments). This splits ``/proc/<pid>/smaps`` into those
groups, so a figure says which part grew.
"""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$")


def smaps_by_file(pid: str = "self") -> dict[str, int]:
    """Resident KiB per mapped path (``[anon]`` for anonymous memory, ``[heap]``…)."""
    out: dict[str, int] = {}
    current = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(1).strip() or "[anon]"
            continue
        if line.startswith("Rss:"):
            out[current] = out.get(current, 0) + int(line.split()[1])
    return out


def group(path: str, index_root: str) -> str:
    """The group of one mapping: an index engine, the model, a library or anonymous."""
    if path.startswith("[") or path.startswith("/memfd:") or path.endswith("(deleted)"):
        return "anonymous"
    if path.startswith(index_root):
        if path.endswith(".usearch"):
            return "index: vectors (usearch)"
        if "/keyword/" in path:
            return "index: keyword (tantivy)"
        return "index: other"
    if path.endswith(".safetensors"):
        return "model table"
    if ".so" in path or "python" in path:
        return "libraries"
    return "other files"


def rss_split(index_root: str, pid: str = "self") -> dict[str, float]:
    """MB per group, and per index file over 1 MB (``file <name>``)."""
    out: dict[str, float] = {}
    for path, kib in smaps_by_file(pid).items():
        name = group(path, index_root)
        out[name] = out.get(name, 0.0) + kib / 1024
        if path.startswith(index_root) and kib > 1024:
            out[f"file {Path(path).name}"] = out.get(f"file {Path(path).name}", 0.0) + kib / 1024
    return dict(sorted(out.items()))
