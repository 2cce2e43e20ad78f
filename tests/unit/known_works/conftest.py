"""Fixtures for the known-works unit tests: a tiny seeded CLIP model, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, model config) of the tiny random-weight open_clip model."""
    from provenance.policies.clip import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))
