"""One error tree for the whole kernel.

Every failure a caller handles differently has its own class with a stable ``code`` (SPEC
§5.5), the string the result envelope carries. Errors carry structured fields and render
them in ``__str__``; the faces (CLI, MCP) turn them into result envelopes and never show a
traceback. Where a builtin fits, the class is that builtin too::

    KiwiError                    KIWI_ERROR
    ├── ResolveError
    │   ├── InvalidId            INVALID_ID            ValueError
    │   ├── ItemNotFound         ITEM_NOT_FOUND        LookupError
    │   ├── AmbiguousId          AMBIGUOUS_ID          LookupError
    │   └── ChainBroken          CHAIN_BROKEN
    ├── ItemError
    │   ├── ParseError           PARSE_ERROR           ValueError
    │   ├── ParamsInvalid        PARAMS_INVALID        ValueError
    │   ├── ConfigInvalid        CONFIG_INVALID        ValueError
    │   └── TemplateError        TEMPLATE_ERROR        ValueError
    ├── TrustError
    │   ├── SignatureMissing     SIGNATURE_MISSING
    │   ├── IntegrityFailed      INTEGRITY_FAILED
    │   ├── SignatureUntrusted   SIGNATURE_UNTRUSTED
    │   ├── TokenInvalid         TOKEN_INVALID         PermissionError
    │   ├── KeyMissing           KEY_MISSING           LookupError
    │   ├── KeyUnsafe            KEY_UNSAFE            PermissionError
    │   ├── AuditUnavailable     AUDIT_UNAVAILABLE
    │   └── PinMismatch          PIN_MISMATCH
    ├── LockfileError            LOCKFILE_ERROR
    │   └── LockfileMismatch     LOCKFILE_MISMATCH
    ├── AuthError
    │   ├── AuthRequired         AUTH_REQUIRED
    │   └── BackendUnavailable   BACKEND_UNAVAILABLE
    ├── RunError
    │   ├── ExecutionFailed      EXECUTION_FAILED
    │   ├── ExecutionTimeout     TIMEOUT               TimeoutError
    │   ├── HttpError            HTTP_ERROR
    │   ├── Cancelled            CANCELLED
    │   ├── UpstreamError        UPSTREAM_ERROR
    │   └── LlmError
    │       ├── LlmRateLimited   LLM_RATE_LIMITED
    │       ├── LlmOverloaded    LLM_OVERLOADED
    │       ├── LlmQuotaExhausted LLM_QUOTA_EXHAUSTED
    │       ├── LlmAuth          LLM_AUTH
    │       ├── LlmInvalidRequest LLM_INVALID_REQUEST
    │       ├── LlmIncomplete    LLM_INCOMPLETE
    │       ├── LlmFailed        LLM_ERROR
    │       └── PriceUnknown     PRICE_UNKNOWN
    ├── ThreadError
    │   ├── ThreadNotFound       THREAD_NOT_FOUND      LookupError
    │   ├── ThreadState          THREAD_STATE
    │   ├── LimitExceeded        LIMIT_EXCEEDED
    │   ├── ContextExceeded      CONTEXT_EXCEEDED
    │   └── TranscriptTampered   TRANSCRIPT_TAMPERED
    ├── PermissionDenied         PERMISSION_DENIED     PermissionError
    ├── UsageError               USAGE_ERROR           ValueError
    ├── NotAvailable             NOT_AVAILABLE
    └── InternalError            INTERNAL_ERROR

The families are what a caller catches to handle a whole kind of failure at once: an item
or its chain cannot be found (``ResolveError``), an item's file or the values given to it
are wrong (``ItemError``), verification refused it (``TrustError``), a lockfile refused it
(``LockfileError``), a credential is missing or unreachable (``AuthError``), the run
itself failed (``RunError``; an LLM provider's failures are ``LlmError``), or a thread cannot
act (``ThreadError``). A family has no code of its own and is never raised; the one
exception is ``LockfileError``, raised as itself for a lockfile that cannot be read. Codes
are registered as the classes are defined (``__init_subclass__``), so ``error_for_code``
knows every class above and a second class claiming a taken code fails at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AmbiguousId",
    "AuditUnavailable",
    "AuthError",
    "AuthRequired",
    "BackendUnavailable",
    "Cancelled",
    "ChainBroken",
    "ConfigInvalid",
    "ContextExceeded",
    "ExecutionFailed",
    "ExecutionTimeout",
    "HttpError",
    "IntegrityFailed",
    "InternalError",
    "InvalidId",
    "ItemError",
    "ItemNotFound",
    "KeyMissing",
    "KeyUnsafe",
    "KiwiError",
    "LimitExceeded",
    "LlmAuth",
    "LlmError",
    "LlmFailed",
    "LlmIncomplete",
    "LlmInvalidRequest",
    "LlmOverloaded",
    "LlmQuotaExhausted",
    "LlmRateLimited",
    "LockfileError",
    "LockfileMismatch",
    "NotAvailable",
    "ParamsInvalid",
    "ParseError",
    "PermissionDenied",
    "PinMismatch",
    "PriceUnknown",
    "ResolveError",
    "RunError",
    "SignatureMissing",
    "SignatureUntrusted",
    "TemplateError",
    "ThreadError",
    "ThreadNotFound",
    "ThreadState",
    "TokenInvalid",
    "TranscriptTampered",
    "TrustError",
    "UpstreamError",
    "UsageError",
    "error_for_code",
]

#: code → the class that carries it, filled in by ``KiwiError.__init_subclass__``.
_BY_CODE: dict[str, type[KiwiError]] = {}


class KiwiError(Exception):
    """Root of every error the kernel raises on purpose.

    ``message`` says what went wrong, ``hint`` what to do next. ``chain`` is the partial
    or whole chain (ids) when the error happened while resolving or running one; ``at`` is
    the id of the link (or the file) where it happened; ``details`` holds extra structured
    data (e.g. the list of bad fields) and must never hold a secret.
    """

    code: ClassVar[str] = "KIWI_ERROR"
    default_hint: ClassVar[str] = "Run 'kiwi --help' for usage."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a class that sets its own ``code``; one without is a family.

        Raises:
            TypeError: the code is the root's or already another class's.
        """
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            return
        taken = KiwiError if code == KiwiError.code else _BY_CODE.get(code)
        if taken is not None:
            raise TypeError(f"{cls.__name__}: error code {code!r} is {taken.__name__}'s")
        _BY_CODE[code] = cls

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


