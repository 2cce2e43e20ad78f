"""Verdicts combine as the strictest action and are enforced in one place."""

from __future__ import annotations

import pytest

from provenance.errors import EXIT_BLOCKED, PolicyBlocked
from provenance.types import Attribution
from provenance.verdict import Action, Reason, Verdict


def _reason(action: Action, policy: str = "p", rule: str = "r") -> Reason:
    return Reason(policy=policy, rule=rule, action=action, score=0.5)


def test_strictest_action_wins_and_reasons_accumulate() -> None:
    attribution = Attribution("W1", "Title", "Creator", "licensed:A-1", 0.9, "phash")
    v = Verdict.combine(
        [
            Verdict.from_reasons([_reason(Action.WARN, "a")]),
            Verdict.from_reasons([_reason(Action.NEEDS_LICENSE, "b")], [attribution]),
            Verdict.allow(),
        ]
    )
    assert v.action is Action.NEEDS_LICENSE
    assert [r.policy for r in v.reasons] == ["a", "b"]
    assert v.attributions == (attribution,)
    assert Verdict.combine([]).action is Action.ALLOW


@pytest.mark.parametrize("action", [Action.BLOCK, Action.NEEDS_LICENSE])
def test_enforce_raises_for_refusing_actions(action: Action) -> None:
    v = Verdict.from_reasons([_reason(action, "prompt_safety", "lexicon")])
    with pytest.raises(PolicyBlocked) as err:
        v.enforce("prompt")
    assert err.value.exit_code == EXIT_BLOCKED
    assert err.value.verdict is v
    assert "prompt_safety/lexicon" in str(err.value)


@pytest.mark.parametrize("action", [Action.ALLOW, Action.WARN])
def test_enforce_passes_permissive_actions(action: Action) -> None:
    v = Verdict.from_reasons([_reason(action)])
    assert v.enforce("image") is v


def test_action_parse_rejects_unknown_words() -> None:
    assert Action.parse(" Block ") is Action.BLOCK
    with pytest.raises(ValueError, match="needs_license"):
        Action.parse("deny")


def test_json_form_names_policy_rule_and_score() -> None:
    r = Reason("known_works", "image_similarity", Action.BLOCK, 0.934, 0.9, work_id="W1")
    d = Verdict.from_reasons([r]).as_dict()
    assert d == {
        "action": "block",
        "reasons": [
            {
                "policy": "known_works",
                "rule": "image_similarity",
                "action": "block",
                "score": 0.934,
                "threshold": 0.9,
                "work_id": "W1",
            }
        ],
    }
