"""The pure parts of a signed human step: names, actions, source types, regions, licences."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw

from provenance.credentials.editing import (
    DIGITAL_CREATION,
    HUMAN_EDITS,
    MINOR_HUMAN_EDITS,
    Ancestor,
    HumanStep,
    ancestors,
    changed_region,
    check_actions,
    check_person_name,
    editor_actor,
    inherited_card,
    source_type,
    tool_agent,
)
from provenance.credentials.lineage import Lineage, LineageStep
from provenance.credentials.manifest import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
)
from provenance.errors import BadInputError


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "give the person"), ("   ", "give the person"), ("A" * 201, "at most 200"),
     ("A" * 10_000, "at most 200"), ("Ana\x00", "U+0000"), ("Ana\tLima", "U+0009"),
     ("Ana\u202eLima", "U+202E"), ("Ana\ud800", "U+D800")],
)  # fmt: skip
def test_bad_person_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(why)):
        check_person_name(name)


def test_good_names_are_kept_trimmed() -> None:
    assert check_person_name("  Zoë Ōkubo-Lima 李 ") == "Zoë Ōkubo-Lima 李"
    assert editor_actor("Ana") == {"identifier": "Ana", "credentials": []}


def test_actions_default_dedupe_and_refuse_reserved() -> None:
    assert check_actions([]) == ("c2pa.edited",)
    assert check_actions(["c2pa.drawing", "c2pa.drawing", "com.studio.paintover"]) == (
        "c2pa.drawing",
        "com.studio.paintover",
    )
    for bad in ("c2pa.created", "c2pa.opened", "c2pa.nonsense", "paintover", "C2PA.drawing"):
        with pytest.raises(BadInputError, match="--action"):
            check_actions([bad])


def test_tool_agent_splits_a_version() -> None:
    assert tool_agent("Krita 5.2") == {"name": "Krita", "version": "5.2"}
    assert tool_agent("Adobe Photoshop v25.1.0") == {"name": "Adobe Photoshop", "version": "25.1.0"}
    assert tool_agent("GIMP") == {"name": "GIMP"}
    assert tool_agent(None)["name"] == "provenant"


def _ancestor(ai: bool, uses: list[str] | None = None) -> Ancestor:
    model = None if uses is None else {"name": "faces", "version": "1", "license": "L",
                                       "permitted_uses": uses}  # fmt: skip
    return Ancestor("urn:c2pa:x", "face.png", ai, model)


def test_source_type_follows_the_history_and_the_actions() -> None:
    assert (
        source_type(["c2pa.drawing"], [_ancestor(True)]) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    )
    assert source_type(["c2pa.color_adjustments"], [_ancestor(False)]) == MINOR_HUMAN_EDITS
    assert source_type(["c2pa.cropped", "c2pa.drawing"], []) == HUMAN_EDITS


def test_inherited_card_intersects_uses_and_names_the_ancestor() -> None:
    card = inherited_card(
        [_ancestor(True, ["research", "internal"]), _ancestor(True, ["research"])]
    )
    assert card.permitted_uses == ("research",)
    assert "faces 1 (L) in face.png, urn:c2pa:x" in card.license
    free = inherited_card(
        [_ancestor(True, ["commercial", "internal", "research"]), _ancestor(False)]
    )
    assert set(free.permitted_uses) == {"commercial", "internal", "research"}
    assert free.license == "no model licence inherited"


def test_ancestors_read_every_manifest_active_first() -> None:
    created = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    actions = {"label": "c2pa.actions.v2", "data": {"actions": [created]}}
    store = {
        "active_manifest": "urn:b",
        "manifests": {
            "urn:a": {"title": "a.png", "assertions": [actions]},
            "urn:b": {"title": "b.png", "assertions": []},
        },
    }
    found = ancestors(store)
    assert [(a.label, a.ai) for a in found] == [("urn:b", False), ("urn:a", True)]
    assert ancestors({}) == []


def test_changed_region_is_local_or_none() -> None:
    base = Image.new("RGB", (100, 80), (10, 20, 30))
    local = base.copy()
    ImageDraw.Draw(local).rectangle((10, 5, 29, 14), fill=(255, 0, 0))
    assert changed_region(base, local) == (10, 5, 20, 10)
    assert changed_region(base, base.copy()) is None
    assert changed_region(base, Image.new("RGB", (100, 80), (0, 0, 0))) is None  # everything
    assert changed_region(base, base.resize((50, 40))) is None


def test_a_sketch_step_is_a_creation_with_the_author() -> None:
    step = HumanStep("Ana", "Krita 5.2", ("c2pa.created",), DIGITAL_CREATION, created=True)
    (action,) = step.edit_steps()
    assert action.action == "c2pa.created" and action.digital_source_type == DIGITAL_CREATION
    assert step.contributor()["role"] == "author"


def test_summary_counts_steps_and_inputs() -> None:
    sketch, style = LineageStep("human sketch", "a.png"), LineageStep("unsigned input", "s.png")
    render = LineageStep("model render", "b.png", inputs=[sketch, style])
    root = LineageStep("human retouch", "c.png", inputs=[render])
    lineage = Lineage("ledger", root)
    assert (
        lineage.summary()
        == "3 steps: 1 human sketch, 1 model render, 1 human retouch; 1 unsigned input"
    )
    root.problems.append("missing: gone")
    assert lineage.summary().endswith("(NOT a clean chain)")
