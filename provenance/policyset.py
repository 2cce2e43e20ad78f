"""The enabled policies, built once from settings and run together.

The pipeline, `provenant screen` and `provenant sign` all screen through a `PolicySet`, so the
same policies with the same options judge every path.  Each verdict combines as the
strictest; enforcement stays with the caller (`Verdict.enforce`), at one point per stage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provenance.config import Settings
from provenance.plugins import get_policy, installed
from provenance.protocols import Policy, PolicyContext
from provenance.types import GeneratedImage, GenerationRequest, InputImage, ModelInfo
from provenance.verdict import Verdict

log = logging.getLogger(__name__)

#: Model card used when screening a picture that no generator of ours made (inputs, imports).
EXTERNAL_IMAGE = ModelInfo(
    name="external",
    version="",
    architecture="unknown",
    license="unknown",
    training_data="unknown",
    weights_sha256="",
)


@dataclass
class PolicySet:
    """An ordered list of instantiated policies."""

    policies: Sequence[Policy]

    @classmethod
    def from_settings(
        cls, settings: Settings, ledger: Any = None, names: Sequence[str] | None = None
    ) -> PolicySet:
        """Instantiate the enabled policies (or `names`) with their option tables."""
        wanted = list(names) if names is not None else list(settings.policies.enabled)
        known = {p.name for p in installed("policy")}
        for configured in settings.policies.configured_plugins():
            if configured not in known:
                from provenance.errors import UnknownPolicyError

                raise UnknownPolicyError(configured, sorted(known))
        context = PolicyContext(settings=settings, ledger=ledger)
        built = [get_policy(name)(settings.policies.options_for(name), context) for name in wanted]
        if not built:
            log.warning("no policies enabled: requests are generated and signed unscreened")
        return cls(built)

    @property
    def names(self) -> list[str]:
        """Names of the policies in this set, in order."""
        return [p.name for p in self.policies]

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Every policy's prompt verdict, combined."""
        return Verdict.combine(p.screen_prompt(request) for p in self.policies)

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Every policy's image verdict, combined."""
        return Verdict.combine(p.screen_image(image, request) for p in self.policies)

    def screen_input(self, source: InputImage, request: GenerationRequest) -> Verdict:
        """Screen a user's init or style image with the image policies before generating."""
        image = as_screenable(source.open_rgb(), seed=-1)
        return self.screen_image(image, request)


def as_screenable(pixels: Any, seed: int = -1, card: ModelInfo = EXTERNAL_IMAGE) -> GeneratedImage:
    """Wrap pixels that no generator made (inputs, imports) so image policies can judge them."""
    return GeneratedImage(pixels=pixels, seed=seed, index=0, model_info=card, params={})
