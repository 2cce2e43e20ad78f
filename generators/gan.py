"""GAN generators: a configurable DCGAN, and any TorchScript generator a studio exports.

`gan` (`DCGANGenerator`) loads a DCGAN state dict from `.safetensors` with its explicit
`config.json` beside it (latent size, base channels, resolution, channels), or the trained
64x64 faces model that the `gan-face-generate` package ships (`--model gan-face-generate`;
DigiFace-1M weights: non-commercial research only, and its card says so).

`torchscript` (`TorchScriptGenerator`) runs a user's own generator exported with
`torch.jit.save`, or with its successor `torch.export.save` (a `.pt2` file) (StyleGAN-class
models wrapped to take only `z`), configured by options:
`latent_dim`, `latent_layout` ("flat" (N, D) or "spatial" (N, D, 1, 1)) and `output_range`.

Seed -> latent mapping (both plugins; recorded in every image's params):
  z = torch.randn((1, *latent_shape), generator=torch.Generator("cpu").manual_seed(seed))
drawn on the CPU whatever the device, so a seed gives the same latent on CPU and GPU.  With
`truncation = t` (the BigGAN truncation trick), entries with |z| > t are redrawn from the same
generator, in row-major order, until all lie within t (after 1000 rounds any left are
clamped to +-t).  Image i of a request uses seed `request.seed + i`.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from provenance.errors import GenerationError, WeightsError
from provenance.generators._dcgan_config import CONFIG_NAME, DCGANConfig
from provenance.generators._params import FamilyOptions, RequestParams, image_seeds, parse_params
from provenance.generators._plugin import LocalModelGenerator
from provenance.generators.cards import UNKNOWN, ModelCard, card_or_default
from provenance.generators.locate import (
    ModelLocation,
    check_safetensors,
    first_existing,
    read_weights_config,
)
from provenance.types import GeneratedImage, GenerationRequest

if TYPE_CHECKING:
    import torch

MAX_RESAMPLES = 1000
WEIGHT_NAMES = ("model.safetensors", "generator.safetensors", "diffusion_pytorch_model.safetensors")
#: The faces package saves a training checkpoint; the generator's weights sit under this key.
FACES_STATE_KEY = "netG_state_dict"


class GanParams(RequestParams):
    """Per-request parameters of both GAN plugins."""

    truncation: float | None = Field(None, gt=0.0, le=10.0)


#: The faces preset's architecture (gan_face_generate/inference.py: nz=100, ngf=64, nc=3).
FACES_CONFIG = DCGANConfig(latent_dim=100, base_channels=64, resolution=64, channels=3)


def dcgan_files(location: ModelLocation) -> tuple[Path, DCGANConfig, Path]:
    """(weights file, architecture, model directory) for a preset, directory or file."""
    if location.preset is not None:
        return location.path, FACES_CONFIG, location.path.parent
    path = location.path
    if path.is_dir():
        weights = first_existing(path, WEIGHT_NAMES) or _only_safetensors(path)
        return weights, read_weights_config(path / CONFIG_NAME, DCGANConfig, "DCGAN"), path
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: DCGAN weights must be a .safetensors file")
    return path, read_weights_config(path.parent / CONFIG_NAME, DCGANConfig, "DCGAN"), path.parent


def _only_safetensors(folder: Path) -> Path:
    found = sorted(folder.glob("*.safetensors"))
    if len(found) != 1:
        what = "no .safetensors file" if not found else f"{len(found)} .safetensors files"
        raise WeightsError(f"{folder}: {what}; expected one of {', '.join(WEIGHT_NAMES)}")
    return found[0]


def sample_latent(seed: int, shape: tuple[int, ...], truncation: float | None) -> torch.Tensor:
    """The latent for `seed` (module docstring: the exact, recorded mapping)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    z = torch.randn((1, *shape), generator=generator)
    if truncation is None:
        return z
    for _ in range(MAX_RESAMPLES):
        outside = z.abs() > truncation
        count = int(outside.sum())
        if count == 0:
            return z
        z[outside] = torch.randn(count, generator=generator)
    return z.clamp_(-truncation, truncation)


