"""Auth records: one stored credential per service, and its status view (SPEC §8.2).

Neither record ever shows a token in its ``repr``; ``ServiceStatus`` holds no secret at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AuthRecord", "ServiceStatus"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthRecord:
    """A stored credential. ``expires_at`` is epoch seconds (None: never expires)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    scopes: tuple[str, ...] = ()
    token_url: str | None = None
    client_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"AuthRecord(access_token=***, refresh_token={'***' if self.refresh_token else None}, "
            f"expires_at={self.expires_at!r}, scopes={self.scopes!r}, "
            f"token_url={self.token_url!r}, client_id={self.client_id!r})"
        )

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "credential") -> AuthRecord:
        """Check every field; errors name it (never its value).

        Raises:
            ValueError: a missing or mistyped field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object")
        known = {"access_token", "refresh_token", "expires_at", "scopes", "token_url", "client_id"}
        for key in data:
            if key not in known:
                raise ValueError(f"{where}.{key}: unknown field")
        access = data.get("access_token")
        if not isinstance(access, str):
            raise ValueError(f"{where}.access_token: expected a string")
        expires = data.get("expires_at")
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int | float)
        ):
            raise ValueError(f"{where}.expires_at: expected a number or null")
        scopes = data.get("scopes", [])
        if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
            raise ValueError(f"{where}.scopes: expected a list of strings")
        optional: dict[str, str | None] = {}
        for key in ("refresh_token", "token_url", "client_id"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{where}.{key}: expected a string or null")
            optional[key] = value or None
        return cls(
            access_token=access,
            expires_at=None if expires is None else float(expires),
            scopes=tuple(scopes),
            **optional,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scopes": list(self.scopes),
            "token_url": self.token_url,
            "client_id": self.client_id,
        }

    @classmethod
    def from_json(cls, text: str, *, where: str = "credential") -> AuthRecord:
        """Parse the stored JSON (raises ``ValueError`` without echoing the text)."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(f"{where}: not valid JSON") from None
        return cls.from_dict(data, where=where)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def is_expired(self, now: float, *, skew: float = 0.0) -> bool:
        return self.expires_at is not None and now >= self.expires_at - skew


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """What ``kiwi auth status`` shows for one service — never a secret."""

    service: str
    has_refresh: bool
    expires_at: float | None
    expired: bool
    scopes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "has_refresh": self.has_refresh,
            "expires_at": self.expires_at,
            "expired": self.expired,
            "scopes": list(self.scopes),
        }
