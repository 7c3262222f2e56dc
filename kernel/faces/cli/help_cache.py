"""``kiwi --help`` (and a bare ``kiwi``) from a text argparse rendered before.

Building the parser (argparse, typing, 71 subparsers) is most of what ``kiwi --help`` costs,
and the top-level help is the same text whenever its inputs are: so the text is kept with
them, and a hit needs every one unchanged. The inputs are the Kiwi and Python versions,
``sys.path``, the width argparse wraps at, the locale variables gettext reads, and the
(mtime, size) of every module file that was loaded when the text was rendered — the command
modules, ``help_texts``, argparse itself. An edited help string, another terminal width or
another Python is a miss; a miss is the argparse path, which keeps its text again.

The file sits beside ``main``'s bytecode (``__pycache__``, or its place under
``sys.pycache_prefix``) and only if that folder exists: where Python keeps no bytecode, no
help is kept either. It is written to a temp file renamed over the old one, so a reader sees
one whole text or the other; a file that cannot be read or written only costs the build.

Only ``os`` and ``sys`` are imported here: importing this module must stay cheaper than
what it saves.
"""

from __future__ import annotations

import os
import sys

from kiwi_mcp.kernel._version import __version__

__all__ = ["read", "store", "width"]

_FORMAT = "kiwi-help 1"
#: what gettext.find reads, in its order; a translated "usage:" would change the text
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
#: taken before the parser is built, whose imports could add to it: ``read`` and ``store``
#: of one run must agree
_SEARCH_PATH = tuple(sys.path)


def width() -> int:
    """The columns argparse's formatter gets from ``shutil.get_terminal_size``: ``COLUMNS``
    when it is a positive number, else the width of stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    if stdout is None:
        return 80
    try:
        return os.get_terminal_size(stdout.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def read() -> str | None:
    """The kept top-level help for this width and these inputs, or None (a miss)."""
    columns = width()
    try:
        with open(_path(columns), encoding="utf-8", newline="") as kept:
            text = kept.read()
    except (OSError, ValueError):
        return None
    header, blank, body = text.partition("\n\n")
    key, *files = header.split("\n")
    if not blank or not files or key != _key(columns):
        return None
    for line in files:
        stamp, _, path = line.partition(" /")
        try:
            info = os.stat("/" + path)
        except OSError:
            return None
        if stamp != f"{info.st_mtime_ns} {info.st_size}":
            return None
    return body


def store(text: str) -> None:
    """Keep ``text``, the top-level help argparse is about to print, for the next ``read``.

    Nothing is kept when argparse would wrap at another width than ``width`` says, or when
    a loaded module's file cannot be stamped (a change to it could not be seen).
    """
    import shutil

    columns = width()
    if shutil.get_terminal_size().columns != columns:
        return
    stamps = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        try:
            info = os.stat(path)
        except OSError:
            return
        if "\n" in path:
            return
        stamps.add(f"{info.st_mtime_ns} {info.st_size} {path}")
    target = _path(columns)
    temp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temp, "w", encoding="utf-8", newline="") as out:
            out.write("\n".join([_key(columns), *sorted(stamps)]) + "\n\n" + text)
        os.replace(temp, target)
    except (OSError, ValueError):
        try:  # noqa: SIM105 - contextlib costs more start-up than all of this module
            os.unlink(temp)
        except OSError:
            pass


def _key(columns: int) -> str:
    # repr: one line whatever the values hold, and no two different inputs give the same one
    locale = tuple(os.environ.get(name) for name in _LOCALE_VARIABLES)
    return repr((_FORMAT, __version__, sys.version, _SEARCH_PATH, columns, locale))


def _path(columns: int) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = sys.pycache_prefix
    folder = (
        os.path.join(prefix, here.lstrip(os.sep)) if prefix else os.path.join(here, "__pycache__")
    )
    return os.path.join(folder, f"kiwi-help-{columns}.txt")
