"""A protocol's ``llm:`` data (SPEC §12.1) compiled into frozen records, with errors that name
the field, what was wanted and what was found.

The data says everything about one wire format: where the request's parts go (``request``),
how the stream maps onto canonical events (``stream``, in the modes ``event_typed``,
``item_typed`` and ``delta_merge``), which counts the usage objects carry (``usage``), the stop
map (``stop``), the error classifier (``errors``) and the retry policy (``retry``). A provider's
config merges over its protocol's, so a provider may override any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kiwi_mcp.kernel.core.llm.paths import Getter, Path, compile_path, getter
from kiwi_mcp.kernel.errors import ConfigInvalid

__all__ = [
    "CANONICAL_STOPS",
    "ERROR_CLASSES",
    "Action",
    "DeltaMap",
    "ErrorMap",
    "ErrorRule",
    "Protocol",
    "RequestMap",
    "RetryPolicy",
    "UsageMap",
    "compile_protocol",
]

CANONICAL_STOPS: Final = frozenset(
    {"end", "tool", "length", "refusal", "pause", "context_exceeded", "filtered"}
)
ERROR_CLASSES: Final = frozenset(
    {"rate_limited", "overloaded", "retryable", "quota_exhausted", "auth", "invalid", "fatal"}
)
BLOCK_KINDS: Final = frozenset({"text", "tool_call", "thinking"})
_ACTIONS: Final = frozenset(
    {"start", "block_start", "delta", "block_stop", "stop", "end", "error", "ignore"}
)
_DELTA_FIELDS: Final = ("text", "args", "thinking")


@dataclass(frozen=True, slots=True)
class RequestMap:
    """Where the canonical request's parts go in the body (SPEC §12.4 → the wire)."""

    body: Mapping[str, Any]
    model: str
    max_tokens: str
    max_tokens_default: int
    temperature: str
    system: str  # "field" | "message"
    system_field: str
    system_role: str
    messages: str
    roles: Mapping[str, str]
    text: str  # "blocks" | "string"
    text_block: Any
    tool_call_place: str  # "block" | "field" | "entry"
    tool_call_field: str
    tool_call: Any
    tool_result_place: str  # "block" | "entry"
    tool_result_role: str
    tool_result: Any
    tools: str
    tool: Any


@dataclass(frozen=True, slots=True)
class Action:
    """What one typed event does: ``do`` and the paths it reads."""

    do: str
    paths: Mapping[str, Path]
    #: ``block_start``: wire block type → canonical kind; ``delta``: wire delta type → field
    kinds: Mapping[str, str]
    #: ``paths`` as functions (``paths.getter``), what the assembler calls
    get: Mapping[str, Getter]


@dataclass(frozen=True, slots=True)
class DeltaMap:
    """``delta_merge``: the paths into each chunk (Chat Completions' shape)."""

    done: str
    choices: Path
    text: Path
    refusal: Path
    thinking: Path
    tool_calls: Path
    tool_index: Path
    call_id: Path
    name: Path
    args: Path
    finish: Path
    usage: Path
    error: Path
    model: Path


@dataclass(frozen=True, slots=True)
class UsageMap:
    """Paths of the four canonical counts in a wire usage object (last value wins)."""

    input_tokens: Path
    output_tokens: Path
    cache_read_tokens: Path
    cache_write_tokens: Path
    #: the wire's input count includes the cached tokens (OpenAI); canonical input does not
    input_includes_cache: bool


@dataclass(frozen=True, slots=True)
class ErrorRule:
    statuses: frozenset[int]
    type: str | None
    code: str | None
    cls: str


@dataclass(frozen=True, slots=True)
class ErrorMap:
    type: Path
    code: Path
    message: Path
    request_id_headers: tuple[str, ...]
    rules: tuple[ErrorRule, ...]
    default: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """SPEC §12.3's retries as data (defaults as the official SDKs)."""

    max_retries: int = 2
    classes: frozenset[str] = frozenset({"rate_limited", "overloaded", "retryable"})
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    retry_after_cap_s: float = 60.0
    retry_incomplete: bool = True


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    mode: str
    request: RequestMap
    events: Mapping[str, tuple[Action, ...]]
    event_type: Path
    delta: DeltaMap | None
    usage: UsageMap
    stop: Mapping[str, str]
    errors: ErrorMap
    retry: RetryPolicy


