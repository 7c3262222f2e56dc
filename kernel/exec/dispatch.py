"""From a final config to a primitive call, and from its result to envelope data (SPEC §5.5, §6).

This is the only module that talks to ``primitives``. It maps the primitives' own errors
onto the kernel's error tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.errors import (
    ConfigInvalid,
    ExecutionFailed,
    ExecutionTimeout,
    KiwiError,
    error_for_code,
)
from kiwi_mcp.primitives.errors import PrimitiveError, PrimitiveTimeout
from kiwi_mcp.primitives.process import ProcessSpec, run_process

if TYPE_CHECKING:
    from kiwi_mcp.primitives.http_client import HttpClient
    from kiwi_mcp.primitives.sinks import Sink

__all__ = ["EventHook", "run_http", "run_subprocess", "sink_path"]

EventHook = Callable[[dict[str, Any]], None]
_STDERR_TAIL = 4000
_NON_NAME = re.compile(r"[^A-Z0-9_]")


def _param_env(prefix: str, params: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            continue  # only top-level scalars; the whole params arrive as JSON on stdin
        out[prefix + _NON_NAME.sub("_", key.upper())] = text
    return out


def _map_primitive_error(exc: PrimitiveError) -> KiwiError:
    cls = error_for_code(exc.code)
    if cls is KiwiError:
        cls = ExecutionFailed
    return cls(exc.message, details=exc.details)


async def run_subprocess(
    config: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    params: Mapping[str, Any],
    on_event: EventHook | None,
    project_path: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run the subprocess primitive; returns (data, meta.process).

    With ``detach: true`` the child is only started: data is ``{pid, started_at}``, meta
    ``{pid, detached: true, log}`` (the log relative to ``project_path``), and the ``log``
    (relative paths below ``project_path``) must be inside ``<project_path>/.ai/``.

    Raises:
        ExecutionFailed: non-zero exit, a JSON ``{"ok": false}`` result, or a command that
            cannot start. ExecutionTimeout: the run passed its timeout. ConfigInvalid: a
            bad setting, or a detached ``log`` missing or outside the project's ``.ai/``.
    """
    child_env = dict(env)
    child_env.update(config.get("env") or {})
    prefix = config.get("param_env_prefix")
    if prefix:
        child_env.update(_param_env(prefix, params))
    if config.get("detach"):
        return _detach(config, child_env, project_path)
    try:
        spec = ProcessSpec(
            command=config["command"],
            args=tuple(config.get("args") or ()),
            cwd=config.get("cwd"),
            env=child_env,
            input=config.get("input"),
            timeout=float(config.get("timeout", 300)),
            max_output=int(config.get("max_output", 8 * 1024 * 1024)),
            stream=bool(config.get("stream", False)),
        )
        result = await run_process(spec, on_event=on_event)
    except PrimitiveTimeout:
        raise ExecutionTimeout(
            f"{Path(config['command']).name} did not finish within "
            f"{float(config.get('timeout', 300)):g} s; its process group was killed",
        ) from None
    except PrimitiveError as exc:
        raise _map_primitive_error(exc) from None
    meta = {
        "exit_code": result.exit_code,
        "stderr": result.stderr[-_STDERR_TAIL:],
        "truncated": result.truncated,
        "duration_ms": result.duration_ms,
    }
    has_json, parsed = result.has_json, result.parsed
    if not has_json and config.get("result") == "last_line":
        has_json, parsed = _last_line_json(result.stdout)
    if result.exit_code != 0:
        message = f"{Path(spec.command).name} exited with code {result.exit_code}"
        if has_json and isinstance(parsed, dict) and parsed.get("ok") is False:
            message = _tool_error_message(parsed, message)
        raise ExecutionFailed(message, details={"process": meta})
    if has_json:
        if isinstance(parsed, dict) and parsed.get("ok") is False:
            raise ExecutionFailed(
                _tool_error_message(parsed, "the tool reported a failure"),
                details={"process": meta},
            )
        return parsed, meta
    return {"stdout": result.stdout}, meta