# --- families ---------------------------------------------------------------------------


class ResolveError(KiwiError):
    """An id, an item or a chain link cannot be found or is not unique."""


class ItemError(KiwiError):
    """An item's file, or the params or config given to it, are not valid."""


class TrustError(KiwiError):
    """Verification refused an item or a token, or a signing key is unusable."""


class LockfileError(KiwiError):
    """A lockfile cannot be read (raised as itself), or it refused a chain."""

    code = "LOCKFILE_ERROR"
    default_hint = "Re-freeze with 'kiwi lockfile freeze <id>'."


class AuthError(KiwiError):
    """A credential is missing, or the store that holds them cannot be reached."""


class RunError(KiwiError):
    """The primitive ran and failed, timed out, or was cancelled."""


# --- ResolveError -----------------------------------------------------------------------


class InvalidId(ResolveError, ValueError):
    code = "INVALID_ID"
    default_hint = "Ids are '/'-separated segments of [a-z0-9][a-z0-9_.-]*, e.g. 'runtimes/python'."


class ItemNotFound(ResolveError, LookupError):
    code = "ITEM_NOT_FOUND"
    default_hint = "Run 'kiwi search <words>' to find the item's id."


class AmbiguousId(ResolveError, LookupError):
    code = "AMBIGUOUS_ID"
    default_hint = "Use one of the full ids listed in details.candidates."


class ChainBroken(ResolveError):
    code = "CHAIN_BROKEN"
    default_hint = "Check the executor_id of the last link shown; run 'kiwi resolve <id>'."


# --- ItemError --------------------------------------------------------------------------


class ParseError(ItemError, ValueError):
    code = "PARSE_ERROR"
    default_hint = "Fix the file at the place named in the message."


class ParamsInvalid(ItemError, ValueError):
    code = "PARAMS_INVALID"
    default_hint = "Run 'kiwi show tool <id>' to see the tool's parameters."


class ConfigInvalid(ItemError, ValueError):
    code = "CONFIG_INVALID"
    default_hint = "Run 'kiwi resolve <id>' to see the merged config."


class TemplateError(ItemError, ValueError):
    code = "TEMPLATE_ERROR"
    default_hint = (
        "Use ${params.x}, ${NAME}, ${secrets.X}, ${tool.*}, ${project.path}, or add ':-default'."
    )


# --- TrustError -------------------------------------------------------------------------


class SignatureMissing(TrustError):
    code = "SIGNATURE_MISSING"
    default_hint = "Sign it with 'kiwi sign <kind> <id>', or run with KIWI_VERIFY=hash."


class IntegrityFailed(TrustError):
    code = "INTEGRITY_FAILED"
    default_hint = "The file changed after it was signed; review it, then 'kiwi sign <kind> <id>'."


class SignatureUntrusted(TrustError):
    code = "SIGNATURE_UNTRUSTED"
    default_hint = "Trust the signer with 'kiwi trust add <public-key-file>'."


class TokenInvalid(TrustError, PermissionError):
    code = "TOKEN_INVALID"
    default_hint = "Mint a fresh token from a valid parent."


class KeyMissing(TrustError, LookupError):
    code = "KEY_MISSING"
    default_hint = "Make your signing key with 'kiwi keys init'."


class KeyUnsafe(TrustError, PermissionError):
    code = "KEY_UNSAFE"
    default_hint = "Make the private key readable by you only (chmod 600)."


class AuditUnavailable(TrustError):
    """The audit log cannot take the call's record, so the call does not run (SPEC §9.5)."""

    code = "AUDIT_UNAVAILABLE"
    default_hint = "Make the project's .ai/logs/audit/ folder writable (and free disk space)."


