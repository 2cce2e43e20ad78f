"""Prompts that describe a registered work, or name it in another language, found by meaning.

A rights team writes what a work looks like ("small yellow mouse-like creature with red
cheek pouches and a lightning-bolt tail"); a user asks for "the yellow electric mouse with
red cheeks".  No word list links the two, but a multilingual sentence encoder
(multilingual-e5-small through `policies.text_embed`, behind its `TextEncoder` protocol)
puts them close together, in any of about a hundred languages.

Each work is represented by a few passages: its names with its creator, the whole
description, and each sentence of it (a prompt usually echoes one or two traits, and a
single sentence is a closer match for that than the whole paragraph).  Prompt and passages
are embedded alike (E5 `query:` on both) and the prompt is compared with every passage; the
best passage per work is its score.
Sentence similarity alone separates poorly (E5 puts most image prompts within a few
hundredths of each other), so each work's score also gets a small lexical term: the summed
inverse document frequency, across the registry, of the prompt's words that the work's
names and description use ("pitchfork", "scallop", "polka dots" say more than "painting").
A work is reported when its combined score reaches the threshold *and* beats the next work's
by a margin, since a prompt that is equally close to many works (any cartoon animal)
describes none of them in particular.  Weight, threshold and margin were chosen on the
development prompts (`benchmarks/tune_known_works_dev.py`), never on the test split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from provenance.policies.known_works.specs import work_text

if TYPE_CHECKING:
    from provenance.policies.known_works.specs import WorkSpec

#: Passages per work at most (names, description, its first sentences).
MAX_PASSAGES = 8
_SENTENCE = re.compile(r"(?<=[.!?;。！？])\s+")


class PassageEncoder(Protocol):
    """A `TextEncoder`, optionally with an asymmetric `encode_passages` (E5 has one)."""

    kind: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, rows L2-normalised."""


def passages_for(title: str, creator: str, aliases: Sequence[str], description: str) -> list[str]:
    """What stands for a work in the semantic layer (see the module docstring)."""
    out = [work_text(title, creator, list(aliases))]
    if description:
        out.append(description)
        sentences = [s.strip() for s in _SENTENCE.split(description) if len(s.strip()) > 12]
        if len(sentences) > 1:
            out.extend(sentences)
    return list(dict.fromkeys(out))[:MAX_PASSAGES]


def work_passages(spec: WorkSpec) -> list[str]:
    """`passages_for` a validated work."""
    return passages_for(spec.title, spec.creator, spec.aliases, spec.description)


def embed_passages(encoder: PassageEncoder, passages: Sequence[str]) -> np.ndarray:
    """(k, d) float32 vectors of a work's passages.

    Embedded like prompts (E5's `query:` side on both): a prompt and a sentence about a
    work are texts of the same kind, and on the development prompts the symmetric form
    separated works from everyday prompts better than E5's `passage:` side.
    """
    return np.asarray(encoder.encode(list(passages)), dtype=np.float32)


def encoder_fingerprint(encoder: PassageEncoder) -> str:
    """Which encoder made a vector: kind and variant (vectors of others are not compared)."""
    variant = getattr(encoder, "variant", None)
    return f"{encoder.kind}:{variant}" if variant else encoder.kind


def semantic_bytes(vectors: np.ndarray) -> bytes:
    """(k, d) float32 as bytes with a little header (k, d) for a database column."""
    k, d = vectors.shape
    return np.array([k, d], dtype="<u4").tobytes() + np.ascontiguousarray(vectors, "<f4").tobytes()


def semantic_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of `semantic_bytes`."""
    k, d = (int(v) for v in np.frombuffer(data[:8], dtype="<u4"))
    return np.frombuffer(data[8:], dtype="<f4").reshape(k, d).astype(np.float32)


_WORD = re.compile(r"\w+")


def content_words(text: str) -> set[str]:
    """Lower-case words of three letters or more, a plural `s` dropped."""
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if len(w) >= 3}


class LexicalOverlap:
    """Inverted index from content words to the works that use them, weighted by IDF."""

    def __init__(self, word_sets: Iterable[Iterable[str]]) -> None:
        postings: dict[str, list[int]] = {}
        self.works = 0
        for position, words in enumerate(word_sets):
            self.works = position + 1
            for word in set(words):
                postings.setdefault(word, []).append(position)
        self._postings = {
            word: (np.asarray(owners, dtype=np.int64), math.log(max(self.works, 1) / len(owners)))
            for word, owners in postings.items()
        }

    def scores(self, prompt: str) -> np.ndarray:
        """Per work: summed IDF of the prompt's content words that the work uses."""
        out = np.zeros(self.works, dtype=np.float32)
        for word in content_words(prompt):
            found = self._postings.get(word)
            if found is not None:
                out[found[0]] += found[1]
        return out


def work_words(title: str, creator: str, aliases: Sequence[str], description: str) -> list[str]:
    """The content words of a work's names, creator and description (sorted)."""
    return sorted(content_words(" ".join([title, creator, description, *aliases])))


def best_per_work(scores: np.ndarray, owners: np.ndarray, works: int) -> np.ndarray:
    """The best passage score of every work (-1 for works without passages)."""
    best = np.full(works, -1.0, dtype=np.float32)
    if scores.size:
        np.maximum.at(best, owners, scores)
    return best


def semantic_match(best: np.ndarray, threshold: float, margin: float) -> tuple[int, float] | None:
    """(work, score) of the closest work when it reaches `threshold` and leads the next
    work by `margin`; None otherwise."""
    if best.size == 0:
        return None
    order = np.argsort(-best, kind="stable")
    score = float(best[order[0]])
    runner_up = float(best[order[1]]) if best.size > 1 else -1.0
    if score < threshold or score - runner_up < margin:
        return None
    return int(order[0]), score
