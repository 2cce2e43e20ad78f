"""Feed-forward AdaIN style transfer (Huang & Belongie 2017).

The content and style images go through a normalised VGG-19 encoder up to relu4_1; AdaIN
gives the content features the channel statistics of the style features; a trained decoder
turns the result back into pixels.  `alpha` trades content for style:
`t = alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c)`.

Model directory: the encoder (`encoder.safetensors`, or the reference implementation's
`vgg_normalised.safetensors` / `vgg_normalised.pth`, of which the first 31 layers are used),
the decoder (`decoder.safetensors` or `decoder.pth`) and, for non-standard widths, a
`config.json` `{"architecture": "adain", "widths": [64, 128, 256, 512]}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from provenance.errors import WeightsError
from provenance.generators._params import MAX_SIDE, RequestParams
from provenance.generators._style_common import StyleMethod, fit_image, keep_colour, require_style
from provenance.generators.locate import ModelLocation, first_existing, read_weights_config

ENCODER_NAMES = ("encoder.safetensors", "vgg_normalised.safetensors", "vgg_normalised.pth")
DECODER_NAMES = ("decoder.safetensors", "decoder.pth")
CONFIG_NAME = "config.json"
#: Three 2x poolings in the encoder: sides must divide by 8 for the decoder to match.
STRIDE = 8


class AdainParams(RequestParams):
    """Per-request parameters of AdaIN."""

    alpha: float = Field(1.0, ge=0.0, le=1.0)
    max_size: int = Field(512, ge=32, le=MAX_SIDE)
    preserve_color: bool = False


class AdainConfig(BaseModel):
    """Widths of the four encoder stages (the decoder mirrors them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Literal["adain"] = "adain"
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)


def read_config(folder: Path) -> AdainConfig:
    """The directory's `config.json`, or the standard widths when there is none."""
    path = folder / CONFIG_NAME
    return read_weights_config(path, AdainConfig, "AdaIN") if path.is_file() else AdainConfig()


def adain_files(location: ModelLocation) -> tuple[Path, Path]:
    """(encoder, decoder) weight files of an AdaIN directory, naming what is missing."""
    folder = location.path
    if not folder.is_dir():
        raise WeightsError(f"{folder}: an AdaIN model is a directory (encoder + decoder)")
    encoder = first_existing(folder, ENCODER_NAMES)
    decoder = first_existing(folder, DECODER_NAMES)
    missing = [
        " or ".join(names)
        for names, found in ((ENCODER_NAMES, encoder), (DECODER_NAMES, decoder))
        if found is None
    ]
    if missing or encoder is None or decoder is None:
        raise WeightsError(f"{folder}: incomplete AdaIN model: missing {'; '.join(missing)}")
    return encoder, decoder


class AdainStyle(StyleMethod):
    """Encoder -> AdaIN -> decoder, one forward pass (deterministic: no noise)."""

    method = "adain"
    params_model = AdainParams
    architecture = "AdaIN (Huang & Belongie 2017): normalised VGG-19 encoder to relu4_1 + decoder"

    def __init__(self, location: ModelLocation, threads: int | None = None) -> None:
        super().__init__(location, threads)
        self._encoder: Any = None
        self._decoder: Any = None
        self._device: Any = None
        self._dtype: Any = None

    @classmethod
    def files(cls, location: ModelLocation) -> tuple[list[Path], Path | None]:
        encoder, decoder = adain_files(location)
        config = location.path / CONFIG_NAME
        return [encoder, decoder, *([config] if config.is_file() else [])], location.path

    @classmethod
    def inspect(cls, location: ModelLocation) -> str:
        from provenance.generators.locate import check_safetensors

        encoder, decoder = adain_files(location)
        for path in (encoder, decoder):
            if path.suffix == ".safetensors":
                check_safetensors(path)
        widths = read_config(location.path).widths
        return f"AdaIN encoder/decoder, widths {list(widths)}"

    def load(self, device: Any, dtype_setting: str, explicit_device: bool) -> None:
        from provenance.generators._style_nets import adain_decoder, adain_encoder
        from provenance.generators._torch import load_into, load_state_dict_file, select_dtype

        encoder_path, decoder_path = adain_files(self.location)
        widths = read_config(self.location.path).widths
        encoder, decoder = adain_encoder(widths), adain_decoder(widths)
        state = load_state_dict_file(encoder_path)
        depth = len(encoder)
        state = {
            k: v for k, v in state.items() if not _layer(k).isdigit() or int(_layer(k)) < depth
        }
        load_into(encoder, state, encoder_path)
        load_into(decoder, load_state_dict_file(decoder_path), decoder_path)
        self._dtype = select_dtype(dtype_setting, device)
        self._encoder = encoder.eval().to(device=device, dtype=self._dtype)
        self._decoder = decoder.eval().to(device=device, dtype=self._dtype)
        self._device = device

    def run(
        self, content: Image.Image, style: Image.Image | None, params: Any, seed: int
    ) -> tuple[Image.Image, dict[str, Any]]:
        import torch

        from provenance.generators._style_nets import adaptive_instance_norm
        from provenance.generators._torch import dtype_name, pil_to_tensor, tensor_to_pil

        style = require_style(style, self.method)
        content_fit = fit_image(content, params.max_size, STRIDE, "content")
        style_fit = fit_image(style, params.max_size, STRIDE, "style")
        c = pil_to_tensor(content_fit, self._device, self._dtype)
        s = pil_to_tensor(style_fit, self._device, self._dtype)
        with torch.inference_mode():
            fc, fs = self._encoder(c), self._encoder(s)
            target = params.alpha * adaptive_instance_norm(fc, fs) + (1 - params.alpha) * fc
            out = self._decoder(target)
        stylised = tensor_to_pil(out, (0.0, 1.0))
        if params.preserve_color:
            stylised = keep_colour(stylised, content_fit)
        return stylised, {
            "alpha": params.alpha,
            "max_size": params.max_size,
            "preserve_color": params.preserve_color,
            "content_size": list(content_fit.size),
            "style_size": list(style_fit.size),
            "dtype": dtype_name(self._dtype),
        }


def _layer(key: str) -> str:
    return key.split(".", 1)[0]
