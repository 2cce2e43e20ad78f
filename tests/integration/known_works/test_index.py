"""The on-disk index: stale detection, automatic rebuilds, torn files, `works reindex`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import Result

from provenance.config import Settings
from provenance.ledger.db import Base, create_engine
from provenance.policies.clip import make_tiny_clip
from provenance.policies.known_works import KnownWorksPolicy
from provenance.policies.known_works.index import KnownWorksIndex, current_index, index_root
from provenance.policies.known_works.models import (
    KnownWorkImageRow,
    KnownWorkRow,
    KnownWorksRevisionRow,
)
from provenance.policies.known_works.prepare import prepare_work
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest
from provenance.verdict import Action

SettingsFor = Callable[..., Settings]
MY_TABLES = {t.__tablename__ for t in (KnownWorkRow, KnownWorkImageRow, KnownWorksRevisionRow)}


def _add(registry: KnownWorksRegistry, wid: str, title: str, *images: Path) -> None:
    spec = WorkSpec(id=wid, title=title, kind="character", license="all-rights-reserved",
                    images=images)  # fmt: skip
    registry.add([prepare_work(spec, None)])


def _screen(policy: KnownWorksPolicy, prompt: str) -> list[str | None]:
    verdict = policy.screen_prompt(GenerationRequest(prompt=prompt, generator="test"))
    return [r.work_id for r in verdict.reasons]


def test_registry_changes_make_the_index_stale_and_it_rebuilds(
    migrated_url: str, settings_for: SettingsFor, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(migrated_url)
    registry = KnownWorksRegistry.from_settings(settings)
    _add(registry, "C1", "Mickey Mouse")
    policy = KnownWorksPolicy({}, PolicyContext(settings=settings))
    with caplog.at_level(logging.WARNING, logger="provenance.policies.known_works"):
        assert _screen(policy, "mickey mouse and donald duck") == ["C1"]
    assert any("index is missing" in r.message for r in caplog.records)
    built_at = policy.index().stamp.revision

    caplog.clear()
    _add(registry, "C2", "Donald Duck")
    with caplog.at_level(logging.WARNING, logger="provenance.policies.known_works"):
        assert sorted(_screen(policy, "mickey mouse and donald duck")) == ["C1", "C2"]
    stale = [r.message for r in caplog.records if "stale" in r.message]
    assert stale == [
        f"known-works index is stale (built at registry revision {built_at}, "
        f"registry now at {built_at + 1}); rebuilding it"
    ]
    registry.remove("C1")
    assert _screen(policy, "mickey mouse and donald duck") == ["C2"]

    caplog.clear()
    fresh = KnownWorksPolicy({}, PolicyContext(settings=settings))
    with caplog.at_level(logging.WARNING, logger="provenance.policies.known_works"):
        assert _screen(fresh, "donald duck") == ["C2"]
    assert not [r for r in caplog.records if "known-works index" in r.message]  # reused from disk
    registry.close()


def test_torn_or_foreign_index_is_rebuilt(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path, tmp_path: Path
) -> None:
    settings = settings_for(migrated_url)
    registry = KnownWorksRegistry.from_settings(settings)
    _add(registry, "A1", "Rocket", photo_dir / "rocket.png")
    root = index_root(settings.index_dir)
    notices: list[str] = []
    first = current_index(registry, root, None, notify=notices.append)
    assert first.stamp.images == 1 and first.stamp.hashes == 35
    build = root / (root / "CURRENT").read_text().strip()
    np.save(build / "image_ids.npy", np.array([999], dtype=np.int64))  # tampered ids
    assert KnownWorksIndex.open(root) is None
    current_index(registry, root, None, notify=notices.append)
    (root / "CURRENT").write_text("build-missing\n")
    again = current_index(registry, root, None, notify=notices.append)
    assert notices == ["known-works index is missing or unreadable; building it"] * 3
    assert again.stamp.digest == first.stamp.digest

    other = settings_for(f"sqlite:///{tmp_path / 'other.db'}")
    from provenance.ledger import migrate

    migrate.upgrade(other.database_url)
    other_registry = KnownWorksRegistry.from_settings(other)
    current_index(other_registry, root, None, notify=notices.append)
    assert notices[-1] == "known-works index was built from another database; rebuilding it"
    assert KnownWorksIndex.open(root).stamp.works == 0  # type: ignore[union-attr]
    registry.close()
    other_registry.close()


def test_reindex_embeds_works_added_before_clip_was_configured(
    cli: Callable[..., Result], migrated_url: str, photo_dir: Path, tmp_path: Path
) -> None:
    added = cli(["works", "add", str(photo_dir / "camera.png"), "--title", "Camera Man",
                 "--kind", "artwork", "--license", "all-rights-reserved", "--id", "A1"],
                migrated_url)  # fmt: skip
    assert added.exit_code == 0, added.output
    checkpoint, config = make_tiny_clip(tmp_path / "clip")
    clip_env = {
        "PROVENANT_CLIP__CHECKPOINT": str(checkpoint),
        "PROVENANT_CLIP__CONFIG": str(config),
    }
    result = cli(["works", "reindex", "--json"], migrated_url, **clip_env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["refreshed"] == {
        "images_embedded": 1,
        "works_embedded": 1,
        "images_rehashed": 0,
        "images_described": 0,
        "works_described": 0,
    }
    assert report["index"]["clip_model"].startswith("provenant-tiny-clip:")
    assert report["index"]["unembedded_images"] == 0
    again = json.loads(cli(["works", "reindex", "--json"], migrated_url, **clip_env).stdout)
    assert set(again["refreshed"].values()) == {0}
    assert again["index"]["revision"] == report["index"]["revision"]

    settings = Settings.load(env={}, overrides={"database_url": migrated_url,
                             "clip": {"checkpoint": str(checkpoint), "config": str(config)}},
                             home=tmp_path / "elsewhere")  # fmt: skip
    policy = KnownWorksPolicy({"clip_image_threshold": 0.999}, PolicyContext(settings=settings))
    from provenance.imageio import open_image
    from provenance.pipeline.policyset import as_screenable

    verdict = policy.screen_image(
        as_screenable(open_image(photo_dir / "camera.png").convert("RGB")),
        GenerationRequest(prompt="", generator="test"),
    )
    assert verdict.action is Action.BLOCK
    assert {r.rule for r in verdict.reasons} == {"phash", "clip_image", "geometric"}


def test_migration_matches_the_models(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        revision = conn.execute(sa.text("SELECT revision FROM known_works_revision")).scalar()
    engine.dispose()
    mine = [d for d in diffs if MY_TABLES & {getattr(x, "name", None) for x in _objects(d)}]
    assert mine == []
    assert revision == 0


def _objects(diff: object) -> list[object]:
    items = diff if isinstance(diff, list) else [diff]
    out = []
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            out.append(part)
            out.append(getattr(part, "table", None))
    return out
