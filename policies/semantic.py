"""Concept similarity: the semantic layer shared by prompt and output screening.

A lexicon cannot list every paraphrase ("a woman wearing nothing but a smile"), so the text
policies also compare sentence embeddings of the prompt with short descriptions of each
unsafe category (`policies/data/concepts.toml`).  A category fires when its best description
reaches the category's threshold *and* beats the best benign description by a margin: the
benign anchors keep prompts that merely share words with a concept ("chicken breast recipe",
"suicide prevention poster") below the line.

Long prompts are embedded in overlapping word windows, capped in number, so the cost of a
100 KB prompt is bounded; the best window decides.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from provenance.errors import ConfigError
from provenance.policies.lexicon import DATA_DIR
from provenance.policies.normalize import NormalizedText
from provenance.policies.text_embed import TextEncoder

CONCEPTS_PATH = DATA_DIR / "concepts.toml"
#: Words per embedding window, overlap between windows, and most windows embedded.
WINDOW_WORDS = 48
WINDOW_STRIDE = 32
MAX_WINDOWS = 16


@dataclass(frozen=True)
class ConceptSet:
    """Descriptions per category, benign anchors, and per-encoder thresholds and margins."""

    concepts: Mapping[str, tuple[str, ...]]
    benign: tuple[str, ...]
    thresholds: Mapping[str, Mapping[str, float]]
    margins: Mapping[str, float]
    image_concepts: Mapping[str, tuple[str, ...]]
    image_thresholds: Mapping[str, float]
    narrows: Mapping[str, str]
    version: str = ""

    @classmethod
    def load(cls, path: Path = CONCEPTS_PATH) -> ConceptSet:
        """Read a concepts file; a `ConfigError` names the file and what is wrong."""
        try:
            with path.open("rb") as fh:
                data: dict[str, Any] = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read concepts ({exc.strerror or exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from exc
        try:
            concepts = {k: tuple(v) for k, v in data["concepts"].items() if k != "benign"}
            return cls(
                concepts=concepts,
                benign=tuple(data["concepts"].get("benign", ())),
                thresholds={k: dict(v) for k, v in data.get("thresholds", {}).items()},
                margins=dict(data.get("margin", {})),
                image_concepts={k: tuple(v) for k, v in data.get("image_concepts", {}).items()},
                image_thresholds=dict(data.get("image_thresholds", {})),
                narrows=dict(data.get("narrows", {})),
                version=str(data.get("version", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: malformed concepts ({exc!r})") from exc

    def threshold(self, encoder_kind: str, category: str) -> float:
        """The shipped threshold of `category` for an encoder kind (1.0 = never fires)."""
        return float(self.thresholds.get(encoder_kind, {}).get(category, 1.0))

    def margin(self, encoder_kind: str) -> float:
        """How far the best unsafe description must beat the best benign one."""
        return float(self.margins.get(encoder_kind, 0.0))


@cache
def default_concepts() -> ConceptSet:
    """The concept descriptions shipped with Provenant, read once per process."""
    return ConceptSet.load()


@dataclass(frozen=True)
class ConceptScore:
    """How close a text came to one category, and to the benign anchors, in its best window."""

    category: str
    score: float
    concept: str
    benign_score: float
    window: tuple[int, int]  # token range (inclusive) of the best window

    @property
    def margin(self) -> float:
        """How far the category's best description beat the best benign one."""
        return self.score - self.benign_score


class ConceptIndex:
    """One encoder's embeddings of every description, computed once, scored as a matrix."""

    def __init__(self, encoder: TextEncoder, descriptions: Mapping[str, Sequence[str]]) -> None:
        self.encoder = encoder
        self.labels: list[str] = []
        texts: list[str] = []
        for category, items in descriptions.items():
            self.labels.extend([category] * len(items))
            texts.extend(items)
        self.descriptions = texts
        self.matrix = encoder.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        self._rows = {c: [i for i, lab in enumerate(self.labels) if lab == c] for c in descriptions}

    @property
    def categories(self) -> list[str]:
        """Categories with at least one description (benign included if given)."""
        return [c for c, rows in self._rows.items() if rows]

    def score_vectors(
        self, vectors: np.ndarray, windows: Sequence[tuple[int, int]]
    ) -> dict[str, ConceptScore]:
        """Per category, the best window's score (vectors are unit rows, one per window)."""
        sims = vectors @ self.matrix.T
        benign_rows = self._rows.get("benign", [])
        benign = sims[:, benign_rows].max(axis=1) if benign_rows else np.zeros(len(vectors))
        out = {}
        for category, rows in self._rows.items():
            if category == "benign" or not rows:
                continue
            per_window = sims[:, rows]
            window = int(per_window.max(axis=1).argmax())
            column = int(per_window[window].argmax())
            out[category] = ConceptScore(
                category=category,
                score=float(per_window[window, column]),
                concept=self.descriptions[rows[column]],
                benign_score=float(benign[window]),
                window=windows[window],
            )
        return out

    def score_text(self, text: NormalizedText, max_chars: int) -> dict[str, ConceptScore]:
        """Embed `text` in bounded windows and score every category."""
        windows = embedding_windows(text, max_chars)
        if not windows:
            return {}
        pieces = [" ".join(t.text for t in text.tokens[a : b + 1]) for a, b in windows]
        return self.score_vectors(self.encoder.encode(pieces), windows)


_index_cache: dict[tuple[Any, ...], ConceptIndex] = {}
_index_lock = threading.Lock()


def concept_index(
    encoder: TextEncoder, descriptions: Mapping[str, Sequence[str]], key: tuple[Any, ...]
) -> ConceptIndex:
    """A `ConceptIndex`, shared per process for the same encoder and descriptions (`key`)."""
    with _index_lock:
        index = _index_cache.get(key)
        if index is None:
            index = _index_cache[key] = ConceptIndex(encoder, descriptions)
        return index


def embedding_windows(text: NormalizedText, max_chars: int) -> list[tuple[int, int]]:
    """Token ranges to embed: overlapping windows over the first `max_chars` of the text."""
    count = 0
    used = 0
    for token in text.tokens:
        used += len(token.text) + 1
        if used > max_chars and count:
            break
        count += 1
    if count == 0:
        return []
    starts = range(0, max(count - WINDOW_WORDS, 0) + 1, WINDOW_STRIDE)
    windows = [(s, min(s + WINDOW_WORDS, count) - 1) for s in starts][:MAX_WINDOWS]
    if windows[-1][1] < count - 1 and len(windows) < MAX_WINDOWS:
        windows.append((max(count - WINDOW_WORDS, 0), count - 1))
    return windows
