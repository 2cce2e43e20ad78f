"""GAN generators end to end: tiny DCGAN, TorchScript / torch.export, the trained faces model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from provenance.config import Settings
from provenance.errors import BadInputError, ConfigError, GenerationError, WeightsError
from provenance.generators.gan import DCGANGenerator, TorchScriptGenerator, sample_latent
from provenance.generators.tiny import TinyModels
from provenance.types import GenerationRequest, InputImage

Pixels = Callable[[Any], np.ndarray]


def _run(generator: Any, **fields: Any) -> list[Any]:
    fields.setdefault("prompt", "a face")
    return generator.generate(GenerationRequest(generator=generator.name, **fields))


def test_dcgan_is_deterministic_per_seed(tiny_gan: Any, pixels: Pixels) -> None:
    first, again, other = (_run(tiny_gan, seed=s)[0] for s in (3, 3, 4))
    assert first.size == (32, 32)
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(first) != pixels(other)).any()
    assert pixels(first).std() > 5


def test_dcgan_image_i_reproduces_alone(tiny_gan: Any, pixels: Pixels) -> None:
    batch = _run(tiny_gan, seed=20, num_images=4, params={"truncation": 0.8})
    assert [image.seed for image in batch] == [20, 21, 22, 23]
    alone = _run(tiny_gan, seed=batch[3].seed, params={"truncation": 0.8})
    assert (pixels(alone[0]) == pixels(batch[3])).all()


def test_dcgan_records_the_latent_mapping(tiny_gan: Any) -> None:
    image = _run(tiny_gan, seed=5, params={"truncation": 0.5})[0]
    latent = image.params["latent"]
    assert latent["shape"] == [1, 16, 1, 1]
    assert latent["sampler"] == "torch.randn on torch.Generator('cpu').manual_seed(5)"
    assert latent["truncation"] == 0.5
    assert image.params["device"] == "cpu"
    assert image.params["dtype"] == "float32"
    assert "not used" in image.params["conditioning"]


def test_truncation_resamples_within_bounds_and_changes_the_image(
    tiny_gan: Any, pixels: Pixels
) -> None:
    z = sample_latent(9, (512,), 0.5)
    assert z.abs().max() <= 0.5
    plain = sample_latent(9, (512,), None)
    assert plain.abs().max() > 0.5
    inside = plain.abs() <= 0.5
    first_inside = torch.nonzero(inside.flatten())[0]
    assert z.flatten()[first_inside] == plain.flatten()[first_inside]  # kept where already inside
    free, truncated = (_run(tiny_gan, seed=9, params=p)[0] for p in ({}, {"truncation": 0.3}))
    assert (pixels(free) != pixels(truncated)).any()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"truncation": 0}, "parameter 'truncation': Input should be greater than 0"),
        ({"truncation": 50}, "less than or equal to 10"),
        ({"psi": 0.7}, "unknown parameter 'psi'; known: truncation"),
    ],
)
def test_bad_gan_parameters(tiny_gan: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        _run(tiny_gan, seed=1, params=params)


def test_gan_refuses_input_images(tiny_gan: Any, content_image: InputImage) -> None:
    with pytest.raises(BadInputError, match="gan: a GAN samples from noise and takes no init"):
        _run(tiny_gan, seed=1, init_image=content_image)


def test_model_card_and_weights_file_forms(
    tiny_models: TinyModels, settings: Settings, pixels: Pixels
) -> None:
    by_dir = DCGANGenerator(tiny_models.gan, {}, settings)
    by_file = DCGANGenerator(tiny_models.gan / "model.safetensors", {}, settings)
    assert by_dir.model_info() == by_file.model_info()
    assert by_dir.model_info().name == "tiny-random-gan"
    by_file.load("cpu")
    by_dir.load("cpu")
    assert (pixels(_run(by_file, seed=1)[0]) == pixels(_run(by_dir, seed=1)[0])).all()


def _copy(tiny: Path, tmp_path: Path) -> Path:
    target = tmp_path / "gan"
    shutil.copytree(tiny, target)
    return target


def test_wrong_shape_state_dict_names_the_tensor(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    broken = _copy(tiny_models.gan, tmp_path)
    config = json.loads((broken / "config.json").read_text())
    config["base_channels"] = 16
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError) as err:
        DCGANGenerator(broken, {}, settings).load("cpu")
    message = err.value.diagnostics()
    assert "model.safetensors: wrong shape for main.0.weight" in message
    assert "file has (16, 32, 4, 4), the configured architecture needs (16, 64, 4, 4)" in message


def test_missing_tensors_are_named(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    broken = _copy(tiny_models.gan, tmp_path)
    state = load_file(str(broken / "model.safetensors"))
    del state["main.1.running_var"]
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"missing tensors main\.1\.running_var"):
        DCGANGenerator(broken, {}, settings).load("cpu")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "model.safetensors: truncated safetensors file"),
        ("garble", "model.safetensors: corrupt safetensors file"),
        ("no-config", "config.json: missing (DCGAN weights need their config.json beside them)"),
        ("bad-config", "config.json: bad DCGAN config: resolution"),
        ("no-weights", "no .safetensors file"),
    ],
)
def test_broken_gan_files_are_one_line_weights_errors(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path, damage: str, message: str
) -> None:
    broken = _copy(tiny_models.gan, tmp_path)
    weights, config = broken / "model.safetensors", broken / "config.json"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "garble":
        weights.write_bytes(b"\xff" * 64)
    elif damage == "no-config":
        config.unlink()
    elif damage == "bad-config":
        config.write_text(json.dumps({"architecture": "dcgan", "resolution": 48}))
    elif damage == "no-weights":
        weights.unlink()
    with pytest.raises(WeightsError) as err:
        DCGANGenerator(broken, {}, settings).load("cpu")
    assert message in err.value.diagnostics()
    status = DCGANGenerator.check_weights(broken)
    assert not status.present
    assert message in status.detail


def test_torchscript_generator(tiny_models: TinyModels, settings: Settings, pixels: Pixels) -> None:
    generator = TorchScriptGenerator(tiny_models.torchscript, {"latent_dim": 16}, settings)
    assert generator.model_info().name == "tiny-random-torchscript"
    batch = _run(generator, seed=30, num_images=2, params={"truncation": 2.0})
    alone = _run(generator, seed=31, params={"truncation": 2.0})[0]
    assert batch[0].size == (32, 32)
    assert (pixels(alone) == pixels(batch[1])).all()
    assert (pixels(batch[0]) != pixels(batch[1])).any()
    assert batch[0].params["latent"]["shape"] == [1, 16]
    assert batch[0].params["output_range"] == [-1.0, 1.0]


def test_torchscript_output_range_option(
    tiny_models: TinyModels, settings: Settings, pixels: Pixels
) -> None:
    signed = TorchScriptGenerator(tiny_models.torchscript, {"latent_dim": 16}, settings)
    unit = TorchScriptGenerator(
        tiny_models.torchscript, {"latent_dim": 16, "output_range": [0, 1]}, settings
    )
    a, b = pixels(_run(signed, seed=1)[0]), pixels(_run(unit, seed=1)[0])
    # the same tanh output read as [0, 1]: never brighter, and its negative half turns black
    assert (b <= a).all()
    assert (b[a < 127] == 0).all()
    assert (a < 127).any()


def test_torchscript_configuration_errors(tiny_models: TinyModels, settings: Settings) -> None:
    with pytest.raises(GenerationError, match="latent_dim is required"):
        _run(TorchScriptGenerator(tiny_models.torchscript, {}, settings), seed=1)
    wrong = TorchScriptGenerator(tiny_models.torchscript, {"latent_dim": 8}, settings)
    with pytest.raises(GenerationError, match=r"rejected a latent of shape \[1, 8\]"):
        _run(wrong, seed=1)
    with pytest.raises(ConfigError, match="output_range: Value error, must be"):
        TorchScriptGenerator(tiny_models.torchscript, {"output_range": [1, 0]}, settings)


def test_torchscript_file_errors(settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a zip archive")
    with pytest.raises(WeightsError, match=r"junk\.pt: not a TorchScript archive"):
        TorchScriptGenerator(junk, {"latent_dim": 4}, settings).load("cpu")
    plain = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(WeightsError, match=r"state\.pt: not a loadable TorchScript archive"):
        TorchScriptGenerator(plain, {"latent_dim": 4}, settings).load("cpu")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_module_returning_the_wrong_shape(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "flat.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 6)), str(path))
    with pytest.raises(GenerationError, match=r"returned \[1, 6\]; a generator must return"):
        _run(TorchScriptGenerator(path, {"latent_dim": 4}, settings), seed=1)


def test_exported_programs_run_like_torchscript(
    settings: Settings, tmp_path: Path, pixels: Pixels
) -> None:
    network = torch.nn.Sequential(
        torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 16, 16))
    ).eval()
    path = tmp_path / "gen.pt2"
    torch.export.save(torch.export.export(network, (torch.zeros(1, 8),)), str(path))
    generator = TorchScriptGenerator(path, {"latent_dim": 8}, settings)
    image = _run(generator, seed=2)[0]
    expected = network(sample_latent(2, (8,), None))
    assert image.size == (16, 16)
    reference = ((expected[0].permute(1, 2, 0) + 1) / 2 * 255).round().detach().numpy()
    assert abs(pixels(image) - reference).max() <= 1


@pytest.mark.weights
def test_faces_dcgan_makes_64px_faces(
    settings: Settings, require_package: Callable[[str, str], None], pixels: Pixels
) -> None:
    require_package("gan_face_generate", "gan_face_generate")
    generator = DCGANGenerator("gan-face-generate", {}, settings)
    info = generator.model_info()
    assert info.permitted_uses == ("research",)
    assert info.training_data == "DigiFace-1M (Microsoft), synthetic faces"
    images = _run(generator, seed=1, num_images=3)
    for image in images:
        array = pixels(image)
        assert image.size == (64, 64)
        assert array.std() > 10  # a structured image, not a flat fill
        centre, border = (
            array[16:48, 16:48].mean(),
            np.concatenate([array[:4].ravel(), array[-4:].ravel()]).mean(),
        )
        assert centre != border
    assert (pixels(images[0]) != pixels(images[1])).any()
    again = _run(generator, seed=2)[0]
    assert (pixels(again) == pixels(images[1])).all()


@pytest.mark.weights
def test_faces_dcgan_matches_the_reference_network(
    settings: Settings, require_package: Callable[[str, str], None], pixels: Pixels
) -> None:
    """Our DCGAN layout loads the package's checkpoint and computes what its own model does."""
    require_package("gan_face_generate", "gan_face_generate")
    from provenance.generators.locate import PRESETS

    checkpoint = torch.load(
        PRESETS["gan-face-generate"].path(), map_location="cpu", weights_only=True
    )
    reference = _reference_faces_network()
    state = checkpoint["netG_state_dict"]
    reference.load_state_dict({k.removeprefix("main."): v for k, v in state.items()})
    z = sample_latent(4, (100, 1, 1), None)
    with torch.no_grad():
        expected = reference.eval()(z)[0]
    image = _run(DCGANGenerator("gan-face-generate", {}, settings), seed=4)[0]
    reference_pixels = ((expected.permute(1, 2, 0) + 1) / 2 * 255).round().numpy()
    assert abs(pixels(image) - reference_pixels).max() <= 1


def _reference_faces_network() -> torch.nn.Module:
    """The PyTorch DCGAN tutorial generator, as gan_face_generate/models.py defines it."""
    from torch import nn

    nz, ngf, nc = 100, 64, 3
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
