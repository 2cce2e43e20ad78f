"""The enabled policies, built once from settings and run together.

The pipeline, `provenant screen` and `provenant sign` all screen through a `PolicySet`, so the
same policies with the same options judge every path.  Each verdict combines as the
strictest; enforcement stays with the caller (`Verdict.enforce`), at one point per stage.

Policies fail closed: `check_layers` refuses when a layer that a policy reports (through
its optional `layers()`, see `LayerStatus`) cannot run on this machine, unless the studio
bypasses that layer by name in `[policies] degraded`.  The studio (`generate`, `sign`)
calls it before any work and records the bypassed layers in every manifest and ledger row;
`screen`, which signs nothing, reports them in each verdict's `disabled` list instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provenance.config import Settings
from provenance.errors import ConfigError, PolicyLayerUnavailableError
from provenance.plugins import get_policy, installed
from provenance.protocols import LayerStatus, Policy, PolicyContext
from provenance.types import GeneratedImage, GenerationRequest, InputImage, ModelInfo
from provenance.verdict import Verdict

log = logging.getLogger(__name__)

#: Model card used when screening a picture that no generator of ours made (inputs, imports).
EXTERNAL_IMAGE = ModelInfo.external()


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

    def layers(self) -> list[LayerStatus]:
        """Every model-dependent layer of every policy here, and whether it can run."""
        found: list[LayerStatus] = []
        for policy in self.policies:
            report = getattr(policy, "layers", None)
            if callable(report):
                found.extend(report())
        return found

    def check_layers(self, degraded: Sequence[str]) -> tuple[LayerStatus, ...]:
        """The layers that cannot run and are bypassed by name (each warned about); refuse
        any other.

        Raises `PolicyLayerUnavailableError` naming each missing model (and the line that
        would bypass it) when a layer cannot run and `degraded` does not name it, and
        `ConfigError` when `degraded` names a layer that no policy of this set has (a
        typo must not look like a bypass).  Names of policies outside this set are ignored.
        """
        layers = self.layers()
        self._check_names(degraded, {status.layer for status in layers})
        missing = [s for s in layers if not s.ready and s.layer not in degraded]
        if missing:
            raise PolicyLayerUnavailableError(_refusal(missing))
        bypassed = tuple(s for s in layers if not s.ready)
        for status in bypassed:
            log.warning(
                "policy layer %s is BYPASSED by [policies] degraded (%s); outputs are "
                "screened without it, and every manifest and ledger row records that",
                status.layer,
                status.describe(),
            )
        return bypassed

    def _check_names(self, degraded: Sequence[str], known: set[str]) -> None:
        mine = set(self.names)
        unknown = [n for n in degraded if n.split(".", 1)[0] in mine and n not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"[policies] degraded names {', '.join(unknown)}, which no enabled policy "
                f"has; layers that can be bypassed: {listed}"
            )

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


def _refusal(missing: Sequence[LayerStatus]) -> str:
    """One line: each missing layer with its model, and the config line that bypasses them."""
    layers = "; ".join(f"policy layer {s.layer} cannot run ({s.describe()})" for s in missing)
    names = ", ".join(f'"{s.layer}"' for s in missing)
    return (
        f"{layers}; provide the model, or bypass by name (every output then records it): "
        f"[policies] degraded = [{names}]"
    )


def bypass_record(bypassed: Sequence[LayerStatus]) -> dict[str, str]:
    """Bypassed layers as manifests and ledger rows record them: {layer: why it could not run}."""
    return {status.layer: status.describe() for status in bypassed}
