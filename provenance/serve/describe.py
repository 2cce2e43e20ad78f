"""A verification report in the words a verify page uses (after the CAI's verify-site).

The JSON of `verify --json` is for machines; people read "trusted", "valid, but the signer
is not one this studio trusts" and "invalid: the image was changed after signing".  Every
phrase is derived from the report here, once, so the page and its tests agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance.verify.verifier import State, VerificationReport

_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: IPTC digital source types in plain language (verify-site's generativeInfo wording).
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "Created with generative AI",
    "compositeWithTrainedAlgorithmicMedia": "Edited or combined with generative AI",
    "algorithmicMedia": "Created by an algorithm (not a trained AI model)",
    "compositeSynthetic": "Composite of synthetic elements",
    "digitalCapture": "Captured with a digital camera",
    "digitalArt": "Digital art made by a person",
    "minorHumanEdits": "Captured, with minor human edits",
    "composite": "Composite of several elements",
}
STATE_WORDS = {
    State.TRUSTED: "Trusted",
    State.VALID_UNTRUSTED: "Valid, but untrusted signer",
    State.INVALID: "Invalid",
    State.NO_CREDENTIALS: "No content credentials",
    State.UNREADABLE: "Unreadable",
}
STATE_EXPLAINED = {
    State.TRUSTED: "The content credentials are intact and signed by a certificate this "
    "studio trusts.",
    State.VALID_UNTRUSTED: "The content credentials are intact, but the signer's certificate "
    "does not chain to any root this studio trusts, so who signed cannot be confirmed.",
    State.INVALID: "The content credentials fail validation: the file or its credentials "
    "were changed after signing, or the signature is broken.",
    State.NO_CREDENTIALS: "This file carries no C2PA manifest, so nothing can be said about "
    "where it came from.",
    State.UNREADABLE: "This file could not be read as a PNG, JPEG or WebP image.",
}


def ai_disclosure(source_type: str | None) -> str | None:
    """The digital source type in plain language (None when the manifest names none)."""
    if not source_type:
        return None
    name = source_type.removeprefix(_IPTC)
    return SOURCE_TYPES.get(name, f"Digital source type: {name}")


@dataclass(frozen=True)
class Described:
    """One report with the phrases the page shows next to the raw fields."""

    report: dict[str, Any]
    state: str
    words: str
    explained: str
    failures: list[str] = field(default_factory=list)
    ai: str | None = None
    verdict: str | None = None


def describe(report: VerificationReport) -> Described:
    """The page's view of one report."""
    failures = [
        f"{c.code}: {c.explanation}" if c.explanation else c.code for c in report.validation.failure
    ]
    if report.state is State.INVALID and not failures:
        failures = [report.reason]
    return Described(
        report=report.to_dict(),
        state=report.state.value,
        words=STATE_WORDS[report.state],
        explained=STATE_EXPLAINED[report.state],
        failures=failures,
        ai=ai_disclosure(report.digital_source_type),
        verdict=policy_verdict(report.policy),
    )


def policy_verdict(policy: dict[str, Any] | None) -> str | None:
    """The strictest recorded action of the manifest's policy assertion (prompt, image)."""
    if not isinstance(policy, dict):
        return None
    order = ("allow", "warn", "needs_license", "block")
    actions = [
        part.get("action")
        for part in (policy.get("prompt"), policy.get("image"))
        if isinstance(part, dict)
    ]
    known = [a for a in actions if a in order]
    return max(known, key=order.index) if known else None
