"""Models and prices (SPEC §12.2): USD per million tokens as decimal strings, cost exact.

``cost_usd`` is a ``Decimal`` rendered as a plain string (``"0.000123"``), never a float, and
``None`` when the model has no price (or the usage is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kiwi_mcp.kernel.errors import ConfigInvalid

__all__ = ["ModelInfo", "Prices", "cost_usd", "model_info"]

_MILLION = Decimal(1_000_000)
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True, slots=True)
class Prices:
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    effective_from: str | None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    context_window: int | None
    max_output: int | None
    prices: Prices | None


def _decimal(value: Any, field: str) -> Decimal:
    if not isinstance(value, str):
        raise _bad(field, 'a decimal string such as "3.00" (a float is not exact)', value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _bad(field, 'a decimal string such as "3.00"', value) from None
    if not number.is_finite() or number < 0:
        raise _bad(field, "a finite price ≥ 0", value)
    return number


def _bad(field: str, wanted: str, got: Any) -> ConfigInvalid:
    return ConfigInvalid(
        f"config {field}: wanted {wanted}, got {got!r}",
        hint='Prices are USD per million tokens, as strings: pricing: {input: "3.00", ...}.',
        details={"field": field},
    )


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(field, "a positive integer", value)
    return value


def model_info(models: Any, name: str) -> ModelInfo:
    """What the provider's ``models:`` says of ``name`` (an unlisted model: nothing known)."""
    if models is None:
        models = {}
    if not isinstance(models, Mapping):
        raise _bad(
            "models", "a mapping of model name → {context_window, max_output, pricing}", models
        )
    entry = models.get(name)
    if entry is None:
        return ModelInfo(name=name, context_window=None, max_output=None, prices=None)
    where = f"models.{name}"
    if not isinstance(entry, Mapping):
        raise _bad(where, "a mapping", entry)
    pricing = entry.get("pricing")
    prices = None
    if pricing is not None:
        if not isinstance(pricing, Mapping):
            raise _bad(f"{where}.pricing", "a mapping", pricing)
        for key in ("input", "output"):
            if key not in pricing:
                raise _bad(f"{where}.pricing.{key}", "a decimal string", None)
        values = {
            key: _decimal(
                pricing.get(key, pricing.get("input") if key != "output" else None),
                f"{where}.pricing.{key}",
            )
            for key in _PRICE_KEYS
        }
        effective = pricing.get("effective_from")
        prices = Prices(**values, effective_from=None if effective is None else str(effective))
    return ModelInfo(
        name=name,
        context_window=_int(entry.get("context_window"), f"{where}.context_window"),
        max_output=_int(entry.get("max_output"), f"{where}.max_output"),
        prices=prices,
    )


def cost_usd(prices: Prices | None, usage: Mapping[str, int] | None) -> str | None:
    """The exact cost of ``usage`` at ``prices``, or None when either is unknown."""
    if prices is None or usage is None:
        return None
    total = (
        prices.input * usage.get("input_tokens", 0)
        + prices.output * usage.get("output_tokens", 0)
        + prices.cache_read * usage.get("cache_read_tokens", 0)
        + prices.cache_write * usage.get("cache_write_tokens", 0)
    ) / _MILLION
    text = format(total.normalize(), "f")
    return text if text != "-0" else "0"
