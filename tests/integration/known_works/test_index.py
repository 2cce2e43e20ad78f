"""The on-disk index: stale detection, updates by the change log, rebuilds of torn or
corrupt files, `works reindex`."""

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
from provenance.policies.clip import ClipEncoder, make_tiny_clip
from provenance.policies.known_works import KnownWorksPolicy
from provenance.policies.known_works.index import KnownWorksIndex, index_root
from provenance.policies.known_works.models import (
    KnownWorkImageRow,
    KnownWorkRow,
    KnownWorksRevisionRow,
)
from provenance.policies.known_works.prepare import prepare_work
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec
from provenance.policies.known_works.upkeep import current_index
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


def test_registry_changes_bring_the_index_forward_without_a_rebuild(
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
    updates = [r.message for r in caplog.records if "known-works index" in r.message]
    assert updates == [
        f"known-works index brought forward from registry revision {built_at} to "
        f"{built_at + 1} (1 change(s) applied, no rebuild)"
    ]
    registry.remove("C1")
    assert _screen(policy, "mickey mouse and donald duck") == ["C2"]
    assert policy.index().stamp.works == 1

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
    assert notices == [
        "known-works index is missing or unreadable; building it",
        "known-works index file image_ids.npy is corrupt; rebuilding it",
        "known-works index is missing or unreadable; building it",
    ]
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


def _tiny_clip(directory: Path) -> ClipEncoder:
    checkpoint, config = make_tiny_clip(directory)
    return ClipEncoder.load(checkpoint, config=config)


@pytest.mark.parametrize("name", ["images.faiss", "hash_phash.npy", "works.json", "extra.bin"])
def test_a_flipped_byte_or_a_stray_file_is_caught_and_rebuilt(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path, name: str, tmp_path: Path
) -> None:
    settings = settings_for(migrated_url)
    registry = KnownWorksRegistry.from_settings(settings)
    clip = _tiny_clip(tmp_path / "clip")
    spec = WorkSpec(id="A1", title="Rocket", kind="artwork", license="all-rights-reserved",
                    images=(photo_dir / "rocket.png",))  # fmt: skip
    registry.add([prepare_work(spec, clip)])
    root = index_root(settings.index_dir)
    first = current_index(registry, root, clip.fingerprint)
    build = root / (root / "CURRENT").read_text().strip()
    path = build / name
    if path.is_file():
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit, mid-file: sizes and headers still look fine
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"not part of the build")
    notices: list[str] = []
    again = current_index(registry, root, clip.fingerprint, notify=notices.append)
    assert notices == [f"known-works index file {name} is corrupt; rebuilding it"]
    assert again.stamp == first.stamp
    assert KnownWorksIndex.open(root) is not None  # the rebuilt files check out
    registry.close()


def _ids(index: KnownWorksIndex) -> tuple[set[str], set[int], set[tuple[str, int, int]]]:
    """What an index holds, by database ids: live works, images, (work, phash, dhash) rows."""
    works = {w.id for w in index.works if not w.removed}
    rows = {
        (index.works[int(o)].id, int(p), int(d))
        for o, p, d in zip(index.hashes.owners, index.hashes.phash, index.hashes.dhash, strict=True)
    }
    return works, {int(i) for i in index.image_ids}, rows


def test_forward_index_equals_a_fresh_build(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path, tmp_path: Path
) -> None:
    settings = settings_for(migrated_url)
    registry = KnownWorksRegistry.from_settings(settings)
    clip = _tiny_clip(tmp_path / "clip")

    def add(wid: str, *names: str) -> None:
        spec = WorkSpec(id=wid, title=f"Work {wid}", kind="artwork", license="all-rights-reserved",
                        images=tuple(photo_dir / f"{n}.png" for n in names))  # fmt: skip
        registry.add([prepare_work(spec, clip)])

    add("W1", "rocket")
    add("W2", "coffee", "camera")
    root = index_root(settings.index_dir)
    current_index(registry, root, clip.fingerprint)
    add("W3", "china")
    registry.remove("W2")
    add("W2", "flower")  # the same id again, with another image
    registry.remove("W1")
    notices: list[str] = []
    moved = current_index(registry, root, clip.fingerprint, notify=notices.append)
    assert notices[0].endswith("(4 change(s) applied, no rebuild)")
    fresh = KnownWorksIndex.build(registry, clip.fingerprint)
    assert _ids(moved) == _ids(fresh)
    assert {k: v for k, v in vars(moved.stamp).items() if k != "digest"} == {
        k: v for k, v in vars(fresh.stamp).items() if k != "digest"
    }
    assert moved.features.images == fresh.features.images == 2
    probe = np.asarray(fresh.images.query(np.eye(1, fresh.images.dim, 0), -1.0, 5)[0].owners)
    got = moved.images.query(np.eye(1, moved.images.dim, 0), -1.0, 5)[0]
    assert [moved.works[o].id for o in got.owners] == [fresh.works[o].id for o in probe]
    reopened = KnownWorksIndex.open(root)
    assert reopened is not None and _ids(reopened) == _ids(fresh)
    registry.close()


def test_gaps_in_the_log_and_recomputed_data_rebuild_instead(
    migrated_url: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(migrated_url)
    registry = KnownWorksRegistry.from_settings(settings)
    _add(registry, "C1", "Mickey Mouse")
    root = index_root(settings.index_dir)
    built = current_index(registry, root, None).stamp.revision
    _add(registry, "C2", "Donald Duck")
    engine = create_engine(migrated_url)
    with engine.begin() as conn:  # a log pruned (or a database older than the log)
        conn.execute(sa.text("DELETE FROM known_works_changes WHERE revision = :r"),
                     {"r": built + 1})  # fmt: skip
    engine.dispose()
    notices: list[str] = []
    current_index(registry, root, None, notify=notices.append)
    assert notices == [
        f"known-works index is stale (built at registry revision {built}, "
        f"registry now at {built + 1}); rebuilding it"
    ]
    registry.update_embeddings([], [("C1", None, None)])  # logged as "derive"
    notices.clear()
    current_index(registry, root, None, notify=notices.append)
    assert len(notices) == 1 and notices[0].endswith("rebuilding it")
    assert [c.change for c in registry.changes_since(built)] == ["derive"]
    registry.close()


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
