"""Kiwi's Python tool runner: run ``execute(params, context)`` of one tool file.

Usage: ``python -I -S _python_runner.py <tool.py>`` with the params JSON on stdin. Whatever
the tool prints goes to stderr; only the JSON result is written to the real stdout. The file
is executed from the bytes whose SHA-256 the kernel verified (``KIWI_TOOL_SHA256``), so a
file swapped between the check and the run is refused. Imports stay minimal: start-up time
is part of every Python tool call.

``-S`` skips ``site`` at start-up (a third of a bare interpreter's start in a virtualenv,
mostly ``.pth`` files). It runs on the first import the standard library cannot satisfy, so
site-packages (and ``.pth`` paths) are there for any tool that needs them; ``exit``,
``quit`` and ``help`` are installed up front as ``site`` would.
"""

import sys

# The C half of ``os``, loaded with the interpreter: ``os`` itself costs ~2 ms without site.
try:
    import posix as _os
except ImportError:  # pragma: no cover - Windows
    import nt as _os


def _getenv(name):
    environ = _os.environ  # bytes keys on POSIX, str on Windows
    if isinstance(next(iter(environ), ""), bytes):
        value = environ.get(name.encode())
        return None if value is None else value.decode("utf-8", "surrogateescape")
    return environ.get(name)


class _LateSite:
    """Last on ``sys.meta_path``: on the first miss, run ``site`` and look again."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        sys.meta_path.remove(_LateSite)
        import site
        from importlib.machinery import PathFinder

        site.main()
        return PathFinder.find_spec(name, path, target)


if sys.flags.no_site:
    import _sitebuiltins
    import builtins

    _eof = "Ctrl-Z plus Return" if sys.platform == "win32" else "Ctrl-D (i.e. EOF)"
    builtins.exit = _sitebuiltins.Quitter("exit", _eof)
    builtins.quit = _sitebuiltins.Quitter("quit", _eof)
    builtins.help = _sitebuiltins._Helper()
    sys.meta_path.append(_LateSite)

try:  # the builtin module skips OpenSSL's start-up cost
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import sha256


try:
    # The C halves of the json package, without json.decoder's import of re (+ enum): that
    # import alone costs about half of a bare interpreter's start-up.
    import _json

    class _Ctx:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo = None

        @staticmethod
        def parse_constant(name):
            return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]

    _scan = _json.make_scanner(_Ctx())

    def _unserializable(value):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    _encode = _json.make_encoder(
        None, _unserializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def loads(text):
        start = len(text) - len(text.lstrip())
        value, end = _scan(text, start)
        if text[end:].strip():
            raise ValueError(f"extra data after the JSON value at {end}")
        return value

    def dumps(value):
        return "".join(_encode(value, 0))

except (ImportError, AttributeError, TypeError):  # pragma: no cover - other interpreters
    from json import dumps, loads


def _fail(out, kind, message):
    out.write(dumps({"ok": False, "error": {"type": kind, "message": message}}))
    out.flush()
    return 1


def _folder(path):
    if path.startswith("/"):
        return path.rpartition("/")[0] or "/"
    import os.path  # relative or Windows paths: the rare case pays for os

    return os.path.dirname(os.path.abspath(path))


def main():
    import io

    out = io.open(_os.dup(1), "w", encoding="utf-8")
    _os.dup2(2, 1)  # anything the tool prints (even from C code) lands on stderr
    if len(sys.argv) != 2:
        return _fail(out, "UsageError", "usage: _python_runner.py <tool.py>")
    path = sys.argv[1]
    with open(path, "rb") as handle:
        source = handle.read()
    expected = _getenv("KIWI_TOOL_SHA256") or ""
    if expected and sha256(source).hexdigest() != expected:
        return _fail(out, "IntegrityError", f"{path} changed after it was verified")
    try:
        params = loads(sys.stdin.buffer.read().decode("utf-8") or "{}")
        module = type(sys)("kiwi_tool")
        module.__file__ = path
        sys.modules["kiwi_tool"] = module
        sys.path.insert(0, _folder(path))
        exec(compile(source, path, "exec"), module.__dict__)
        execute = getattr(module, "execute", None)
        if not callable(execute):
            return _fail(out, "ToolError", f"{path} defines no execute(params, context)")
        context = {
            "project_path": _getenv("KIWI_PROJECT_PATH"),
            "tool_id": _getenv("KIWI_TOOL_ID"),
            "thread_id": _getenv("KIWI_THREAD_ID") or None,
            "token": _getenv("KIWI_TOKEN") or None,
        }
        result = execute(params, context)
        if hasattr(result, "__await__"):
            import asyncio

            async def _await(awaitable):
                return await awaitable

            result = asyncio.run(_await(result))
        text = dumps(result)
    except Exception as exc:  # the tool's own failure becomes a result, traceback to stderr
        import traceback

        traceback.print_exc()
        return _fail(out, type(exc).__name__, str(exc))
    out.write(text)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
