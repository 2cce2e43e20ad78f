"""`PolicySet.check_layers`: fail closed, bypass only by exact name, refuse typos."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from provenance.config import Settings
from provenance.errors import ConfigError, PolicyLayerUnavailableError
from provenance.pipeline.policyset import PolicySet, bypass_record
from provenance.protocols import LayerStatus
from provenance.verdict import Verdict


class _Layered:
    """A policy with one model-dependent layer, ready or not."""

    name: ClassVar[str] = "probe"
    version: ClassVar[str] = "1"

    def __init__(self, ready: bool) -> None:
        self.ready = ready

    def layers(self) -> list[LayerStatus]:
        detail = "" if self.ready else "model.bin not found"
        return [LayerStatus("probe.vision", self.ready, "the probe model", detail)]

    def screen_prompt(self, request: Any) -> Verdict:
        return Verdict.allow()

    def screen_image(self, image: Any, request: Any) -> Verdict:
        return Verdict.allow()


class _Plain(_Layered):
    """A policy without `layers()` (every built-in text policy today)."""

    name: ClassVar[str] = "plain"

    def __init__(self) -> None:
        super().__init__(True)

    layers = None  # type: ignore[assignment]


def test_a_layer_that_cannot_run_refuses_naming_the_model_and_the_bypass() -> None:
    policies = PolicySet([_Layered(False), _Plain()])
    with pytest.raises(PolicyLayerUnavailableError) as err:
        policies.check_layers([])
    message = err.value.diagnostics()
    assert "policy layer probe.vision cannot run (needs the probe model: model.bin not found)" in (
        message
    )
    assert '[policies] degraded = ["probe.vision"]' in message and "\n" not in message


def test_a_named_bypass_is_returned_and_recorded() -> None:
    (bypassed,) = PolicySet([_Layered(False)]).check_layers(["probe.vision"])
    assert bypass_record([bypassed]) == {
        "probe.vision": "needs the probe model: model.bin not found"
    }


def test_a_ready_layer_needs_no_bypass_and_records_none() -> None:
    policies = PolicySet([_Layered(True)])
    assert policies.check_layers([]) == ()
    assert policies.check_layers(["probe.vision"]) == ()  # named, but it runs


def test_names_for_enabled_policies_must_exist_others_are_ignored() -> None:
    policies = PolicySet([_Layered(True), _Plain()])
    for typo in ("probe.visoin", "plain.semantic"):
        with pytest.raises(ConfigError, match=f"names {typo}, which no enabled policy has"):
            policies.check_layers([typo])
    assert policies.check_layers(["output_safety.nsfw"]) == ()  # not in this set


def test_degraded_entries_must_look_like_layer_names() -> None:
    with pytest.raises(ConfigError, match=r"policies\.degraded"):
        Settings.load(home="/nonexistent", env={}, overrides={"policies": {"degraded": ["clip"]}})
    settings = Settings.load(
        home="/nonexistent",
        env={"PROVENANT_POLICIES__DEGRADED": '["known_works.clip", "known_works.clip"]'},
    )
    assert settings.policies.degraded == ["known_works.clip"]
