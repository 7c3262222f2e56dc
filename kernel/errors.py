"""One error tree for the whole kernel.

Every failure a caller handles differently has its own subclass with a stable ``code``
(SPEC §5.5). Errors carry structured fields and render them in ``__str__``; the faces
(CLI, MCP) turn them into result envelopes and never show a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AmbiguousId",
    "AuthRequired",
    "BackendUnavailable",
    "ChainBroken",
    "ConfigInvalid",
    "ExecutionFailed",
    "ExecutionTimeout",
    "HttpError",
    "IntegrityFailed",
    "InvalidId",
    "ItemNotFound",
    "KeyMissing",
    "KeyUnsafe",
    "KiwiError",
    "LockfileError",
    "LockfileMismatch",
    "NotAvailable",
    "ParamsInvalid",
    "ParseError",
    "PermissionDenied",
    "SignatureMissing",
    "SignatureUntrusted",
    "TemplateError",
    "TokenInvalid",
    "UsageError",
    "error_for_code",
]


class KiwiError(Exception):
    """Root of every error the kernel raises on purpose.

    ``message`` says what went wrong, ``hint`` what to do next. ``chain`` is the partial
    or whole chain (ids) when the error happened while resolving or running one; ``at`` is
    the id of the link (or the file) where it happened; ``details`` holds extra structured
    data (e.g. the list of bad fields) and must never hold a secret.
    """

    code: ClassVar[str] = "KIWI_ERROR"
    default_hint: ClassVar[str] = "Run 'kiwi --help' for usage."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        item_id: str | None = None,
        chain: Sequence[str] = (),
        at: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.item_id = item_id
        self.chain: tuple[str, ...] = tuple(chain)
        self.at = at
        self.details: dict[str, Any] = dict(details or {})

    def with_context(
        self, *, chain: Sequence[str] | None = None, at: str | None = None
    ) -> KiwiError:
        """Fill in chain/at when they are still empty (context is added once)."""
        if chain is not None and not self.chain:
            self.chain = tuple(chain)
        if at is not None and self.at is None:
            self.at = at
        return self

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the result envelope (SPEC §5.5)."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "chain": list(self.chain),
            "at": self.at,
        }
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.chain:
            text += f" (chain: {' → '.join(self.chain)})"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(KiwiError, ValueError):
    code = "USAGE_ERROR"


class InvalidId(KiwiError, ValueError):
    code = "INVALID_ID"
    default_hint = "Ids are '/'-separated segments of [a-z0-9][a-z0-9_.-]*, e.g. 'runtimes/python'."


class ItemNotFound(KiwiError, LookupError):
    code = "ITEM_NOT_FOUND"
    default_hint = "Run 'kiwi search <words>' to find the item's id."


class AmbiguousId(KiwiError, LookupError):
    code = "AMBIGUOUS_ID"
    default_hint = "Use one of the full ids listed in details.candidates."


class ParseError(KiwiError, ValueError):
    code = "PARSE_ERROR"
    default_hint = "Fix the file at the place named in the message."


class ChainBroken(KiwiError):
    code = "CHAIN_BROKEN"
    default_hint = "Check the executor_id of the last link shown; run 'kiwi resolve <id>'."


class ParamsInvalid(KiwiError, ValueError):
    code = "PARAMS_INVALID"
    default_hint = "Run 'kiwi show tool <id>' to see the tool's parameters."


class ConfigInvalid(KiwiError, ValueError):
    code = "CONFIG_INVALID"
    default_hint = "Run 'kiwi resolve <id>' to see the merged config."


class TemplateError(KiwiError, ValueError):
    code = "TEMPLATE_ERROR"
    default_hint = (
        "Use ${params.x}, ${NAME}, ${secrets.X}, ${tool.*}, ${project.path}, or add ':-default'."
    )


class SignatureMissing(KiwiError):
    code = "SIGNATURE_MISSING"
    default_hint = "Sign it with 'kiwi sign <kind> <id>', or run with KIWI_VERIFY=hash."


class IntegrityFailed(KiwiError):
    code = "INTEGRITY_FAILED"
    default_hint = "The file changed after it was signed; review it, then 'kiwi sign <kind> <id>'."


class SignatureUntrusted(KiwiError):
    code = "SIGNATURE_UNTRUSTED"
    default_hint = "Trust the signer with 'kiwi trust add <public-key-file>'."


class LockfileError(KiwiError):
    code = "LOCKFILE_ERROR"
    default_hint = "Re-freeze with 'kiwi lockfile freeze <id>'."


class LockfileMismatch(KiwiError):
    code = "LOCKFILE_MISMATCH"
    default_hint = "Review the change, then 'kiwi lockfile freeze <id>' to accept it."


class PermissionDenied(KiwiError, PermissionError):
    code = "PERMISSION_DENIED"
    default_hint = (
        "Grant the capability in .ai/config/policy.yaml or the directive's <permissions>."
    )


class TokenInvalid(KiwiError, PermissionError):
    code = "TOKEN_INVALID"
    default_hint = "Mint a fresh token from a valid parent."


class KeyMissing(KiwiError, LookupError):
    code = "KEY_MISSING"
    default_hint = "Make your signing key with 'kiwi keys init'."


class KeyUnsafe(KiwiError, PermissionError):
    code = "KEY_UNSAFE"
    default_hint = "Make the private key readable by you only (chmod 600)."


class BackendUnavailable(KiwiError):
    code = "BACKEND_UNAVAILABLE"
    default_hint = "Start or unlock a keyring, or set KIWI_AUTH_BACKEND=file."


class NotAvailable(KiwiError):
    code = "NOT_AVAILABLE"
    default_hint = "This capability is not built yet; see 'kiwi --help' for what is."


class AuthRequired(KiwiError):
    code = "AUTH_REQUIRED"
    default_hint = "Run 'kiwi auth signin <service>'."


class ExecutionTimeout(KiwiError, TimeoutError):
    code = "TIMEOUT"
    default_hint = "Raise the tool's 'timeout' in its config, or make it faster."


class ExecutionFailed(KiwiError):
    code = "EXECUTION_FAILED"
    default_hint = "See meta.process.stderr for what the tool printed."


class HttpError(KiwiError):
    code = "HTTP_ERROR"
    default_hint = "See error.details for the response body."


_BY_CODE: dict[str, type[KiwiError]] = {
    cls.code: cls
    for cls in (
        UsageError,
        InvalidId,
        ItemNotFound,
        AmbiguousId,
        ParseError,
        ChainBroken,
        ParamsInvalid,
        ConfigInvalid,
        TemplateError,
        SignatureMissing,
        IntegrityFailed,
        SignatureUntrusted,
        LockfileError,
        LockfileMismatch,
        PermissionDenied,
        TokenInvalid,
        AuthRequired,
        KeyMissing,
        KeyUnsafe,
        NotAvailable,
        BackendUnavailable,
        ExecutionTimeout,
        ExecutionFailed,
        HttpError,
    )
}


def error_for_code(code: str) -> type[KiwiError]:
    """The error class for a stable code (``KiwiError`` itself for unknown codes)."""
    return _BY_CODE.get(code, KiwiError)
