"""Gatys et al. (2016) style transfer: optimise the pixels themselves against VGG-19 features.

Content loss: MSE of relu4_2 features; style loss: MSE of the Gram matrices at relu1_1 ...
relu5_1; optional total-variation smoothing.  The image starts from the content picture
(`init = "content"`, the usual choice; the seed then does not matter) or from uniform noise
drawn with `torch.Generator("cpu").manual_seed(seed)` (`init = "noise"`, as in the paper).
L-BFGS runs exactly `steps` iterations (tolerances off), Adam `steps` updates; on the CPU the
result is deterministic for a given seed and parameters.

Weights: a VGG-19 state dict in torchvision's layout (`features.N.weight` or `N.weight`,
classifier keys ignored) as `.safetensors` or a torch file read with `weights_only=True`;
a `config.json` beside it (`{"architecture": "vgg19", "widths": [...]}`) for non-standard
widths (the tiny test model).  ImageNet normalisation is applied to the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from provenance.errors import GenerationError, WeightsError
from provenance.generators._params import MAX_SIDE, RequestParams
from provenance.generators._style_common import StyleMethod, fit_image, require_style
from provenance.generators.locate import (
    ModelLocation,
    check_safetensors,
    first_existing,
    read_weights_config,
)

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")
DIR_NAMES = ("vgg19.safetensors", "vgg19.pth")
CONFIG_NAME = "config.json"


class GatysParams(RequestParams):
    """Per-request parameters of the optimisation."""

    steps: int = Field(300, ge=1, le=5000)
    content_weight: float = Field(1.0, ge=0.0, le=1e12)
    style_weight: float = Field(1e6, ge=0.0, le=1e12)
    tv_weight: float = Field(0.0, ge=0.0, le=1e12)
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    learning_rate: float = Field(0.02, gt=0.0, le=10.0)
    init: Literal["content", "noise"] = "content"
    pooling: Literal["avg", "max"] = "avg"
    max_size: int = Field(512, ge=32, le=MAX_SIDE)


class VggConfig(BaseModel):
    """Widths of the five VGG-19 stages (standard: 64, 128, 256, 512, 512)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Literal["vgg19"] = "vgg19"
    widths: tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)


def vgg_file(location: ModelLocation) -> Path:
    """The VGG-19 weights file: the model path itself, or vgg19.* inside a directory."""
    path = location.path
    if path.is_dir():
        found = first_existing(path, DIR_NAMES)
        if found is None:
            raise WeightsError(f"{path}: no VGG-19 weights ({' or '.join(DIR_NAMES)})")
        return found
    if path.suffix not in WEIGHT_SUFFIXES:
        raise WeightsError(f"{path}: VGG-19 weights must be {', '.join(WEIGHT_SUFFIXES)}")
    return path


def read_vgg_config(weights: Path) -> VggConfig:
    """`config.json` beside the weights, or the standard VGG-19 widths."""
    path = weights.parent / CONFIG_NAME
    return read_weights_config(path, VggConfig, "VGG-19") if path.is_file() else VggConfig()


