"""model_license: the declared use must be one the model card permits."""

from __future__ import annotations

from typing import Any

import pytest

from provenance.config import Settings
from provenance.errors import BadInputError, ConfigError
from provenance.policies.model_license import ModelLicensePolicy
from provenance.protocols import PolicyContext
from provenance.types import ModelInfo
from provenance.verdict import Action

DIGIFACE_DCGAN = ModelInfo(
    name="gan-face-generate",
    version="1.0",
    architecture="dcgan",
    license="DigiFace-1M: non-commercial research only",
    training_data="DigiFace-1M synthetic faces",
    weights_sha256="0" * 64,
    permitted_uses=("research",),
)
OPEN_MODEL = ModelInfo(
    name="open-model",
    version="2",
    architecture="unet",
    license="apache-2.0",
    training_data="licensed images",
    weights_sha256="1" * 64,
)
UNKNOWN_MODEL = ModelInfo(
    name="mystery",
    version="",
    architecture="unknown",
    license="unknown",
    training_data="unknown",
    weights_sha256="2" * 64,
)


def test_commercial_use_of_a_research_only_model_is_blocked(
    context: PolicyContext, make_request: Any
) -> None:
    policy = ModelLicensePolicy({}, context)
    verdict = policy.screen_prompt(
        make_request("a face", use="commercial", model_card=DIGIFACE_DCGAN)
    )
    assert verdict.action is Action.BLOCK
    (reason,) = verdict.reasons
    assert (reason.policy, reason.rule, reason.category) == (
        "model_license",
        "use_not_permitted",
        "license",
    )
    assert reason.span == "commercial"
    assert "gan-face-generate" in reason.detail and "research" in reason.detail


@pytest.mark.parametrize("use", ["research", "RESEARCH "])
def test_research_use_of_that_model_is_allowed(
    context: PolicyContext, make_request: Any, use: str
) -> None:
    policy = ModelLicensePolicy({}, context)
    verdict = policy.screen_prompt(make_request("a face", use=use, model_card=DIGIFACE_DCGAN))
    assert verdict.action is Action.ALLOW
    assert verdict.reasons == ()


def test_default_use_comes_from_settings(home: Any, make_request: Any) -> None:
    research = Settings.load(home=home, env={}, overrides={"policies": {"default_use": "research"}})
    allowed = ModelLicensePolicy({}, PolicyContext(settings=research))
    assert allowed.screen_prompt(make_request(model_card=DIGIFACE_DCGAN)).action is Action.ALLOW
    commercial = ModelLicensePolicy({}, PolicyContext(settings=Settings.load(home=home, env={})))
    assert commercial.screen_prompt(make_request(model_card=DIGIFACE_DCGAN)).refuses


def test_conflict_can_be_a_warning(context: PolicyContext, make_request: Any) -> None:
    policy = ModelLicensePolicy({"on_conflict": "warn"}, context)
    verdict = policy.screen_prompt(make_request(use="internal", model_card=DIGIFACE_DCGAN))
    assert verdict.action is Action.WARN
    assert not verdict.refuses


def test_unknown_licence_warns_and_is_configurable(
    context: PolicyContext, make_request: Any
) -> None:
    warned = ModelLicensePolicy({}, context).screen_prompt(make_request(model_card=UNKNOWN_MODEL))
    assert warned.action is Action.WARN
    assert warned.reasons[0].rule == "unknown_license"
    strict = ModelLicensePolicy({"on_unknown_license": "block"}, context)
    assert strict.screen_prompt(make_request(model_card=UNKNOWN_MODEL)).action is Action.BLOCK
    known = ModelLicensePolicy({}, context).screen_prompt(make_request(model_card=OPEN_MODEL))
    assert known.action is Action.ALLOW


def test_requests_without_a_card_and_images_pass(context: PolicyContext, make_request: Any) -> None:
    from PIL import Image

    from provenance.pipeline.policyset import as_screenable

    policy = ModelLicensePolicy({}, context)
    assert policy.screen_prompt(make_request("a face")).action is Action.ALLOW
    image = as_screenable(Image.new("RGB", (4, 4)))
    blocked_use = make_request(use="commercial", model_card=DIGIFACE_DCGAN)
    assert policy.screen_image(image, blocked_use).action is Action.ALLOW


def test_bad_use_and_bad_options_are_clear_errors(
    context: PolicyContext, make_request: Any
) -> None:
    policy = ModelLicensePolicy({}, context)
    with pytest.raises(BadInputError, match="unknown use 'resale'"):
        policy.screen_prompt(make_request(use="resale", model_card=OPEN_MODEL))
    with pytest.raises(ConfigError, match=r"\[policies.model_license\]: on_conflict"):
        ModelLicensePolicy({"on_conflict": "ignore"}, context)
    with pytest.raises(ConfigError, match="unknown setting"):
        ModelLicensePolicy({"strict": True}, context)
