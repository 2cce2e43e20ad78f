"""What the three style-transfer methods (ONNX, AdaIN, Gatys) share: shape and image helpers.

Each method is a small class with the same members, so `StyleTransferGenerator` picks one
from a table by name and never branches on the method itself.  Torch-free at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image
from PIL.Image import Resampling

from provenance.errors import BadInputError
from provenance.generators._params import RequestParams, fit_size
from provenance.generators.locate import ModelLocation

if TYPE_CHECKING:
    import torch

#: Smallest side a content or style image may have (the networks downsample by 8 or more).
MIN_SIDE = 32


class StyleMethod:
    """One way of stylising a content image; subclasses fill in the members below."""

    method: ClassVar[str]
    params_model: ClassVar[type[RequestParams]]
    architecture: ClassVar[str]
    #: Whether the seed changes the output (only Gatys started from noise does).
    seed_sensitive: ClassVar[bool] = False

    def __init__(self, location: ModelLocation, threads: int | None = None) -> None:
        self.location = location
        self.threads = threads

    @classmethod
    def files(cls, location: ModelLocation) -> tuple[list[Path], Path | None]:
        """Files the weights digest covers, and their root (None: one plain file)."""
        raise NotImplementedError

    @classmethod
    def inspect(cls, location: ModelLocation) -> str:
        """Check the files without loading; raise `WeightsError`; return a short summary."""
        raise NotImplementedError

    def load(self, device: torch.device, dtype_setting: str, explicit_device: bool) -> None:
        """Load the networks onto `device`."""
        raise NotImplementedError

    def run(
        self, content: Image.Image, style: Image.Image | None, params: Any, seed: int
    ) -> tuple[Image.Image, dict[str, Any]]:
        """Stylise `content`; return the pixels and the resolved parameters."""
        raise NotImplementedError


def fit_image(image: Image.Image, max_side: int, multiple: int, what: str) -> Image.Image:
    """Downscale to fit `max_side` and crop-free resize to a multiple of `multiple`."""
    if min(image.size) < MIN_SIDE:
        raise BadInputError(
            f"{what} image is {image.width}x{image.height}; both sides need {MIN_SIDE}px or more"
        )
    size = fit_size(image.width, image.height, max_side, multiple)
    return image if size == image.size else image.resize(size, Resampling.LANCZOS)


def keep_colour(stylised: Image.Image, original: Image.Image) -> Image.Image:
    """Stylised brightness with the original's colour (YCbCr luminance transfer)."""
    y, _, _ = stylised.convert("YCbCr").split()
    source = original if original.size == stylised.size else original.resize(stylised.size)
    _, cb, cr = source.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def require_style(style: Image.Image | None, method: str) -> Image.Image:
    """Methods driven by a style image refuse to run without one."""
    if style is None:
        raise BadInputError(f"style_transfer ({method}): a style image is required")
    return style
