"""What is installed and what a model is, over every generator plugin through the contract.

The library side of `generators list`, `models info` and `models make-tiny`, and of the
demo's model choice.  Everything goes through `provenance.plugins` and the optional hooks of
`protocols.GeneratorExtras`, so a third-party generator is listed, detected and given sample
models exactly like a built-in; a plugin that fails to import is reported on its own row
instead of hiding the others.  Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import plugins
from provenance.errors import BadInputError, ProvenantError, WeightsError
from provenance.protocols import WeightsStatus
from provenance.types import ModelInfo

if TYPE_CHECKING:
    from provenance.config import Settings


@dataclass(frozen=True)
class GeneratorListing:
    """One row of `provenant generators list`."""

    name: str
    version: str
    distribution: str
    model: str | None
    weights: WeightsStatus
    is_default: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`generators list --json`, one object per line)."""
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "model": self.model,
            "weights_present": self.weights.present,
            "weights_detail": self.weights.detail,
            "default": self.is_default,
        }


def list_generators(settings: Settings) -> list[GeneratorListing]:
    """Every installed generator plugin, its configured model and its weights status."""
    rows = []
    for info in plugins.installed("generator"):
        model: str | None = None
        try:
            cls = plugins.get_generator(info.name)
            model = _configured_model(cls, info.name, settings)
            status = cls.check_weights(model)
        except ProvenantError as exc:
            status = WeightsStatus(present=False, detail=f"plugin unusable: {exc.diagnostics()}")
        rows.append(
            GeneratorListing(
                name=info.name,
                version=info.version,
                distribution=info.distribution,
                model=model,
                weights=status,
                is_default=settings.generators.default == info.name,
            )
        )
    return rows


def _configured_model(cls: Any, name: str, settings: Settings) -> str | None:
    if hasattr(cls, "configured_model"):
        return cls.configured_model(settings)
    model = settings.generators.options_for(name).get("model")
    return None if model is None else str(model)


def detect_generator(model: str) -> str:
    """The installed generator that recognises `model` (preset or path), by name order.

    When none does and one said why (a hub id, a URL, a missing path), that error is raised.
    """
    first_error: ProvenantError | None = None
    for info in plugins.installed("generator"):
        try:
            cls = plugins.get_generator(info.name)
        except ProvenantError:
            continue  # a broken plugin is `generators list`'s to report, not a model's
        try:
            if hasattr(cls, "recognises") and cls.recognises(model):
                return info.name
        except ProvenantError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    raise BadInputError(
        f"{model}: cannot tell which generator runs this model; pass --generator NAME"
    )


@dataclass(frozen=True)
class ModelDescription:
    """What `provenant models info` prints: the card, and the state of the weights."""

    generator: str
    model: str
    card: ModelInfo
    weights: WeightsStatus

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`models info --json`)."""
        return {
            "generator": self.generator,
            "model": self.model,
            "card": self.card.as_dict(),
            "weights_present": self.weights.present,
            "weights_detail": self.weights.detail,
        }


def describe_model(
    model: str, settings: Settings, generator: str | None = None
) -> ModelDescription:
    """The model card of `model` (path or preset); broken weights are a `WeightsError`."""
    name = generator or detect_generator(model)
    cls = plugins.get_generator(name)
    status = cls.check_weights(model)
    if not status.present:
        raise WeightsError(status.detail)
    card = cls(model, {}, settings).model_info()
    return ModelDescription(name, model, card, status)


def make_sample_models(directory: Path) -> dict[str, dict[str, Path]]:
    """Every generator's tiny random-weight samples under `directory`: name -> label -> path.

    Generators without the `make_sample_models` hook, or that fail to load, are left out.
    """
    made: dict[str, dict[str, Path]] = {}
    for info in plugins.installed("generator"):
        try:
            cls = plugins.get_generator(info.name)
        except ProvenantError:
            continue
        if hasattr(cls, "make_sample_models"):
            samples = cls.make_sample_models(Path(directory))
            if samples:
                made[info.name] = dict(samples)
    return made
