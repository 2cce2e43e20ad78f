"""The learned decision of the semantic layer: a linear softmax head over sentence embeddings.

`benchmarks/train_prompt_head.py` fits a multinomial logistic regression on a generated,
labelled corpus (`benchmarks/gen_prompt_corpus.py`) embedded by one encoder, and saves it as
`policies/data/prompt_head_<encoder>.npz`:

* `weights` (dim x classes, float32) and `bias` (classes);
* `classes`: `benign` and the prompt-safety categories, in column order;
* `threshold`: the score that fires (fitted on the dev split for a benign false-positive
  budget);
* `decision`: what the threshold is compared with.  `unsafe_mass` (what training writes):
  the probability that the prompt is unsafe at all, 1 - p(benign), naming the most probable
  unsafe class.  Requests that sit between neighbouring categories (nudity of a named
  person reads partly `sexual_explicit`, partly `ncii_real_person`) split their mass
  across classes, so a per-class threshold misses them while the benign class is clearly
  out-voted; on the generated dev split this rule roughly doubles the head's recall at the
  same false-positive rate.  `top_class` (heads saved without the field): the top unsafe
  class's own probability;
* `encoder`, `dim`, `corpus_sha256`: what it was trained on, checked on load.

Scoring is one matrix product and a softmax (numpy only), so the head costs microseconds
next to the encoder.  A head is tied to its embedding space: an encoder without a head
file falls back to nearest-concept similarity (`policies.semantic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from provenance.errors import ConfigError
from provenance.policies.lexicon import DATA_DIR

BENIGN = "benign"
DECISIONS = ("unsafe_mass", "top_class")


def head_path(encoder_kind: str, data_dir: Path = DATA_DIR) -> Path:
    """Where the head for an encoder kind lives."""
    return data_dir / f"prompt_head_{encoder_kind}.npz"


@dataclass(frozen=True)
class HeadScore:
    """The head's view of one text: the most probable unsafe class and its probability."""

    category: str
    probability: float
    benign_probability: float


@dataclass(frozen=True)
class PromptHead:
    """A trained linear head; `score` maps unit embeddings to class probabilities."""

    encoder: str
    weights: np.ndarray
    bias: np.ndarray
    classes: tuple[str, ...]
    threshold: float
    corpus_sha256: str = ""
    decision: str = "top_class"

    @property
    def dim(self) -> int:
        """Embedding size the head expects."""
        return int(self.weights.shape[0])

    @classmethod
    def load(cls, path: Path) -> PromptHead:
        """Read a head file; a `ConfigError` names the file and what is wrong with it."""
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = np.asarray(data["weights"], dtype=np.float32)
                bias = np.asarray(data["bias"], dtype=np.float32)
                classes = tuple(str(c) for c in data["classes"])
                threshold = float(data["threshold"])
                encoder = str(data["encoder"])
                dim = int(data["dim"])
                digest = str(data["corpus_sha256"])
                decision = str(data["decision"]) if "decision" in data else "top_class"
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read prompt head ({exc})") from exc
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: malformed prompt head ({exc})") from exc
        if weights.shape != (dim, len(classes)) or bias.shape != (len(classes),):
            raise ConfigError(
                f"{path}: prompt head shapes disagree (weights {weights.shape}, "
                f"bias {bias.shape}, {len(classes)} classes, dim {dim})"
            )
        if BENIGN not in classes:
            raise ConfigError(f"{path}: prompt head has no {BENIGN!r} class")
        if decision not in DECISIONS:
            raise ConfigError(f"{path}: unknown prompt head decision {decision!r}")
        return cls(encoder, weights, bias, classes, threshold, digest, decision)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, classes) softmax probabilities of unit embedding rows."""
        if vectors.shape[1] != self.dim:
            raise ConfigError(
                f"prompt head for {self.encoder} expects {self.dim}-d embeddings, "
                f"the encoder gave {vectors.shape[1]}-d"
            )
        logits = vectors.astype(np.float32) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probs

    def unsafe_scores(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of `probs`: the most probable unsafe class (column index) and the score
        the threshold is compared with, as `decision` defines it."""
        return unsafe_scores(probs, self.classes, self.decision)

    def score(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """Per row, every class's probability (for evidence and evaluation)."""
        probs = self.probabilities(vectors)
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in probs]


def unsafe_scores(
    probs: np.ndarray, classes: tuple[str, ...] | list[str], decision: str
) -> tuple[np.ndarray, np.ndarray]:
    """(top unsafe class index, score) per row of (n, classes) probabilities; shared with
    the training script so the threshold is fitted on exactly the rule the policy runs."""
    benign = list(classes).index(BENIGN)
    masked = probs.copy()
    masked[:, benign] = -1.0
    top = masked.argmax(axis=1)
    if decision == "unsafe_mass":
        return top, 1.0 - probs[:, benign]
    return top, probs[np.arange(len(probs)), top]


@cache
def shipped_head(encoder_kind: str) -> PromptHead | None:
    """The head shipped for `encoder_kind`, or None when there is none (read once)."""
    path = head_path(encoder_kind)
    if not path.is_file():
        return None
    head = PromptHead.load(path)
    if head.encoder != encoder_kind:
        raise ConfigError(f"{path}: head was trained for {head.encoder!r}, not {encoder_kind!r}")
    return head


def save_head(
    encoder_kind: str,
    weights: np.ndarray,
    bias: np.ndarray,
    classes: list[str],
    threshold: float,
    corpus_sha256: str,
    data_dir: Path = DATA_DIR,
    decision: str = "unsafe_mass",
) -> Path:
    """Write a head file (used by the training script)."""
    path = head_path(encoder_kind, data_dir)
    np.savez_compressed(
        path,
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        classes=np.array(classes),
        threshold=np.float32(threshold),
        encoder=np.array(encoder_kind),
        dim=np.int64(weights.shape[0]),
        corpus_sha256=np.array(corpus_sha256),
        decision=np.array(decision),
    )
    return path
