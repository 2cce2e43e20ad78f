"""Policy verdicts: what a policy decided, why, and one place that enforces it.

Policies never raise to refuse; they return a `Verdict`.  The pipeline calls
`Verdict.enforce()` at the single point before generating and before signing, so no caller
can forget a block.  Verdicts combine as the strictest action; reasons and attributions
accumulate, each reason naming its policy, rule and score.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import PolicyBlocked
from provenance.types import Attribution


class Action(enum.Enum):
    """Outcome of a policy check, ordered from most to least permissive."""

    ALLOW = "allow"
    WARN = "warn"
    NEEDS_LICENSE = "needs_license"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """Position in the strictness order (higher is stricter)."""
        return _ORDER[self]

    @property
    def refuses(self) -> bool:
        """Whether this action stops generation (block, or a licence that was not declared)."""
        return self in (Action.BLOCK, Action.NEEDS_LICENSE)

    @classmethod
    def parse(cls, value: str | Action) -> Action:
        """Read an action from config text such as "block" or "needs_license"."""
        if isinstance(value, Action):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown action {value!r}; choose one of {choices}") from None


_ORDER = {Action.ALLOW: 0, Action.WARN: 1, Action.NEEDS_LICENSE: 2, Action.BLOCK: 3}


@dataclass(frozen=True)
class Reason:
    """Why a policy reached its action: policy, rule, score and what matched."""

    policy: str
    rule: str
    action: Action
    score: float = 1.0
    threshold: float | None = None
    category: str | None = None
    detail: str = ""
    span: str | None = None  # matched text in the (normalised) prompt
    work_id: str | None = None
    work_title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (manifest policy assertion, ledger, `--json`)."""
        out: dict[str, Any] = {
            "policy": self.policy,
            "rule": self.rule,
            "action": self.action.value,
            "score": round(float(self.score), 6),
        }
        for key in ("threshold", "category", "span", "work_id", "work_title"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(float(value), 6) if key == "threshold" else value
        if self.detail:
            out["detail"] = self.detail
        return out

    def summary(self) -> str:
        """One line for humans: `known_works/image_similarity (0.93): matched W1 "Title"`."""
        what = self.detail or self.span or self.work_title or self.category or ""
        return f"{self.policy}/{self.rule} ({self.score:.2f}): {what}".rstrip(": ")


@dataclass(frozen=True)
class Verdict:
    """The decision of one or more policies on a prompt or an image."""

    action: Action = Action.ALLOW
    reasons: tuple[Reason, ...] = ()
    attributions: tuple[Attribution, ...] = ()
    disabled: tuple[str, ...] = field(default=())  # layers that could not run, said loudly

    @classmethod
    def allow(cls) -> Verdict:
        """The verdict of a policy that found nothing."""
        return cls()

    @classmethod
    def from_reasons(
        cls,
        reasons: Iterable[Reason],
        attributions: Iterable[Attribution] = (),
        disabled: Iterable[str] = (),
    ) -> Verdict:
        """The strictest action among `reasons` (allow when there are none)."""
        rs = tuple(reasons)
        action = max((r.action for r in rs), key=lambda a: a.severity, default=Action.ALLOW)
        return cls(action, rs, tuple(attributions), tuple(disabled))

    @classmethod
    def combine(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """Strictest action wins; reasons, attributions and disabled layers accumulate."""
        vs = list(verdicts)
        return cls.from_reasons(
            (r for v in vs for r in v.reasons),
            (a for v in vs for a in v.attributions),
            (d for v in vs for d in v.disabled),
        )

    @property
    def refuses(self) -> bool:
        """Whether this verdict stops the request."""
        return self.action.refuses

    def enforce(self, stage: str) -> Verdict:
        """Raise `PolicyBlocked` if the verdict refuses; return self otherwise.

        This is the only place a refusal turns into control flow.
        """
        if self.refuses:
            reasons = "; ".join(r.summary() for r in self.reasons if r.action.refuses)
            raise PolicyBlocked(f"{stage} {self.action.value}: {reasons}", verdict=self)
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (manifest policy assertion, ledger, `--json`)."""
        out: dict[str, Any] = {
            "action": self.action.value,
            "reasons": [r.as_dict() for r in self.reasons],
        }
        if self.attributions:
            out["attributions"] = [a.as_dict() for a in self.attributions]
        if self.disabled:
            out["disabled"] = list(self.disabled)
        return out
