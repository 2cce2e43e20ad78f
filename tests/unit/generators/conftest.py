"""Fixtures for the generator unit tests: settings with a fresh data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.config import Settings


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings for an empty data dir (the digest cache lives in its cache/ folder)."""
    return Settings.load(home=home, env={})
