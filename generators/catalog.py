"""What is installed and what a model is: the library side of `generators list` and
`models info`.

`list_generators` reports every plugin registered under `provenant.generators` (built-in or
third-party) with its configured model and whether the weights are there; a plugin that
fails to import is reported on its own row instead of hiding the others.  `describe_model`
tells which generator runs a path (or preset) from its files, then asks that generator for
the model card, so `models info` shows exactly the card that would go into a manifest.
Nothing here imports torch.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import plugins
from provenance.errors import BadInputError, ProvenantError, WeightsError
from provenance.generators.locate import PRESETS, locate_model
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
        model = settings.generators.options_for(info.name).get("model")
        model = config_relative(model, settings)
        try:
            status = plugins.get_generator(info.name).check_weights(model)
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


def config_relative(model: Any, settings: Settings) -> str | None:
    """Relative model paths in provenant.toml are relative to that file."""
    if model is None:
        return None
    text = str(model)
    config = settings.config_file
    if config is None or text in PRESETS or "://" in text or Path(text).expanduser().is_absolute():
        return text
    return str(config.parent / text)


def runs_model(name: str, model: str) -> bool:
    """Whether the built-in generator `name` runs `model` (a preset, or files by layout).

    Raises the locating error (hub id, URL, missing path) for a model that is not there.
    """
    preset = PRESETS.get(model)
    if preset is not None:
        return preset.generator == name
    path = locate_model(model, "?").path
    if name != "torchscript" and _is_torchscript(path):
        return False  # a scripted `.pt` is TorchScript's, not a style network's
    return any(matches(path) for family, matches in _DETECTORS if family == name)


def detect_generator(model: str) -> str:
    """Which built-in generator runs `model`, from a preset name or the files' layout."""
    preset = PRESETS.get(model)
    if preset is not None:
        return preset.generator
    path = locate_model(model, "?").path
    for name, matches in _DETECTORS:
        if matches(path):
            return name
    raise BadInputError(
        f"{path}: cannot tell which generator runs this model; pass --generator NAME"
    )


def _config_architecture(path: Path) -> str | None:
    folder = path if path.is_dir() else path.parent
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("architecture") if isinstance(data, dict) else None


def _is_torchscript(path: Path) -> bool:
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return path.suffix == ".pt2" or any("/code/" in name for name in names)


_DETECTORS = (
    ("diffusion", lambda p: (p / "model_index.json").is_file()),
    ("gan", lambda p: _config_architecture(p) == "dcgan"),
    ("torchscript", _is_torchscript),
    ("style_transfer", lambda p: p.is_dir() and any(p.glob("*.onnx"))),
    ("style_transfer", lambda p: _config_architecture(p) in ("adain", "vgg19")),
    (
        "style_transfer",
        lambda p: p.suffix in (".pth", ".pt", ".safetensors") and not _is_torchscript(p),
    ),
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
