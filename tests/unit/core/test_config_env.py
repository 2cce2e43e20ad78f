"""`PROVENANT_<SECTION>__<KEY>` nesting (pydantic-settings underneath) keeps its rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.config import ManifestSettings, Settings
from provenance.errors import ConfigError


def test_nested_names_reach_plugin_tables_with_toml_values(tmp_path: Path) -> None:
    settings = Settings.load(
        home=tmp_path,
        env={
            "PROVENANT_GENERATORS__GAN__MODEL": "/models/gan",
            "provenant_manifest__thumbnail": "true",  # not ours: names are upper-case
            "PROVENANT_MANIFEST__JPEG_QUALITY": "77",
            "PROVENANT_POLICIES__DEGRADED": '["known_works.clip"]',
            "PROVENANT_MANIFEST": "ignored: no section key",
        },
    )
    assert settings.generators.options_for("gan") == {"model": "/models/gan"}
    assert settings.manifest.jpeg_quality == 77
    assert settings.policies.degraded == ["known_works.clip"]
    assert settings.manifest.thumbnail == ManifestSettings().thumbnail


def test_an_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="foo: unknown setting"):
        Settings.load(home=tmp_path, env={"PROVENANT_FOO__BAR": "1"})
