"""KnownWorksPolicy end to end on both engines: licences, attribution, CLIP on and off."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from provenance.config import Settings
from provenance.pipeline.policyset import PolicySet, as_screenable
from provenance.policies.clip import make_tiny_clip
from provenance.policies.known_works import KnownWorksPolicy
from provenance.policies.known_works.prepare import prepare_work
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec
from provenance.protocols import PolicyContext
from provenance.types import Attribution, GenerationRequest
from provenance.verdict import Action

SettingsFor = Callable[..., Settings]


def _register(settings: Settings, photo_dir: Path, clip: bool = False) -> None:
    """Three works: a licensed character, a reserved artwork with an image, an artist."""
    from provenance.policies.clip import ClipEncoder

    encoder = ClipEncoder.from_settings(settings) if clip else None
    specs = [
        WorkSpec(id="C-7", title="Mickey Mouse", creator="Disney", kind="character",
                 aliases=("Steamboat Willie",), license="licensed:DIS-2024-7"),
        WorkSpec(id="A-1", title="Coffee Still Life", creator="Studio Photo", kind="artwork",
                 license="all-rights-reserved", images=(photo_dir / "coffee.png",)),
        WorkSpec(id="S-3", title="Greg Rutkowski", kind="artist_style",
                 license="all-rights-reserved"),
    ]  # fmt: skip
    registry = KnownWorksRegistry.from_settings(settings)
    registry.add([prepare_work(spec, encoder) for spec in specs])
    registry.close()


def _policy(settings: Settings, **options: object) -> KnownWorksPolicy:
    return KnownWorksPolicy(options, PolicyContext(settings=settings))


def _request(prompt: str, license: str | None = None) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, generator="test", license=license)


def test_licensed_match_is_credited(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path
) -> None:
    settings = settings_for(migrated_url)
    _register(settings, photo_dir)
    verdict = _policy(settings).screen_prompt(_request("mickey mouse surfing, watercolour"))
    assert verdict.action is Action.ALLOW
    (reason,) = verdict.reasons
    assert (reason.policy, reason.rule, reason.work_id, reason.work_title) == (
        "known_works", "name", "C-7", "Mickey Mouse",
    )  # fmt: skip
    assert reason.score == 1.0 and reason.threshold == 0.9
    assert "licensed:DIS-2024-7" in reason.detail
    assert verdict.attributions == (
        Attribution("C-7", "Mickey Mouse", "Disney", "licensed:DIS-2024-7", 1.0, "name"),
    )
    warned = _policy(settings, licensed_action="warn").screen_prompt(_request("Steamboat Willie"))
    assert warned.action is Action.WARN and warned.attributions[0].work_id == "C-7"


def test_all_rights_reserved_blocks_or_needs_licence(
    migrated_url: str,
    settings_for: SettingsFor,
    photo_dir: Path,
    photo: Callable[[str], Image.Image],
) -> None:
    settings = settings_for(migrated_url)
    _register(settings, photo_dir)
    prompt = _request("a castle in the style of greg rutkowsky")
    blocked = _policy(settings).screen_prompt(prompt)
    assert blocked.action is Action.BLOCK and blocked.attributions == ()
    assert blocked.reasons[0].work_id == "S-3" and blocked.reasons[0].span == "greg rutkowsky"

    needs = _policy(settings, all_rights_reserved_action="needs_license")
    assert needs.screen_prompt(prompt).action is Action.NEEDS_LICENSE
    declared = needs.screen_prompt(_request(prompt.prompt, license="AGR-99"))
    assert declared.action is Action.WARN
    assert declared.reasons[0].detail.endswith(
        "licence all-rights-reserved, used under the declared licence AGR-99"
    )
    assert declared.attributions == (
        Attribution("S-3", "Greg Rutkowski", "", "AGR-99", declared.reasons[0].score, "name"),
    )

    image = as_screenable(photo("coffee").crop((30, 20, 570, 380)))
    on_image = needs.screen_image(image, _request("", license="AGR-100"))
    assert on_image.action is Action.WARN
    assert (on_image.attributions[0].work_id, on_image.attributions[0].license) == (
        "A-1",
        "AGR-100",
    )
    assert on_image.attributions[0].method in ("phash", "geometric")
    assert _policy(settings).screen_image(image, _request("")).action is Action.BLOCK


def test_policy_loads_through_the_entry_point(migrated_url: str, settings_for: SettingsFor) -> None:
    settings = settings_for(migrated_url)
    policies = PolicySet.from_settings(settings, names=["known_works"])
    assert policies.names == ["known_works"]
    assert policies.screen_prompt(_request("a red fox")).action is Action.ALLOW


def test_missing_clip_weights_disable_clip_loudly_but_hashes_still_block(
    migrated_url: str,
    settings_for: SettingsFor,
    photo_dir: Path,
    photo: Callable[[str], Image.Image],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _register(settings_for(migrated_url), photo_dir)
    missing = tmp_path / "weights" / "ViT-B-32.safetensors"
    settings = settings_for(migrated_url, clip={"checkpoint": str(missing)})
    policy = _policy(settings)
    with caplog.at_level(logging.WARNING, logger="provenance.policies.known_works"):
        verdict = policy.screen_image(
            as_screenable(photo("coffee").resize((300, 200))), _request("")
        )
    assert verdict.action is Action.BLOCK
    assert {r.rule for r in verdict.reasons} == {"phash", "geometric"}  # no CLIP rule
    assert len(verdict.disabled) == 1
    assert verdict.disabled[0].startswith("known_works.clip_image: clip.checkpoint")
    assert str(missing) in verdict.disabled[0]
    assert any("DISABLED" in r.message and str(missing) in r.message for r in caplog.records)
    prompt_verdict = policy.screen_prompt(_request("greg rutkowski"))
    assert prompt_verdict.action is Action.BLOCK
    assert prompt_verdict.disabled[0].startswith("known_works.clip_text:")

    from provenance.errors import ConfigError

    with pytest.raises(ConfigError, match="require_clip"):
        _policy(settings, require_clip=True).screen_prompt(_request("x"))


def test_clip_layers_run_with_the_tiny_model(
    migrated_url: str,
    settings_for: SettingsFor,
    photo_dir: Path,
    photo: Callable[[str], Image.Image],
    tmp_path: Path,
) -> None:
    checkpoint, config = make_tiny_clip(tmp_path / "clip")
    settings = settings_for(
        migrated_url, clip={"checkpoint": str(checkpoint), "config": str(config)}
    )
    _register(settings, photo_dir, clip=True)
    policy = _policy(settings, clip_image_threshold=0.999, clip_text_threshold=0.999)
    verdict = policy.screen_image(as_screenable(photo("coffee")), _request(""))
    assert verdict.disabled == ()
    rules = {r.rule: r for r in verdict.reasons}
    assert set(rules) == {"phash", "clip_image", "geometric"}
    assert rules["clip_image"].work_id == "A-1" and rules["clip_image"].score > 0.999
    text = policy.screen_prompt(_request("Coffee Still Life by Studio Photo"))
    assert "clip_text" in {r.rule for r in text.reasons}
    assert policy.index().stamp.clip_model == policy.clip.fingerprint  # type: ignore[union-attr]


def test_status_and_unmigrated_database(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path, tmp_path: Path
) -> None:
    settings = settings_for(migrated_url)
    _register(settings, photo_dir)
    policy = _policy(settings)
    status = policy.status()
    assert status["works"] == "3" and status["index"].startswith("not built")
    policy.screen_prompt(_request("x"))
    assert policy.status()["index"] == "current: 1 images, 35 hash variants"
    assert policy.status()["clip"] == "disabled: no [clip] checkpoint configured"

    from provenance.errors import LedgerError

    empty = _policy(settings_for(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(LedgerError, match=r"not set up in .*run `provenant db upgrade`"):
        empty.screen_prompt(_request("x"))


def test_same_image_twice_in_one_work_is_refused(
    migrated_url: str, settings_for: SettingsFor, photo_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from provenance.errors import BadInputError

    copy = tmp_path / "copy.png"
    shutil.copyfile(photo_dir / "rocket.png", copy)
    spec = WorkSpec(id="R", title="Rocket", kind="artwork", license="all-rights-reserved",
                    images=(photo_dir / "rocket.png", copy))  # fmt: skip
    registry = KnownWorksRegistry.from_settings(settings_for(migrated_url))
    with pytest.raises(BadInputError, match=r"image copy\.png is given twice"):
        registry.add([prepare_work(spec, None)])
    assert registry.list_works() == []
    registry.close()