class _Reader:
    """Typed access to one mapping of the ``llm`` section; failures name the full field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise _bad(where, "a mapping", data)
        self.data = data
        self.where = where

    def field(self, key: str) -> str:
        return f"{self.where}.{key}"

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise _bad(self.field(key), "a string", value)
        return value

    def choice(self, key: str, allowed: frozenset[str] | tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise _bad(self.field(key), f"one of {', '.join(sorted(allowed))}", value)
        return value

    def path(self, key: str, default: str = "") -> Path:
        return compile_path(self.text(key, default))

    def number(self, key: str, default: float, *, minimum: float = 0) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise _bad(self.field(key), f"a number ≥ {minimum:g}", value)
        return float(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise _bad(self.field(key), "a mapping", value)
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.data.get(key, {}), self.field(key))


def _bad(field: str, wanted: str, got: Any) -> ConfigInvalid:
    shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
    return ConfigInvalid(
        f"config {field}: wanted {wanted}, got {shown}",
        hint="Fix the protocol (or the provider that overrides it); SPEC §12.1 lists the fields.",
        details={"field": field},
    )


def _request(r: _Reader) -> RequestMap:
    return RequestMap(
        body=dict(r.mapping("body")),
        model=r.text("model", "model"),
        max_tokens=r.text("max_tokens", "max_tokens"),
        max_tokens_default=int(r.number("max_tokens_default", 4096, minimum=1)),
        temperature=r.text("temperature", "temperature"),
        system=r.choice("system", ("field", "message"), "field"),
        system_field=r.text("system_field", "system"),
        system_role=r.text("system_role", "system"),
        messages=r.text("messages", "messages"),
        roles={str(k): str(v) for k, v in r.mapping("roles").items()}
        or {"user": "user", "assistant": "assistant"},
        text=r.choice("text", ("blocks", "string"), "string"),
        text_block=r.data.get("text_block", {"type": "text", "text": "$.text"}),
        tool_call_place=r.choice("tool_call_place", ("block", "field", "entry"), "block"),
        tool_call_field=r.text("tool_call_field", "tool_calls"),
        tool_call=r.data.get("tool_call", {}),
        tool_result_place=r.choice("tool_result_place", ("block", "entry"), "block"),
        tool_result_role=r.text("tool_result_role", "user"),
        tool_result=r.data.get("tool_result", {}),
        tools=r.text("tools", "tools"),
        tool=r.data.get("tool", {}),
    )


def _action(raw: Any, where: str) -> Action:
    r = _Reader(raw, where)
    do = r.choice("do", _ACTIONS, "ignore")
    paths = {
        str(key): compile_path(str(value))
        for key, value in r.data.items()
        if key not in ("do", "kinds") and isinstance(value, str)
    }
    kinds = {str(k): str(v) for k, v in r.mapping("kinds").items()}
    wanted = BLOCK_KINDS if do == "block_start" else frozenset(_DELTA_FIELDS)
    for wire, canonical in kinds.items():
        if canonical not in wanted:
            raise _bad(f"{where}.kinds.{wire}", f"one of {', '.join(sorted(wanted))}", canonical)
    return Action(
        do=do, paths=paths, kinds=kinds, get={key: getter(path) for key, path in paths.items()}
    )


def _events(r: _Reader) -> dict[str, tuple[Action, ...]]:
    events: dict[str, tuple[Action, ...]] = {}
    for name, raw in r.mapping("events").items():
        where = r.field(f"events.{name}")
        listed = raw if isinstance(raw, list) else [raw]
        events[str(name)] = tuple(_action(a, f"{where}[{i}]") for i, a in enumerate(listed))
    return events


def _delta(r: _Reader) -> DeltaMap:
    return DeltaMap(
        done=r.text("done", "[DONE]"),
        choices=r.path("choices", "choices"),
        text=r.path("text", "delta.content"),
        refusal=r.path("refusal", "delta.refusal"),
        thinking=r.path("thinking", "delta.reasoning_content"),
        tool_calls=r.path("tool_calls", "delta.tool_calls"),
        tool_index=r.path("tool_index", "index"),
        call_id=r.path("call_id", "id"),
        name=r.path("name", "function.name"),
        args=r.path("args", "function.arguments"),
        finish=r.path("finish", "finish_reason"),
        usage=r.path("usage", "usage"),
        error=r.path("error", "error"),
        model=r.path("model", "model"),
    )


def _statuses(raw: Any, where: str) -> frozenset[int]:
    listed = raw if isinstance(raw, list) else [raw]
    out: set[int] = set()
    for item in listed:
        if isinstance(item, str) and len(item) == 3 and item.endswith("xx") and item[0].isdigit():
            base = int(item[0]) * 100
            out.update(range(base, base + 100))
        elif isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            out.add(item)
        else:
            raise _bad(where, "a status (e.g. 429), '4xx'/'5xx', or a list of them", item)
    return frozenset(out)


def _errors(r: _Reader) -> ErrorMap:
    rules = []
    raw_rules = r.data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise _bad(r.field("rules"), "a list of rules", raw_rules)
    for i, raw in enumerate(raw_rules):
        rule = _Reader(raw, r.field(f"rules[{i}]"))
        status = rule.data.get("status")
        rules.append(
            ErrorRule(
                statuses=frozenset() if status is None else _statuses(status, rule.field("status")),
                type=rule.data.get("type"),
                code=rule.data.get("code"),
                cls=rule.choice("class", ERROR_CLASSES, "fatal"),
            )
        )
    headers = r.data.get("request_id", ["request-id", "x-request-id"])
    if isinstance(headers, str):
        headers = [headers]
    return ErrorMap(
        type=r.path("type", "error.type"),
        code=r.path("code", "error.code"),
        message=r.path("message", "error.message"),
        request_id_headers=tuple(str(h).lower() for h in headers),
        rules=tuple(rules),
        default=r.choice("default", ERROR_CLASSES, "fatal"),
    )


def _retry(r: _Reader) -> RetryPolicy:
    classes = r.data.get("classes", ["rate_limited", "overloaded", "retryable"])
    if not isinstance(classes, list) or not set(classes) <= ERROR_CLASSES:
        raise _bad(r.field("classes"), f"a list of {', '.join(sorted(ERROR_CLASSES))}", classes)
    if "quota_exhausted" in classes:
        raise _bad(r.field("classes"), "no 'quota_exhausted' (never retried)", classes)
    return RetryPolicy(
        max_retries=int(r.number("max_retries", 2)),
        classes=frozenset(classes),
        backoff_s=r.number("backoff_s", 0.5),
        max_backoff_s=r.number("max_backoff_s", 8.0),
        retry_after_cap_s=r.number("retry_after_cap_s", 60.0),
        retry_incomplete=bool(r.data.get("retry_incomplete", True)),
    )


def compile_protocol(llm: Any) -> Protocol:
    """The records of a chain's merged ``config.llm``.

    Raises:
        ConfigInvalid: a field is missing or of the wrong shape (named in the message).
    """
    r = _Reader(llm, "llm")
    stream = r.sub("stream")
    mode = stream.choice("mode", ("event_typed", "item_typed", "delta_merge"), "event_typed")
    usage = r.sub("usage")
    stop = {str(k): str(v) for k, v in r.mapping("stop").items()}
    for wire, canonical in stop.items():
        if canonical not in CANONICAL_STOPS:
            raise _bad(
                f"llm.stop.{wire}", f"one of {', '.join(sorted(CANONICAL_STOPS))}", canonical
            )
    return Protocol(
        name=r.text("protocol", "custom"),
        mode=mode,
        request=_request(r.sub("request")),
        events=_events(stream) if mode != "delta_merge" else {},
        event_type=stream.path("type", "type"),
        delta=_delta(stream) if mode == "delta_merge" else None,
        usage=UsageMap(
            input_tokens=usage.path("input_tokens", "input_tokens"),
            output_tokens=usage.path("output_tokens", "output_tokens"),
            cache_read_tokens=usage.path("cache_read_tokens", "cache_read_tokens"),
            cache_write_tokens=usage.path("cache_write_tokens", "cache_write_tokens"),
            input_includes_cache=bool(usage.data.get("input_includes_cache", False)),
        ),
        stop=stop,
        errors=_errors(r.sub("errors")),
        retry=_retry(r.sub("retry")),
    )