class GatysStyle(StyleMethod):
    """Pixel optimisation against VGG-19 content and style targets."""

    method = "gatys"
    params_model = GatysParams
    architecture = "Gatys et al. 2016 optimisation over VGG-19 features"
    seed_sensitive = True

    def __init__(self, location: ModelLocation, threads: int | None = None) -> None:
        super().__init__(location, threads)
        self._features: Any = None
        self._device: Any = None

    @classmethod
    def files(cls, location: ModelLocation) -> tuple[list[Path], Path | None]:
        weights = vgg_file(location)
        config = weights.parent / CONFIG_NAME
        if config.is_file():
            return [weights, config], weights.parent
        return [weights], None

    @classmethod
    def inspect(cls, location: ModelLocation) -> str:
        weights = vgg_file(location)
        if weights.suffix == ".safetensors":
            check_safetensors(weights)
        return f"VGG-19 features, widths {list(read_vgg_config(weights).widths)} ({weights.name})"

    def load(self, device: Any, dtype_setting: str, explicit_device: bool) -> None:
        from provenance.generators._style_nets import vgg19_features
        from provenance.generators._torch import load_into, load_state_dict_file

        weights = vgg_file(self.location)
        features = vgg19_features(read_vgg_config(weights).widths)
        state = {_strip(k): v for k, v in load_state_dict_file(weights).items()}
        state = {k: v for k, v in state.items() if _keep(k, len(features))}
        load_into(features, state, weights)
        self._features = features.eval().requires_grad_(False).to(device)
        self._device = device

    def run(
        self, content: Image.Image, style: Image.Image | None, params: Any, seed: int
    ) -> tuple[Image.Image, dict[str, Any]]:
        import torch

        from provenance.generators._torch import pil_to_tensor, tensor_to_pil

        style = require_style(style, self.method)
        content_fit = fit_image(content, params.max_size, 1, "content")
        style_fit = fit_image(style, params.max_size, 1, "style")
        with torch.inference_mode(False), torch.enable_grad():
            c = pil_to_tensor(content_fit, self._device, torch.float32)
            s = pil_to_tensor(style_fit, self._device, torch.float32)
            image, final_loss = self._optimise(c, s, params, seed)
        return tensor_to_pil(image, (0.0, 1.0)), {
            **params.model_dump(),
            "content_size": list(content_fit.size),
            "style_size": list(style_fit.size),
            "final_loss": round(final_loss, 6),
            "noise": f"torch.rand on torch.Generator('cpu').manual_seed({seed})"
            if params.init == "noise"
            else None,
            "dtype": "float32",
        }

    def _optimise(self, c: Any, s: Any, params: Any, seed: int) -> tuple[Any, float]:
        import torch

        from provenance.generators._style_nets import with_pooling

        features = with_pooling(self._features, params.pooling)
        loss_of = _Losses(features, c, s, params)
        if params.init == "noise":
            noise = torch.rand(c.shape, generator=torch.Generator("cpu").manual_seed(seed))
            x = noise.to(self._device)
        else:
            x = c.clone()
        x.requires_grad_(True)
        if params.optimizer == "lbfgs":
            opt: Any = torch.optim.LBFGS(
                [x], lr=1.0, max_iter=params.steps, tolerance_grad=0.0, tolerance_change=0.0
            )
            opt.step(lambda: loss_of.backward(x, opt))
        else:
            opt = torch.optim.Adam([x], lr=params.learning_rate)
            for _ in range(params.steps):
                loss_of.backward(x, opt)
                opt.step()
                with torch.no_grad():
                    x.clamp_(0.0, 1.0)
        final = float(loss_of.total(x).detach())
        if not torch.isfinite(torch.tensor(final)):
            raise GenerationError(
                "style_transfer (gatys): the optimisation diverged (loss is not finite); "
                "lower style_weight or learning_rate"
            )
        return x.detach().clamp(0.0, 1.0), final


class _Losses:
    """Content, style and total-variation losses against fixed targets."""

    def __init__(self, features: Any, content: Any, style: Any, params: Any) -> None:
        import torch

        from provenance.generators._style_nets import CONTENT_LAYERS, STYLE_LAYERS, gram_matrix

        self.features, self.params, self.gram = features, params, gram_matrix
        self.taps = set(CONTENT_LAYERS.values()) | set(STYLE_LAYERS.values())
        with torch.no_grad():
            from_content, from_style = self._tap(content), self._tap(style)
            self.content_targets = {i: from_content[i] for i in CONTENT_LAYERS.values()}
            self.style_targets = {i: gram_matrix(from_style[i]) for i in STYLE_LAYERS.values()}

    def _tap(self, image: Any) -> dict[int, Any]:
        """Features at the tapped layers, for an image in [0, 1] (ImageNet-normalised here)."""
        from provenance.generators._style_nets import IMAGENET_MEAN, IMAGENET_STD

        mean = image.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
        std = image.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        x, taps = (image - mean) / std, {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                taps[index] = x
        return taps

    def total(self, image: Any) -> Any:
        """Weighted sum of the three losses for the current image."""
        import torch.nn.functional as F

        p, taps = self.params, self._tap(image)
        content = sum(F.mse_loss(taps[i], t) for i, t in self.content_targets.items())
        style = sum(F.mse_loss(self.gram(taps[i]), t) for i, t in self.style_targets.items())
        tv = (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (
            image[..., :, 1:] - image[..., :, :-1]
        ).abs().mean()
        return p.content_weight * content + p.style_weight * style + p.tv_weight * tv

    def backward(self, image: Any, optimiser: Any) -> Any:
        """One evaluation with gradients (the L-BFGS closure and one Adam step)."""
        optimiser.zero_grad()
        loss = self.total(image)
        loss.backward()
        return loss


def _strip(key: str) -> str:
    return key.removeprefix("features.")


def _keep(key: str, depth: int) -> bool:
    head = key.split(".", 1)[0]
    return head.isdigit() and int(head) < depth
