"""Tiny random-weight models: complete, labelled as random, identical bytes every run."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from provenance.errors import BadInputError
from provenance.generators.cards import read_model_card
from provenance.generators.tiny import TINY_LICENSE, TinyModels, byte_level_vocab, make_tiny_models


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_every_family_is_written_with_a_tiny_random_card(tiny_models: TinyModels) -> None:
    for folder in ("diffusion", "gan", "adain", "gatys", "torchscript"):
        card = read_model_card(tiny_models.root / folder)
        assert card is not None
        assert card.name == f"tiny-random-{folder}"
        assert card.license == TINY_LICENSE
        assert card.training_data.startswith("none (random initialisation")
    assert (tiny_models.diffusion / "model_index.json").is_file()
    assert tiny_models.gatys.is_file()
    assert tiny_models.torchscript.is_file()


def test_make_tiny_models_is_byte_for_byte_deterministic(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    again = make_tiny_models(tmp_path / "again")
    files = _all_files(tiny_models.root)
    assert files == _all_files(again.root)
    _, mismatch, errors = filecmp.cmpfiles(tiny_models.root, again.root, files, shallow=False)
    assert mismatch == []
    assert errors == []


def test_make_tiny_models_replaces_its_own_output_but_nothing_else(tmp_path: Path) -> None:
    made = make_tiny_models(tmp_path)
    made = make_tiny_models(tmp_path)  # a second run over its own output is fine
    assert made.gan.is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny-")]
    other = tmp_path / "elsewhere"
    (other / "gan").mkdir(parents=True)
    (other / "gan" / "precious.txt").write_text("keep me")
    with pytest.raises(BadInputError, match="exists and is not a tiny model"):
        make_tiny_models(other)
    assert (other / "gan" / "precious.txt").read_text() == "keep me"


def test_byte_level_vocab_covers_every_byte() -> None:
    vocab = byte_level_vocab()
    assert len(vocab) == 2 + 256 * 2
    assert len(set(vocab.values())) == len(vocab)
    assert "a</w>" in vocab


def test_an_unwritable_target_is_one_line_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BadInputError, match=r"file/models: cannot write tiny models"):
        make_tiny_models(blocker / "models")
