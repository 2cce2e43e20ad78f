"""The `model_license` policy: a request's declared use must be one its model permits.

Every generator ships a model card (`ModelInfo`) whose `permitted_uses` is the machine
reading of its licence: the faces DCGAN trained on DigiFace-1M, for instance, permits
research only.  The pipeline puts the card on the request (`request.model_card`) before
screening; this policy compares it with `request.use` (or `[policies] default_use`).

Configuration (`[policies.model_license]`)::

    on_conflict = "block"        # block | warn: the use is not one the licence permits
    on_unknown_license = "warn"  # allow | warn | block: the card's licence is unknown

It acts at the prompt stage only, so a refused request costs no generation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from provenance.config import validate_options
from provenance.errors import BadInputError
from provenance.protocols import PolicyContext
from provenance.types import USES, GeneratedImage, GenerationRequest, ModelInfo
from provenance.verdict import Action, Reason, Verdict

#: Licence strings that say nothing about what is permitted.
UNKNOWN_LICENSES = frozenset({"", "unknown", "unspecified", "none", "noassertion", "other"})


class ModelLicenseOptions(BaseModel):
    """Options of `[policies.model_license]` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_conflict: Literal["block", "warn"] = "block"
    on_unknown_license: Literal["allow", "warn", "block"] = "warn"


class ModelLicensePolicy:
    """Checks the declared use against the model card's permitted uses."""

    name = "model_license"
    version = "1.0.0"

    def __init__(self, options: Mapping[str, Any], context: PolicyContext) -> None:
        self.options: ModelLicenseOptions = validate_options(
            ModelLicenseOptions, options, "[policies.model_license]"
        )
        self.default_use = context.settings.policies.default_use

    def status(self) -> dict[str, str]:
        """What `provenant policies list` shows."""
        return {
            "on_conflict": self.options.on_conflict,
            "on_unknown_license": self.options.on_unknown_license,
            "default_use": self.default_use,
        }

    def declared_use(self, request: GenerationRequest) -> str:
        """The request's use, or the studio default; an unknown use is bad input."""
        use = (request.use or self.default_use).strip().lower()
        if use not in USES:
            raise BadInputError(f"unknown use {request.use!r}; choose one of {', '.join(USES)}")
        return use

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Refuse (or warn about) a use the model's licence does not permit."""
        use = self.declared_use(request)
        card = request.model_card
        if card is None:
            return Verdict.allow()  # nothing generated here: `screen` without --generator
        reasons = []
        if use not in card.permitted_uses:
            reasons.append(self._conflict(card, use))
        if card.license.strip().lower() in UNKNOWN_LICENSES:
            reasons.append(self._unknown_license(card))
        return Verdict.from_reasons(reasons)

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Licences are settled before generation; images pass."""
        return Verdict.allow()

    def _conflict(self, card: ModelInfo, use: str) -> Reason:
        permitted = ", ".join(card.permitted_uses) or "nothing"
        return Reason(
            policy=self.name,
            rule="use_not_permitted",
            action=Action.parse(self.options.on_conflict),
            score=1.0,
            threshold=1.0,
            category="license",
            detail=(
                f"{use} use of {card.name} {card.version}".rstrip()
                + f" is not permitted by its licence ({card.license}; permits: {permitted})"
            ),
            span=use,
        )

    def _unknown_license(self, card: ModelInfo) -> Reason:
        return Reason(
            policy=self.name,
            rule="unknown_license",
            action=Action.parse(self.options.on_unknown_license),
            score=1.0,
            threshold=1.0,
            category="license",
            detail=f"licence of {card.name} is unknown ({card.license or 'not stated'})",
        )
