"""Which built-in generator runs a model: the files' layout, read without importing torch.

The built-in plugins' `recognises` and `configured_model` hooks use these; the core's
`provenance.catalog` (`generators list`, `models info`) reaches them only through those hooks.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.generators.locate import PRESETS, locate_model

if TYPE_CHECKING:
    from provenance.config import Settings


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
