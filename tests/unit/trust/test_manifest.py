"""Manifest semantics: actions, source types, ingredients and our assertions."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from provenance import __version__
from provenance.config import ManifestSettings
from provenance.credentials.keys import salt_id
from provenance.credentials.manifest import (
    ATTRIBUTION_LABEL,
    GENERATION_LABEL,
    POLICY_LABEL,
    TRAINING_MINING_LABEL,
    build_import_manifest,
    build_manifest,
    ingredient_definitions,
)
from provenance.errors import BadInputError, ConfigError
from provenance.types import Attribution
from provenance.verdict import Action, Reason, Verdict

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def _assertion(manifest: dict[str, Any], label: str) -> Any:
    found = [a["data"] for a in manifest["assertions"] if a["label"] == label]
    assert len(found) == 1, label
    return found[0]


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return _assertion(manifest, "c2pa.actions.v2")["actions"]


def test_text_to_image_is_created_with_trained_algorithmic_media(th) -> None:
    manifest = build_manifest(th.spec())
    actions = _actions(manifest)
    assert [a["action"] for a in actions] == ["c2pa.created"]
    assert actions[0]["digitalSourceType"] == TRAINED
    assert actions[0]["softwareAgent"] == {"name": "provenant", "version": __version__}
    assert "parameters" not in actions[0]
    assert manifest["claim_generator_info"] == [{"name": "provenant", "version": __version__}]
    assert manifest["title"] == "out.png"


def test_init_image_is_opened_then_edited_as_composite(th, tmp_path: Path) -> None:
    parent = th.input_image(tmp_path, "photo.png", "parentOf")
    style = th.input_image(tmp_path, "style.png", "inputTo", seed=2)
    manifest = build_manifest(th.spec(ingredients=[parent, style]))
    opened, edited = _actions(manifest)
    assert opened["action"] == "c2pa.opened"
    assert opened["parameters"] == {"ingredientIds": ["ingredient-0"]}
    assert edited["action"] == "c2pa.edited"
    assert edited["digitalSourceType"] == COMPOSITE
    assert edited["parameters"] == {"ingredientIds": ["ingredient-1"]}
    definitions = ingredient_definitions([parent, style])
    assert [(d["label"], d["relationship"], d["title"]) for d in definitions] == [
        ("ingredient-0", "parentOf", "photo.png"),
        ("ingredient-1", "inputTo", "style.png"),
    ]
    assert definitions[0]["metadata"]["org.provenant.sha256"] == parent.sha256


def test_reference_image_without_parent_is_an_input_of_created(th, tmp_path: Path) -> None:
    style = th.input_image(tmp_path, "style.png", "inputTo")
    (created,) = _actions(build_manifest(th.spec(ingredients=[style])))
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED
    assert created["parameters"] == {"ingredientIds": ["ingredient-0"]}


def test_two_parents_are_refused(th, tmp_path: Path) -> None:
    a = th.input_image(tmp_path, "a.png", "parentOf")
    b = th.input_image(tmp_path, "b.png", "parentOf", seed=3)
    with pytest.raises(BadInputError, match="one parentOf ingredient"):
        build_manifest(th.spec(ingredients=[a, b]))


def test_generation_assertion_records_the_request_and_model(th) -> None:
    spec = th.spec()
    data = _assertion(build_manifest(spec), GENERATION_LABEL)
    assert data["generator"] == "gan" and data["origin"] == "generated"
    assert data["model"] == th.MODEL.as_dict()
    assert data["model"]["weights_sha256"] == "ab" * 32 and data["model"]["license"]
    assert data["seed"] == 42 and data["params"] == {"steps": 4, "size": [64, 64]}
    assert data["request_id"] == spec.request.request_id
    assert (data["requester"], data["project"]) == ("alice", "harbour")
    assert (data["declared_use"], data["license"]) == ("commercial", "studio-internal")
    assert data["prompt"] == "a lighthouse at dusk" and data["negative_prompt"] == "blurry"
    assert data["asset_id"] == "ast-test"


def test_salted_prompt_hash_replaces_the_prompt(th) -> None:
    salt = b"s" * 32
    settings = ManifestSettings(prompt="salted_hash")
    data = _assertion(
        build_manifest(th.spec(manifest_settings=settings, prompt_salt=salt)), GENERATION_LABEL
    )
    expected = hmac.new(salt, b"a lighthouse at dusk", hashlib.sha256).hexdigest()
    assert data["prompt"] == {"hmac_sha256": expected, "salt_id": salt_id(salt)}
    assert data["negative_prompt"]["hmac_sha256"] != expected
    assert "lighthouse" not in repr(
        build_manifest(th.spec(manifest_settings=settings, prompt_salt=salt))
    )
    with pytest.raises(ConfigError, match="needs the prompt salt"):
        build_manifest(th.spec(manifest_settings=settings))


def test_policy_and_attribution_assertions(th) -> None:
    work = Attribution(
        "W-7", "Harbour Lights", "R. Painter", "licensed:ACME-12", 0.91, "clip_image"
    )
    reason = Reason("known_works", "image_similarity", Action.WARN, 0.91, 0.85, work_id="W-7")
    verdict = Verdict.from_reasons([reason], [work])
    manifest = build_manifest(
        th.spec(image_verdict=verdict, attributions=[work], policies={"known_works": "1.2"})
    )
    policy = _assertion(manifest, POLICY_LABEL)
    assert policy["policies"] == [{"name": "known_works", "version": "1.2"}]
    assert policy["image"]["action"] == "warn" and policy["prompt"]["action"] == "allow"
    assert policy["image"]["reasons"][0]["threshold"] == 0.85
    assert _assertion(manifest, ATTRIBUTION_LABEL) == {"works": [work.as_dict()]}


def test_attribution_assertion_is_present_when_nothing_is_credited(th) -> None:
    manifest = build_manifest(th.spec(policies=["prompt_safety"]))
    assert _assertion(manifest, ATTRIBUTION_LABEL) == {"works": []}
    assert _assertion(manifest, POLICY_LABEL)["policies"] == [{"name": "prompt_safety"}]


def test_training_and_mining_preferences(th) -> None:
    settings = ManifestSettings(training_mining={"cawg.ai_inference": "allowed"})
    entries = _assertion(build_manifest(th.spec(manifest_settings=settings)), TRAINING_MINING_LABEL)
    assert entries["entries"] == {
        "cawg.ai_generative_training": {"use": "notAllowed"},
        "cawg.ai_training": {"use": "notAllowed"},
        "cawg.ai_inference": {"use": "allowed"},
        "cawg.data_mining": {"use": "notAllowed"},
    }


def test_imported_image_is_created_by_the_declared_generator(th) -> None:
    from provenance.types import GenerationRequest

    spec = th.spec(seed=None, request=GenerationRequest(prompt="", generator="midjourney"))
    manifest = build_import_manifest(spec)
    (created,) = _actions(manifest)
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED
    assert created["softwareAgent"] == {"name": "midjourney", "version": "1.0"}
    data = _assertion(manifest, GENERATION_LABEL)
    assert data["origin"] == "imported" and "seed" not in data and "prompt" not in data


def test_params_must_be_json(th) -> None:
    with pytest.raises(BadInputError, match="params"):
        build_manifest(th.spec(params={"bad": object()}))
    data = _assertion(
        build_manifest(th.spec(params={"p": Path("/m"), "s": {2, 1}})), GENERATION_LABEL
    )
    assert data["params"] == {"p": "/m", "s": [1, 2]}


def test_ai_source_types_are_recognised_by_their_iptc_term() -> None:
    from provenance.credentials.manifest import is_ai_source_type

    assert is_ai_source_type(TRAINED) and is_ai_source_type(COMPOSITE)
    assert is_ai_source_type(
        "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia/"
    )
    assert not is_ai_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
    assert not is_ai_source_type(None) and not is_ai_source_type("")


def test_edits_open_the_parent_and_never_claim_creation(th, tmp_path: Path) -> None:
    from provenance.credentials.manifest import EditStep
    from provenance.credentials.parent import ParentCredentials

    parent = th.input_image(tmp_path, "theirs.png", "parentOf")
    style = th.input_image(tmp_path, "style.png", "inputTo", seed=2)
    credentials = ParentCredentials("urn:c2pa:parent", "Valid", ("signingCredential.untrusted",))
    edit = EditStep("c2pa.edited.metadata", "screened and signed", extra={"reason": "import"})
    manifest = build_import_manifest(
        th.spec(ingredients=[parent, style], edits=[edit], parent=credentials)
    )
    opened, edited = _actions(manifest)
    assert opened == {
        "action": "c2pa.opened",
        "softwareAgent": {"name": "provenant", "version": __version__},
        "parameters": {"ingredientIds": ["ingredient-0"]},
    }
    assert edited["action"] == "c2pa.edited.metadata" and "digitalSourceType" not in edited
    assert edited["parameters"] == {"ingredientIds": ["ingredient-1"]}
    assert edited["reason"] == "import" and edited["description"] == "screened and signed"
    generation = _assertion(manifest, GENERATION_LABEL)
    assert generation["origin"] == "imported"
    assert generation["parent"]["manifest_label"] == "urn:c2pa:parent"
    assert generation["parent"]["failures"] == ["signingCredential.untrusted"]
    with pytest.raises(BadInputError, match="edits need a parentOf ingredient"):
        build_manifest(th.spec(ingredients=[style], edits=[edit]))


def test_the_policy_assertion_lists_bypassed_layers(th) -> None:
    assert _assertion(build_manifest(th.spec()), POLICY_LABEL)["degraded"] == []
    why = "needs a CLIP checkpoint: no CLIP checkpoint configured"
    degraded = {"output_safety.nsfw": "needs the Open-NSFW model", "known_works.clip": why}
    data = _assertion(build_manifest(th.spec(degraded=degraded)), POLICY_LABEL)
    assert data["degraded"] == [
        {"layer": "known_works.clip", "reason": why},
        {"layer": "output_safety.nsfw", "reason": "needs the Open-NSFW model"},
    ]
