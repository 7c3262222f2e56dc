"""One error tree, drawn once (STYLE §4): codes pinned, families whole, the drawing true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kiwi_mcp.kernel import errors
from kiwi_mcp.kernel.errors import KiwiError, error_for_code

KERNEL = Path(errors.__file__).resolve().parent

#: class → (code on the wire, family, builtin it also is). Codes never change (SPEC §5.5).
PINNED: dict[str, tuple[str, str | None, type[Exception] | None]] = {
    "InvalidId": ("INVALID_ID", "ResolveError", ValueError),
    "ItemNotFound": ("ITEM_NOT_FOUND", "ResolveError", LookupError),
    "AmbiguousId": ("AMBIGUOUS_ID", "ResolveError", LookupError),
    "ChainBroken": ("CHAIN_BROKEN", "ResolveError", None),
    "ParseError": ("PARSE_ERROR", "ItemError", ValueError),
    "ParamsInvalid": ("PARAMS_INVALID", "ItemError", ValueError),
    "ConfigInvalid": ("CONFIG_INVALID", "ItemError", ValueError),
    "TemplateError": ("TEMPLATE_ERROR", "ItemError", ValueError),
    "SignatureMissing": ("SIGNATURE_MISSING", "TrustError", None),
    "IntegrityFailed": ("INTEGRITY_FAILED", "TrustError", None),
    "SignatureUntrusted": ("SIGNATURE_UNTRUSTED", "TrustError", None),
    "TokenInvalid": ("TOKEN_INVALID", "TrustError", PermissionError),
    "KeyMissing": ("KEY_MISSING", "TrustError", LookupError),
    "KeyUnsafe": ("KEY_UNSAFE", "TrustError", PermissionError),
    "AuditUnavailable": ("AUDIT_UNAVAILABLE", "TrustError", None),
    "PinMismatch": ("PIN_MISMATCH", "TrustError", None),
    "LockfileError": ("LOCKFILE_ERROR", None, None),
    "LockfileMismatch": ("LOCKFILE_MISMATCH", "LockfileError", None),
    "AuthRequired": ("AUTH_REQUIRED", "AuthError", None),
    "BackendUnavailable": ("BACKEND_UNAVAILABLE", "AuthError", None),
    "ExecutionFailed": ("EXECUTION_FAILED", "RunError", None),
    "ExecutionTimeout": ("TIMEOUT", "RunError", TimeoutError),
    "HttpError": ("HTTP_ERROR", "RunError", None),
    "Cancelled": ("CANCELLED", "RunError", None),
    "UpstreamError": ("UPSTREAM_ERROR", "RunError", None),
    "LlmRateLimited": ("LLM_RATE_LIMITED", "LlmError", None),
    "LlmOverloaded": ("LLM_OVERLOADED", "LlmError", None),
    "LlmQuotaExhausted": ("LLM_QUOTA_EXHAUSTED", "LlmError", None),
    "LlmAuth": ("LLM_AUTH", "LlmError", None),
    "LlmInvalidRequest": ("LLM_INVALID_REQUEST", "LlmError", None),
    "LlmIncomplete": ("LLM_INCOMPLETE", "LlmError", None),
    "LlmFailed": ("LLM_ERROR", "LlmError", None),
    "PriceUnknown": ("PRICE_UNKNOWN", "LlmError", None),
    "ThreadNotFound": ("THREAD_NOT_FOUND", "ThreadError", LookupError),
    "ThreadState": ("THREAD_STATE", "ThreadError", None),
    "LimitExceeded": ("LIMIT_EXCEEDED", "ThreadError", None),
    "ContextExceeded": ("CONTEXT_EXCEEDED", "ThreadError", None),
    "TranscriptTampered": ("TRANSCRIPT_TAMPERED", "ThreadError", None),
    "PermissionDenied": ("PERMISSION_DENIED", None, PermissionError),
    "UsageError": ("USAGE_ERROR", None, ValueError),
    "NotAvailable": ("NOT_AVAILABLE", None, None),
    "InternalError": ("INTERNAL_ERROR", None, None),
}
FAMILIES = (
    "ResolveError",
    "ItemError",
    "TrustError",
    "LockfileError",
    "AuthError",
    "RunError",
    "LlmError",
    "ThreadError",
)

_TREE_LINE = re.compile(
    r"^    (?P<lead>(?:│   |    )*(?:├── |└── )?)(?P<name>[A-Z]\w+)"
    r"(?:\s+(?P<code>[A-Z][A-Z_]+))?(?:\s+(?P<builtin>[A-Z]\w+))?\s*$"
)


def _classes() -> dict[str, type[KiwiError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, KiwiError)
    }


def _own_code(cls: type[KiwiError]) -> str | None:
    code = cls.__dict__.get("code")
    return code if isinstance(code, str) else None


def _drawn_tree() -> list[tuple[str, str | None, str | None, str | None]]:
    """(class, its drawn parent, code, builtin) for each line of the module docstring's tree."""
    doc = errors.__doc__
    assert doc is not None
    drawn: list[tuple[str, str | None, str | None, str | None]] = []
    path: list[str] = []
    for line in doc.split("::\n", 1)[1].splitlines():
        if not line.strip():
            if drawn:
                break
            continue
        found = _TREE_LINE.match(line)
        assert found is not None, f"not a line of the tree: {line!r}"
        depth = len(found["lead"]) // 4
        del path[depth:]
        drawn.append((found["name"], path[-1] if path else None, found["code"], found["builtin"]))
        path.append(found["name"])
    return drawn