class PinMismatch(TrustError):
    """An upstream MCP tool's live definition is not the pinned one (a rug pull, SPEC §14):
    the tool is disabled until the operator re-pins it. ``details.changes`` says what changed."""

    code = "PIN_MISMATCH"
    default_hint = (
        "Ask the operator to review the change ('kiwi mcp refresh <server> --dry-run') and"
        " accept it with 'kiwi mcp refresh <server>'."
    )


# --- LockfileError ----------------------------------------------------------------------


class LockfileMismatch(LockfileError):
    code = "LOCKFILE_MISMATCH"
    default_hint = "Review the change, then 'kiwi lockfile freeze <id>' to accept it."


# --- AuthError --------------------------------------------------------------------------


class AuthRequired(AuthError):
    code = "AUTH_REQUIRED"
    default_hint = "Run 'kiwi auth signin <service>'."


class BackendUnavailable(AuthError):
    code = "BACKEND_UNAVAILABLE"
    default_hint = "Start or unlock a keyring, or set KIWI_AUTH_BACKEND=file."


# --- RunError ---------------------------------------------------------------------------


class ExecutionFailed(RunError):
    code = "EXECUTION_FAILED"
    default_hint = "See meta.process.stderr for what the tool printed."


class ExecutionTimeout(RunError, TimeoutError):
    code = "TIMEOUT"
    default_hint = "Raise the tool's 'timeout' in its config, or make it faster."


class HttpError(RunError):
    code = "HTTP_ERROR"
    default_hint = "See error.details for the response body."


class Cancelled(RunError):
    code = "CANCELLED"
    default_hint = "The caller went away before the call finished; run it again if still wanted."


class UpstreamError(RunError):
    """An upstream MCP server answered a tools/call with ``isError`` (SPEC §14)."""

    code = "UPSTREAM_ERROR"
    default_hint = "The upstream tool reported the failure above; fix the arguments and retry."


# --- LlmError (details: provider_type, provider_code, request_id, retry_after_s, reset_at) ---


class LlmError(RunError):
    """A provider refused or failed an LLM call; ``details`` say what it answered."""


class LlmRateLimited(LlmError):
    code = "LLM_RATE_LIMITED"
    default_hint = "Wait until error.details.reset_at (or a minute), then call again."


class LlmOverloaded(LlmError):
    code = "LLM_OVERLOADED"
    default_hint = "The provider is overloaded for everyone; call again later or use another tier."


class LlmQuotaExhausted(LlmError):
    code = "LLM_QUOTA_EXHAUSTED"
    default_hint = "The account is out of credit or quota; the operator must top it up."


class LlmAuth(LlmError):
    code = "LLM_AUTH"
    default_hint = "The provider refused the key; sign in again: 'kiwi auth signin <service>'."


class LlmInvalidRequest(LlmError):
    code = "LLM_INVALID_REQUEST"
    default_hint = "See error.details.provider_message for what the provider rejected."


class LlmIncomplete(LlmError):
    code = "LLM_INCOMPLETE"
    default_hint = "The stream ended before its last event, on every attempt; call again."


class LlmFailed(LlmError):
    code = "LLM_ERROR"
    default_hint = "See error.details for the provider's answer."


class PriceUnknown(LlmError):
    code = "PRICE_UNKNOWN"
    default_hint = "Add the model's pricing to the provider's 'models:', or drop the budget."


# --- ThreadError ------------------------------------------------------------------------


class ThreadError(KiwiError):
    """A thread cannot be found, is not in a state that allows the act, or ran out."""


class ThreadNotFound(ThreadError, LookupError):
    code = "THREAD_NOT_FOUND"
    default_hint = "Run 'kiwi threads list' to see the threads of this project."


class ThreadState(ThreadError):
    code = "THREAD_STATE"
    default_hint = "Run 'kiwi threads show <id>' to see its status."


class LimitExceeded(ThreadError):
    code = "LIMIT_EXCEEDED"
    default_hint = "Raise the directive's <limits> (or the parent's), or start a smaller task."


class ContextExceeded(ThreadError):
    code = "CONTEXT_EXCEEDED"
    default_hint = "The conversation no longer fits the model's context window."


class TranscriptTampered(ThreadError):
    code = "TRANSCRIPT_TAMPERED"
    default_hint = "The transcript changed after it was written; see details.first_bad_seq."


# --- at the top -------------------------------------------------------------------------


class PermissionDenied(KiwiError, PermissionError):
    code = "PERMISSION_DENIED"
    default_hint = (
        "Grant the capability in .ai/config/policy.yaml or the directive's <permissions>."
    )


class UsageError(KiwiError, ValueError):
    code = "USAGE_ERROR"


class NotAvailable(KiwiError):
    code = "NOT_AVAILABLE"
    default_hint = "This capability is not built yet; see 'kiwi --help' for what is."


class InternalError(KiwiError):
    code = "INTERNAL_ERROR"
    default_hint = "Retry once; if it repeats, run the server with KIWI_LOG=DEBUG and report it."


def error_for_code(code: str) -> type[KiwiError]:
    """The error class for a stable code (``KiwiError`` itself for unknown codes)."""
    return _BY_CODE.get(code, KiwiError)
