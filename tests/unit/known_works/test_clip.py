"""provenance.policies.clip: local-only loading, deterministic unit-length embeddings, clear
errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.config import Settings
from provenance.errors import ConfigError, WeightsError
from provenance.policies.clip import ClipEncoder, make_tiny_clip


def _settings(home: Path, **clip: object) -> Settings:
    return Settings.load(home=home, env={}, overrides={"clip": clip} if clip else None)


def test_not_configured_means_none(home: Path) -> None:
    assert ClipEncoder.from_settings(_settings(home)) is None


def test_text_embeddings_are_unit_length_and_deterministic(tiny_clip: tuple[Path, Path]) -> None:
    encoder = ClipEncoder.load(tiny_clip[0], config=tiny_clip[1])
    texts = ["a red fox in the snow", "Greg Rutkowski", "a red fox in the snow"]
    first = encoder.encode_text(texts)
    assert first.shape == (3, encoder.dim) == (3, 32)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    assert not np.allclose(first[0], first[1])
    np.testing.assert_array_equal(encoder.encode_text(texts), first)


def test_image_embeddings_are_unit_length_and_deterministic(
    tiny_clip: tuple[Path, Path],
) -> None:
    encoder = ClipEncoder.load(tiny_clip[0], config=tiny_clip[1])
    gradient = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (48, 1)))  # mode "L"
    red = Image.new("RGB", (40, 30), (220, 20, 20))
    vectors = encoder.encode_images([gradient, red])
    assert vectors.shape == (2, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.9999
    np.testing.assert_array_equal(encoder.encode_images([red]), vectors[1:])
    assert encoder.encode_images([]).shape == (0, encoder.dim)


def test_tiny_model_is_byte_identical_across_builds(tmp_path: Path) -> None:
    a, _ = make_tiny_clip(tmp_path / "a")
    b, _ = make_tiny_clip(tmp_path / "b")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    enc_a = ClipEncoder.load(a, config=tmp_path / "a" / "provenant-tiny-clip.json")
    enc_b = ClipEncoder.load(b, config=tmp_path / "b" / "provenant-tiny-clip.json")
    np.testing.assert_array_equal(enc_a.encode_text(["x"]), enc_b.encode_text(["x"]))
    assert enc_a.fingerprint == enc_b.fingerprint
    assert enc_a.fingerprint.startswith("provenant-tiny-clip:")


def test_from_settings_loads_and_caches(home: Path, tiny_clip: tuple[Path, Path]) -> None:
    settings = _settings(home, checkpoint=str(tiny_clip[0]), config=str(tiny_clip[1]))
    encoder = ClipEncoder.from_settings(settings)
    assert encoder is not None
    assert encoder.model_name == "provenant-tiny-clip"
    assert ClipEncoder.from_settings(settings) is encoder


def test_missing_checkpoint_names_the_path(home: Path) -> None:
    missing = home / "weights" / "clip.safetensors"
    with pytest.raises(WeightsError, match=re.escape(str(missing))):
        ClipEncoder.from_settings(_settings(home, checkpoint=str(missing)))


def test_corrupt_checkpoint_is_a_weights_error(
    tmp_path: Path, tiny_clip: tuple[Path, Path]
) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00not safetensors at all")
    with pytest.raises(WeightsError, match=r"broken\.safetensors"):
        ClipEncoder.load(broken, config=tiny_clip[1])


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    from provenance.policies.clip import TINY_MODEL_CONFIG

    checkpoint, config = make_tiny_clip(tmp_path / "m")
    wider = tmp_path / "wider-clip.json"
    wider.write_text(config.read_text().replace('"embed_dim": 32', '"embed_dim": 48'))
    assert TINY_MODEL_CONFIG["embed_dim"] == 32
    with pytest.raises(WeightsError, match="cannot load as wider-clip"):
        ClipEncoder.load(checkpoint, config=wider)


@pytest.mark.parametrize("name", ["hf-hub:laion/CLIP-ViT-B-32", "local-dir:/tmp/x", "org/model"])
def test_hub_names_are_refused(tiny_clip: tuple[Path, Path], name: str) -> None:
    with pytest.raises(ConfigError, match="not accepted"):
        ClipEncoder.load(tiny_clip[0], architecture=name)


def test_unknown_architecture_and_bad_config(tmp_path: Path, tiny_clip: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="unknown open_clip architecture"):
        ClipEncoder.load(tiny_clip[0], architecture="ViT-Nonexistent-99")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json"):
        ClipEncoder.load(tiny_clip[0], config=bad)
    with pytest.raises(ConfigError, match="file not found"):
        ClipEncoder.load(tiny_clip[0], config=tmp_path / "absent.json")


def test_hub_text_towers_are_refused(tmp_path: Path, tiny_clip: tuple[Path, Path]) -> None:
    cfg = tmp_path / "hf-text.json"
    cfg.write_text(
        '{"embed_dim": 32, "vision_cfg": {}, "text_cfg": {"hf_model_name": "bert-base-uncased"}}'
    )
    with pytest.raises(ConfigError, match="Hugging Face hub"):
        ClipEncoder.load(tiny_clip[0], config=cfg)