def latent_record(shape: tuple[int, ...], truncation: float | None, seed: int) -> dict[str, Any]:
    """How the latent was drawn, for `GeneratedImage.params` (reproduces it exactly)."""
    return {
        "shape": [1, *shape],
        "sampler": f"torch.randn on torch.Generator('cpu').manual_seed({seed})",
        "truncation": truncation,
        "truncation_method": "resample beyond +-truncation" if truncation else "none",
    }


class _NoiseSampler(LocalModelGenerator):
    """What both GAN plugins share: one seeded latent per image, through one network."""

    #: Says why input images are refused ("a GAN samples from noise and").
    refusal: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._network: Any = None
        self._dtype: Any = None

    def _latent_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _output_range(self) -> tuple[float, float]:
        return (-1.0, 1.0)

    def _forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self._network(latent)

    def _record_extra(self) -> dict[str, Any]:
        return {}

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One image per seed (`seed + i`); see the module docstring for the latent mapping."""
        import torch

        from provenance.generators._torch import dtype_name, tensor_to_pil

        params = parse_params(GanParams, request.params, self.name)
        self._refuse_inputs(request, self.refusal)
        seeds = image_seeds(request.seed, request.num_images)
        device = self._ensure_loaded()
        shape = self._latent_shape()
        info = self.model_info()
        images = []
        for index, seed in enumerate(seeds):
            z = sample_latent(seed, shape, params.truncation).to(device=device, dtype=self._dtype)
            with torch.inference_mode():
                out = self._forward(z)
            record = {
                "seed": seed,
                "latent": latent_record(shape, params.truncation, seed),
                **self._record_extra(),
                "device": str(device),
                "dtype": dtype_name(self._dtype),
                "conditioning": "none (unconditional model; the prompt is not used)",
            }
            pixels = tensor_to_pil(out, self._output_range())
            images.append(GeneratedImage(pixels, seed, index, info, record))
        return images


class DCGANGenerator(_NoiseSampler):
    """A DCGAN sampled from seeded noise (unconditional: the prompt is recorded, not used)."""

    name = "gan"
    sample_models = ("gan",)
    refusal = "a GAN samples from noise and"

    def _card(self) -> ModelCard:
        location = self.location
        if location.preset is not None:
            return location.preset.card()
        _, config, folder = dcgan_files(location)
        default = ModelCard(name=folder.name, architecture=_describe(config), license=UNKNOWN)
        return card_or_default(folder, default)

    def _digest_files(self) -> tuple[list[Path], Path | None]:
        weights, _, folder = dcgan_files(self.location)
        if self.location.preset is not None:
            return [weights], None
        return [weights, folder / CONFIG_NAME], folder

    @classmethod
    def _inspect(cls, location: ModelLocation) -> str:
        weights, config, _ = dcgan_files(location)
        if weights.suffix == ".safetensors":
            check_safetensors(weights)
        return f"{_describe(config)} ({weights.name})"

    def _config(self) -> DCGANConfig:
        return dcgan_files(self.location)[1]

    def _latent_shape(self) -> tuple[int, ...]:
        return (self._config().latent_dim, 1, 1)

    def _record_extra(self) -> dict[str, Any]:
        return {"resolution": self._config().resolution}

    def load(self, device: torch.device | str | None) -> None:
        """Build the configured DCGAN and load its weights (strict: names and shapes)."""
        from provenance.generators._dcgan_net import DCGANNetwork
        from provenance.generators._torch import load_into, load_state_dict_file, select_dtype

        target = self._resolve_device(device)
        self._inspect(self.location)
        weights, config, _ = dcgan_files(self.location)
        state = load_state_dict_file(weights)
        if self.location.preset is not None:
            state = _faces_state(state, weights)
        network = DCGANNetwork(
            config.latent_dim, config.base_channels, config.resolution, config.channels
        )
        load_into(network, state, weights)
        self._dtype = select_dtype(self.settings.generators.dtype, target)
        self._network = network.eval().to(device=target, dtype=self._dtype)
        self.device = target


def _describe(config: DCGANConfig) -> str:
    return (
        f"DCGAN {config.resolution}x{config.resolution}, latent {config.latent_dim}, "
        f"{config.base_channels} base channels, {config.channels} channel(s)"
    )


def _faces_state(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    state = checkpoint.get(FACES_STATE_KEY)
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: no {FACES_STATE_KEY!r} in the faces checkpoint")
    return state


class TorchScriptOptions(FamilyOptions):
    """How to drive a user's TorchScript generator (it carries no config of its own)."""

    latent_dim: int | None = Field(None, ge=1, le=65536)
    latent_layout: Literal["flat", "spatial"] = "flat"
    output_range: tuple[float, float] = (-1.0, 1.0)

    @field_validator("output_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError("must be [low, high] with low < high, e.g. [-1, 1] or [0, 1]")
        return value


class TorchScriptGenerator(_NoiseSampler):
    """A generator exported with TorchScript: `z -> image`, plugged in without code."""

    name = "torchscript"
    sample_models = ("torchscript",)
    options_model = TorchScriptOptions
    refusal = "a TorchScript generator samples from noise and"

    def _card(self) -> ModelCard:
        path = self.location.path
        default = ModelCard(name=path.stem, architecture="TorchScript generator")
        return card_or_default(path.parent, default)

    def _digest_files(self) -> tuple[list[Path], Path | None]:
        return [self.location.path], None

    @classmethod
    def _inspect(cls, location: ModelLocation) -> str:
        path = location.path
        if not path.is_file():
            raise WeightsError(f"{path}: a TorchScript generator is one file (torch.jit.save)")
        if not zipfile.is_zipfile(path):
            raise WeightsError(f"{path}: not a TorchScript archive (not a zip file)")
        return f"TorchScript archive ({path.stat().st_size} bytes)"

    def _latent_shape(self) -> tuple[int, ...]:
        dim = self.options.latent_dim
        if dim is None:
            raise GenerationError(
                f"[generators.{self.name}] latent_dim is required "
                "(the size of the z vector the TorchScript module takes)"
            )
        return (dim,) if self.options.latent_layout == "flat" else (dim, 1, 1)

    def load(self, device: torch.device | str | None) -> None:
        """`torch.jit.load` the archive onto `device`; unreadable archives name the file."""

        from provenance.generators._torch import one_line, select_dtype

        target = self._resolve_device(device)
        path = self.location.path
        self._inspect(self.location)
        self._latent_shape()
        try:
            module = _load_program(path, target)
        except (RuntimeError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
            raise WeightsError(
                f"{path}: not a loadable TorchScript archive ({one_line(exc)})"
            ) from exc
        self._dtype = select_dtype(self.settings.generators.dtype, target)
        self._network = module.to(dtype=self._dtype)
        self.device = target

    def _output_range(self) -> tuple[float, float]:
        return tuple(self.options.output_range)  # type: ignore[return-value]

    def _record_extra(self) -> dict[str, Any]:
        return {"output_range": list(self.options.output_range)}

    def _forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Run the user's module; a shape mismatch names the latent it was given."""
        from provenance.generators._torch import one_line

        try:
            out = self._network(latent)
        except RuntimeError as exc:
            raise GenerationError(
                f"{self.location.path}: the module rejected a latent of shape "
                f"{list(latent.shape)} ({one_line(exc)}); check latent_dim and latent_layout"
            ) from exc
        self._check_output(out)
        return out

    def _check_output(self, out: Any) -> None:
        import torch

        ok = isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[:2] in ((1, 1), (1, 3))
        if not ok:
            shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GenerationError(
                f"{self.location.path}: the module returned {shape}; "
                "a generator must return one image tensor of shape (1, 3, H, W)"
            )


def _load_program(path: Path, device: torch.device) -> Any:
    """A TorchScript archive (`torch.jit.save`), or an exported program (`.pt2`)."""
    import torch

    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module().to(device)  # exported in eval mode
    with warnings.catch_warnings():
        # torch marks TorchScript deprecated in favour of torch.export; studios still ship it.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()
