"""The subprocess primitive's records: ``ProcessSpec`` in, ``ProcessResult`` out (or
``DetachedResult`` for a child started with ``detach``).

Checks name the field and never echo an environment value (it may be a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import PrimitiveError

__all__ = ["DetachedResult", "ProcessResult", "ProcessSpec"]


def _config_error(message: str) -> PrimitiveError:
    return PrimitiveError("CONFIG_INVALID", message)


def check_command(command: object, args: object, cwd: object, env: Mapping[str, str]) -> None:
    """The checks a child's argv, folder and environment pass before anything runs (shared
    by ``ProcessSpec`` and the session primitive's ``SessionSpec``).

    Raises PrimitiveError ``CONFIG_INVALID`` naming the field; values of ``env`` are never
    echoed (they may hold secrets).
    """
    if not isinstance(command, str) or not command or "\0" in command:
        raise _config_error(f"command: expected a non-empty string, got {command!r}")
    if not isinstance(args, tuple) or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise _config_error("args: expected a tuple of strings without NUL characters")
    if cwd is not None and (not isinstance(cwd, str) or "\0" in cwd):
        raise _config_error(f"cwd: expected a path string, got {cwd!r}")
    if not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in k + v
        for k, v in env.items()
    ):
        raise _config_error("env: expected a mapping of NAME to string value")


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessSpec:
    """What to run. ``env`` is the child's whole environment (never merged with ours).

    With ``detach``, the child is started and left running: its stdout and stderr are
    appended to ``log`` (an absolute path, required then and only then), its stdin is
    ``/dev/null`` (so ``input`` and ``stream`` do not apply), and ``timeout``, ``max_output``
    and ``grace`` are not used.

    Raises ``PrimitiveError("CONFIG_INVALID")`` naming the field when a value is unusable.
    """

    command: str
    args: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    input: str | None = None
    timeout: float = 300.0
    max_output: int = 8 * 1024 * 1024
    stream: bool = False
    grace: float = 2.0
    detach: bool = False
    log: str | None = None

    def __post_init__(self) -> None:
        check_command(self.command, self.args, self.cwd, self.env)
        if self.input is not None and not isinstance(self.input, str):
            raise _config_error(f"input: expected a string, got {type(self.input).__name__}")
        for name in ("timeout", "grace"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise _config_error(f"{name}: expected a number ≥ 0, got {value!r}")
        if isinstance(self.max_output, bool) or not isinstance(self.max_output, int):
            raise _config_error(f"max_output: expected an integer, got {self.max_output!r}")
        if self.max_output < 0:
            raise _config_error(f"max_output: expected an integer ≥ 0, got {self.max_output}")
        self._check_detach()
        # A private read-only copy, so the caller mutating its dict cannot change a frozen spec.
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    def _check_detach(self) -> None:
        if not isinstance(self.detach, bool):
            raise _config_error(f"detach: expected a boolean, got {self.detach!r}")
        if self.log is not None and (
            not isinstance(self.log, str) or "\0" in self.log or not self.log.startswith("/")
        ):
            raise _config_error(f"log: expected an absolute path string, got {self.log!r}")
        if not self.detach:
            if self.log is not None:
                raise _config_error("log: only used with detach: true")
            return
        if self.log is None:
            raise _config_error("log: required with detach: true (where the child's output goes)")
        if self.input is not None:
            raise _config_error("input: not allowed with detach: true (stdin is /dev/null)")
        if self.stream:
            raise _config_error("stream: not allowed with detach: true (output goes to log)")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> ProcessSpec:
        """Build from the subprocess config of SPEC §6.1 (``args`` may be a list).

        Raises ``PrimitiveError("CONFIG_INVALID")`` for unknown keys or bad values.
        """
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(config) - known)
        if unknown:
            raise _config_error(f"{unknown[0]}: unknown subprocess setting")
        if "command" not in config:
            raise _config_error("command: required")
        values = dict(config)
        if isinstance(values.get("args"), list):
            values["args"] = tuple(values["args"])
        if values.get("env") is None:
            values.pop("env", None)
        elif not isinstance(values["env"], Mapping):
            raise _config_error("env: expected a mapping of NAME to string value")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The inverse of ``from_dict`` (``env`` values included: never log this whole)."""
        return {
            "command": self.command,
            "args": list(self.args),
            "cwd": self.cwd,
            "env": dict(self.env),
            "input": self.input,
            "timeout": self.timeout,
            "max_output": self.max_output,
            "stream": self.stream,
            "grace": self.grace,
            "detach": self.detach,
            "log": self.log,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessResult:
    """How the run ended. A non-zero ``exit_code`` is a result, not an error; a negative one
    is the signal that ended the process. ``parsed`` is stdout as one JSON value when it is
    one (``has_json``), else None."""

    exit_code: int
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_ms: float = 0.0
    parsed: Any = None
    has_json: bool = False

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "truncated": self.truncated,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_ms": self.duration_ms,
            "parsed": self.parsed,
            "has_json": self.has_json,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessResult:
        """The inverse of ``to_dict`` (``truncated`` is derived, so it is ignored)."""
        return cls(
            exit_code=int(data["exit_code"]),
            stdout=str(data["stdout"]),
            stderr=str(data["stderr"]),
            stdout_truncated=bool(data.get("stdout_truncated", False)),
            stderr_truncated=bool(data.get("stderr_truncated", False)),
            duration_ms=float(data.get("duration_ms", 0.0)),
            parsed=data.get("parsed"),
            has_json=bool(data.get("has_json", False)),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DetachedResult:
    """A detached child that is running: its ``pid`` (also its session and group id) and
    ``started_at``, the UTC time it was started as ISO 8601 with milliseconds."""

    pid: int
    started_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "started_at": self.started_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetachedResult:
        """The inverse of ``to_dict``."""
        return cls(pid=int(data["pid"]), started_at=str(data["started_at"]))