def test_every_code_is_the_one_it_was() -> None:
    codes = {name: _own_code(cls) for name, cls in _classes().items() if _own_code(cls)}
    assert codes == {"KiwiError": "KIWI_ERROR"} | {name: p[0] for name, p in PINNED.items()}


def test_no_two_classes_share_a_code() -> None:
    codes = [code for cls in _classes().values() if (code := _own_code(cls))]
    assert len(codes) == len(set(codes))
    for family in FAMILIES:
        if family != "LockfileError":
            assert _own_code(_classes()[family]) is None, f"{family} needs no code of its own"


def test_error_for_code_gives_back_every_class_with_a_code() -> None:
    for name, (code, _, _) in PINNED.items():
        assert error_for_code(code) is _classes()[name]
    assert error_for_code("NO_SUCH_CODE") is KiwiError
    assert error_for_code("KIWI_ERROR") is KiwiError


def test_each_error_is_in_exactly_the_family_pinned_for_it() -> None:
    classes = _classes()
    for name, (_, family, _) in PINNED.items():
        cls = classes[name]
        within = [f for f in FAMILIES if f != name and issubclass(cls, classes[f])]
        # the innermost family is the pinned one; a sub-family (LlmError) is inside RunError
        innermost = [
            f
            for f in within
            if not any(g != f and issubclass(classes[g], classes[f]) for g in within)
        ]
        assert innermost == ([] if family is None else [family]), name
    assert set(classes) == {"KiwiError", *FAMILIES, *PINNED}


def test_each_error_is_still_the_builtin_it_was() -> None:
    builtins = (ValueError, LookupError, PermissionError, TimeoutError)
    for name, (_, _, builtin) in PINNED.items():
        cls = _classes()[name]
        kept = [b for b in builtins if issubclass(cls, b)]
        assert kept == ([] if builtin is None else [builtin]), name


def test_the_docstring_draws_every_class_under_its_real_parent() -> None:
    drawn = _drawn_tree()
    classes = _classes()
    assert sorted(name for name, *_ in drawn) == sorted(classes)
    for name, parent, code, builtin in drawn:
        cls = classes[name]
        if parent is None:
            assert cls is KiwiError
        else:
            assert cls.__bases__[0] is classes[parent], f"{name} is drawn under {parent}"
        assert code == _own_code(cls), f"{name} is drawn with code {code}"
        others = [b.__name__ for b in cls.__bases__[1:]]
        assert others == ([] if builtin is None else [builtin]), f"{name} is drawn as {builtin}"


def test_a_class_that_claims_a_taken_code_fails_at_once() -> None:
    with pytest.raises(TypeError, match="error code 'ITEM_NOT_FOUND' is ItemNotFound's"):

        class Again(KiwiError):
            code = "ITEM_NOT_FOUND"

    with pytest.raises(TypeError, match="error code 'KIWI_ERROR' is KiwiError's"):

        class Root(KiwiError):
            code = "KIWI_ERROR"

    assert error_for_code("ITEM_NOT_FOUND") is errors.ItemNotFound


def test_no_family_but_lockfile_error_is_ever_made_in_the_kernel() -> None:
    never = set(FAMILIES) - {"LockfileError"}
    made = []
    for path in sorted(KERNEL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in never:
                    made.append(f"{path.relative_to(KERNEL)}:{node.lineno} {name}")
    assert made == []


def test_a_family_catches_its_members_and_renders_their_code() -> None:
    with pytest.raises(errors.TrustError) as caught:
        raise errors.KeyMissing("no signing key")
    assert str(caught.value).startswith("[KEY_MISSING] no signing key")
    assert caught.value.to_dict()["hint"] == "Make your signing key with 'kiwi keys init'."
    with pytest.raises(errors.LockfileError):
        raise errors.LockfileMismatch("drifted")
