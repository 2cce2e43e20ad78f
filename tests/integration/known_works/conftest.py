"""Fixtures for known-works integration tests: migrated databases, real photographs, the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from provenance.config import Settings
from provenance.ledger import migrate

#: Sample photographs written to `photo_dir` for the registry tests.
PHOTO_FILES = ("astronaut", "coffee", "rocket", "camera", "china", "flower")


def sample_photo(name: str) -> Image.Image:
    """One of the sample photographs that ship with scikit-image / scikit-learn, as RGB."""
    from skimage import data

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg"))
    pixels = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    return Image.fromarray(pixels).convert("RGB")


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few sample photographs as PNG files named after them."""
    directory = tmp_path_factory.mktemp("photos")
    for name in PHOTO_FILES:
        sample_photo(name).save(directory / f"{name}.png")
    return directory


@pytest.fixture(scope="session")
def photo() -> Callable[[str], Image.Image]:
    """`photo(name)`: a sample photograph by name."""
    return sample_photo


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """A fresh database on each engine, upgraded to the newest schema."""
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def settings_for(home: Path) -> Callable[..., Settings]:
    """`settings_for(url, **overrides)`: settings for this test's home, ignoring the env."""

    def load(url: str, **overrides: object) -> Settings:
        return Settings.load(home=home, env={}, overrides={"database_url": url, **overrides})

    return load


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    """Run `provenant ARGS...` in-process against `url` (default: SQLite in `home`)."""
    from provenance.cli import app

    runner = CliRunner()

    def invoke(args: Sequence[str], url: str | None = None, **env: str) -> Result:
        environ = {
            "PROVENANT_HOME": str(home),
            "PROVENANT_DATABASE_URL": url or f"sqlite:///{home / 'ledger.db'}",
            "COLUMNS": "200",
            **env,
        }
        return runner.invoke(app, list(args), env=environ, catch_exceptions=False)

    return invoke


@pytest.fixture
def subprocess_env(home: Path) -> dict[str, str]:
    """Environment for running the real `provenant` console script."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")},
        "PROVENANT_HOME": str(home),
        "PROVENANT_DATABASE_URL": f"sqlite:///{home / 'ledger.db'}",
    }