def _last_line_json(stdout: str) -> tuple[bool, Any]:
    """``result: last_line``: a streaming tool's data is its last non-empty stdout line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return False, None
    try:
        return True, json.loads(lines[-1])
    except ValueError:
        return False, None


def _detach(
    config: Mapping[str, Any], env: Mapping[str, str], project_path: Path | None
) -> tuple[Any, dict[str, Any]]:
    from kiwi_mcp.primitives.detached import start_detached

    state, target = _detached_log(config.get("log"), project_path)
    try:
        spec = ProcessSpec(
            command=config["command"],
            args=tuple(config.get("args") or ()),
            cwd=config.get("cwd"),
            env=env,
            input=config.get("input"),
            stream=bool(config.get("stream", False)),
            detach=True,
            log=str(target),
        )
        started = start_detached(spec)
    except PrimitiveError as exc:
        raise _map_primitive_error(exc) from None
    meta = {
        "pid": started.pid,
        "detached": True,
        "log": target.relative_to(state.parent).as_posix(),
    }
    return started.to_dict(), meta


def _detached_log(log: Any, project_path: Path | None) -> tuple[Path, Path]:
    """The project's real ``.ai/`` folder and the detached child's log inside it.

    A relative ``log`` is below the project root; symlinks are followed before the check, so
    a link out of ``.ai/`` does not pass (the primitive refuses a link as the log itself).

    Raises ConfigInvalid naming ``log`` when it is missing or outside ``<project>/.ai/``.
    """
    hint = 'Set log to a file below .ai/, e.g. log: "${project.path}/.ai/threads/<id>/runner.log".'
    if project_path is None:
        raise ConfigInvalid(
            "log: a detached process needs the project root to place its log",
            hint=hint,
            details={"field": "log"},
        )
    if not isinstance(log, str) or not log or "\0" in log:
        raise ConfigInvalid(
            "log: required with detach: true (a file inside the project's .ai/ folder)",
            hint=hint,
            details={"field": "log"},
        )
    state = project_path.resolve() / ".ai"
    target = (project_path / log).resolve()
    if target == state or not target.is_relative_to(state):
        raise ConfigInvalid(
            f"log: a detached process's log must be inside the project's .ai/ folder, got {log!r}",
            hint=hint,
            details={"field": "log", "log": log},
        )
    return state, target


def _tool_error_message(parsed: Mapping[str, Any], fallback: str) -> str:
    error = parsed.get("error")
    if isinstance(error, Mapping):
        kind = error.get("type")
        message = str(error.get("message", fallback))
        return f"{kind}: {message}" if kind else message
    if error:
        return str(error)
    return fallback


def _build_sinks(stream: Mapping[str, Any], project_path: Path) -> list[Sink]:
    from kiwi_mcp.primitives.sinks import FileSink, NullSink, ReturnSink

    sinks: list[Sink] = []
    try:
        for entry in stream.get("sinks", [{"type": "return"}]):  # [] is no sink at all
            kind = entry["type"]
            if kind == "return":
                sinks.append(ReturnSink(max_events=int(entry.get("max_events", 10_000))))
            elif kind == "file":
                sinks.append(FileSink(sink_path(entry["path"], project_path)))
            else:
                sinks.append(NullSink())
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def sink_path(path: str, project_path: Path) -> Path:
    """A file sink's path: relative paths are below the project root."""
    given = Path(path)
    return given if given.is_absolute() else project_path / given


async def run_http(
    config: Mapping[str, Any],
    *,
    client: HttpClient,
    project_path: Path,
    on_event: EventHook | None,
) -> tuple[Any, dict[str, Any]]:
    """Run the http_client primitive; returns (data, meta.http).

    Raises:
        HttpError: a final status ≥ 400, a connection failure or an error event in a stream.
        ExecutionTimeout: connect/read timeout, including a stalled stream.
    """
    from kiwi_mcp.primitives.http_client import NO_BODY, HttpSpec, RetryPolicy
    from kiwi_mcp.primitives.sinks import ReturnSink

    retry_config = config.get("retry") or {}
    retry = RetryPolicy(
        attempts=int(retry_config.get("attempts", 1)),
        backoff_s=float(retry_config.get("backoff_s", 0.5)),
        max_backoff_s=float(retry_config.get("max_backoff_s", 30.0)),
        on=frozenset(retry_config.get("on", (429, 500, 502, 503, 504, 529))),
    )
    stream = config.get("stream")
    try:
        spec = HttpSpec(
            url=config["url"],
            method=str(config.get("method", "GET")).upper(),
            query=config.get("query") or {},
            headers=config.get("headers") or {},
            json=config.get("json", NO_BODY),
            body=config.get("body"),
            timeout=float(config.get("timeout", 30)),
            retry=retry,
            stream=bool(stream),
        )
        sinks = _build_sinks(stream, project_path) if stream else []
        result = await client.request(spec, sinks=sinks, on_event=on_event)
    except PrimitiveError as exc:
        raise _map_primitive_error(exc) from None
    meta = {
        "status": result.status,
        "headers": {k: v for k, v in result.headers.items() if k.lower() != "set-cookie"},
        "attempts": result.attempts,
        "duration_ms": result.duration_ms,
    }
    if stream:
        meta["events"] = result.event_count
        returned = next((s for s in sinks if isinstance(s, ReturnSink)), None)
        data: Any = returned.result() if returned is not None else {"events": [], "dropped": 0}
        return data, meta
    return result.body, meta
