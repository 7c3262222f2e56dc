"""What the hostile pass counts: per class, what was sent, answered and violated; per
invariant, the first few examples; per escape attempt, expected (SPEC) against observed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Escape", "Report", "clip"]

EXAMPLES: Final = 5


def clip(value: Any, size: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= size else text[: size - 1] + "…"


@dataclass
class _Tally:
    sent: int = 0
    answered: int = 0
    violations: int = 0


@dataclass(frozen=True, slots=True)
class Escape:
    """One escape attempt: what SPEC says must happen, and what did."""

    name: str
    spec: str
    expected: str
    observed: str
    passed: bool


@dataclass
class Report:
    seed: int
    rows: dict[tuple[str, str], _Tally] = field(default_factory=dict)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    escapes: list[Escape] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def _row(self, section: str, cls: str) -> _Tally:
        return self.rows.setdefault((section, cls), _Tally())

    def sent(self, section: str, cls: str, n: int = 1) -> None:
        self._row(section, cls).sent += n

    def answered(self, section: str, cls: str, n: int = 1) -> None:
        self._row(section, cls).answered += n

    def violation(self, section: str, cls: str, invariant: str, example: str) -> None:
        self._row(section, cls).violations += 1
        key = (section, invariant)
        self.counts[key] += 1
        shown = self.examples.setdefault(key, [])
        if len(shown) < EXAMPLES:
            shown.append(f"[{cls}] {clip(example)}")

    def escape(self, name: str, spec: str, expected: str, observed: str, passed: bool) -> None:
        self.escapes.append(Escape(name, spec, expected, clip(observed, 400), passed))
        self.sent("escapes", name)
        self.answered("escapes", name)
        if not passed:
            self.violation("escapes", name, name, f"expected {expected}; observed {observed}")

    @property
    def total_violations(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.total_violations == 0

    def render(self) -> str:
        out = [f"hostile pass, seed {self.seed}", ""]
        width = max([len(f"{s} / {c}") for s, c in self.rows] + [20])
        out.append(
            f"{'section / class':<{width}}  {'sent':>7}  {'answered':>8}  {'violations':>10}"
        )
        for (section, cls), row in sorted(self.rows.items()):
            name = f"{section} / {cls}"
            out.append(f"{name:<{width}}  {row.sent:>7}  {row.answered:>8}  {row.violations:>10}")
        totals = _Tally()
        for row in self.rows.values():
            totals.sent += row.sent
            totals.answered += row.answered
            totals.violations += row.violations
        name = "total"
        out.append(
            f"{name:<{width}}  {totals.sent:>7}  {totals.answered:>8}  {totals.violations:>10}"
        )
        if self.codes:
            out += [
                "",
                "error codes of the bad items: "
                + ", ".join(f"{code} {n}" for code, n in sorted(self.codes.items())),
            ]
        if self.escapes:
            out += ["", "escape attempts:"]
            for esc in self.escapes:
                mark = "ok  " if esc.passed else "FAIL"
                out.append(f"  {mark} {esc.name} ({esc.spec})")
                out.append(f"       expected: {esc.expected}")
                out.append(f"       observed: {esc.observed}")
        if self.counts:
            out += ["", f"violations ({self.total_violations}):"]
            for (section, invariant), n in sorted(self.counts.items()):
                out.append(f"  {section}: {invariant}: {n}")
                out += [f"      {example}" for example in self.examples[(section, invariant)]]
        if self.seconds:
            timing = ", ".join(f"{name} {secs:.1f}s" for name, secs in self.seconds.items())
            out += ["", f"time: {timing}"]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "ok": self.ok,
            "rows": [
                {"section": s, "class": c, **vars(row)} for (s, c), row in sorted(self.rows.items())
            ],
            "violations": [
                {
                    "section": s,
                    "invariant": inv,
                    "count": n,
                    "examples": self.examples[(s, inv)],
                }
                for (s, inv), n in sorted(self.counts.items())
            ],
            "escapes": [_escape(esc) for esc in self.escapes],
            "codes": dict(self.codes),
            "seconds": self.seconds,
        }


def _escape(esc: Escape) -> dict[str, Any]:
    return {
        "name": esc.name,
        "spec": esc.spec,
        "expected": esc.expected,
        "observed": esc.observed,
        "passed": esc.passed,
    }
