"""Model cards and the cached weights digest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from provenance.errors import ConfigError, WeightsError
from provenance.generators import cards
from provenance.generators.cards import (
    DIGEST_CACHE_NAME,
    MODEL_CARD_NAME,
    DigestCache,
    ModelCard,
    digest_cache_for,
    model_files,
    read_model_card,
    write_model_card,
)


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every file the digest code actually reads."""
    calls: list[Path] = []
    real = cards.hash_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(cards, "hash_file", counting)
    return calls


def test_one_file_digest_is_its_plain_sha256(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights" * 1000)
    assert DigestCache(None).digest([path]) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_several_files_digest_like_sorted_sha256sum_output(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    files = {"unet/w.bin": b"unet", "config.json": b"{}", "vae.bin": b"vae"}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    listing = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, data in sorted(files.items())
    )
    expected = hashlib.sha256(listing.encode()).hexdigest()
    paths = [tmp_path / rel for rel in files]
    assert DigestCache(None).digest(paths, tmp_path) == expected
    assert DigestCache(None).digest(list(reversed(paths)), tmp_path) == expected


def test_digest_cache_is_used_on_the_second_call(tmp_path: Path, hash_calls: list[Path]) -> None:
    weights = tmp_path / "big.safetensors"
    weights.write_bytes(os.urandom(1 << 20))
    cache_dir = tmp_path / "cache"
    first = digest_cache_for(cache_dir).digest([weights])
    assert hash_calls == [weights]
    assert (cache_dir / DIGEST_CACHE_NAME).is_file()
    second = digest_cache_for(cache_dir).digest([weights])  # a fresh process, same cache file
    assert second == first
    assert hash_calls == [weights]


def test_digest_cache_is_invalidated_when_the_file_changes(
    tmp_path: Path, hash_calls: list[Path]
) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"a" * 100)
    cache_dir = tmp_path / "cache"
    before = digest_cache_for(cache_dir).digest([weights])
    stat = weights.stat()
    weights.write_bytes(b"b" * 100)  # same size: only mtime tells
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    after = digest_cache_for(cache_dir).digest([weights])
    assert after != before
    assert after == hashlib.sha256(b"b" * 100).hexdigest()
    weights.write_bytes(b"c" * 101)  # size changes too
    assert digest_cache_for(cache_dir).digest([weights]) == hashlib.sha256(b"c" * 101).hexdigest()
    assert len(hash_calls) == 3


def test_concurrent_caches_merge_instead_of_losing_entries(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    cache_dir = tmp_path / "cache"
    one, two = digest_cache_for(cache_dir), digest_cache_for(cache_dir)
    one.digest([a])
    two.digest([b])
    stored = json.loads((cache_dir / DIGEST_CACHE_NAME).read_text())
    assert {str(a.resolve()), str(b.resolve())} <= set(stored)
    assert not [p for p in cache_dir.iterdir() if p.name != DIGEST_CACHE_NAME]


def test_a_corrupt_cache_file_is_ignored_and_rewritten(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / DIGEST_CACHE_NAME).write_text("{truncated")
    assert digest_cache_for(cache_dir).digest([weights]) == hashlib.sha256(b"w").hexdigest()
    assert json.loads((cache_dir / DIGEST_CACHE_NAME).read_text())


def test_missing_weights_are_a_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"gone\.bin: cannot read weights"):
        DigestCache(None).digest([tmp_path / "gone.bin"])
    with pytest.raises(WeightsError, match="no weight files"):
        DigestCache(None).digest([], tmp_path)


def test_model_files_skip_cards_hidden_files_and_notes(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / ".cache").mkdir()
    for rel in [
        "unet/w.safetensors",
        "model_index.json",
        "README.md",
        ".cache/x.json",
        MODEL_CARD_NAME,
        "tokenizer.txt",
    ]:
        (tmp_path / rel).write_text("x")
    names = [p.relative_to(tmp_path).as_posix() for p in model_files(tmp_path)]
    assert names == ["model_index.json", "tokenizer.txt", "unet/w.safetensors"]


def test_model_card_round_trip_and_defaults(tmp_path: Path) -> None:
    assert read_model_card(tmp_path) is None
    card = ModelCard(
        name="studio-model",
        license="CreativeML OpenRAIL-M",
        training_data="LAION-5B subset",
        permitted_uses=("research", "internal"),
    )
    write_model_card(tmp_path, card)
    assert read_model_card(tmp_path) == card
    info = card.to_info("ab" * 32)
    assert info.license == "CreativeML OpenRAIL-M"
    assert info.training_data == "LAION-5B subset"
    assert info.permitted_uses == ("research", "internal")
    assert ModelCard(name="x").permitted_uses == ("commercial", "internal", "research")
    assert ModelCard(name="x").license == "unknown"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "unreadable model card"),
        ('{"name": "x", "licence": "MIT"}', "bad model card: licence"),
        ('{"name": "x", "permitted_uses": ["resale"]}', "bad model card: permitted_uses"),
    ],
)
def test_malformed_model_cards_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / MODEL_CARD_NAME).write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_model_card(tmp_path)
