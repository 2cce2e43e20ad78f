"""Diffusion generator end to end on the tiny StableDiffusion pipeline (CPU)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from provenance.config import Settings
from provenance.errors import BadInputError, DeviceError, GenerationError, WeightsError
from provenance.generators.diffusion import SCHEDULERS, DiffusionGenerator
from provenance.generators.tiny import TinyModels
from provenance.types import GenerationRequest, InputImage

FAST = {"steps": 2}


def _run(generator: Any, **fields: Any) -> list[Any]:
    fields.setdefault("params", FAST)
    fields.setdefault("prompt", "a lighthouse at dusk")
    return generator.generate(GenerationRequest(generator="diffusion", **fields))


def test_same_seed_same_pixels_other_seed_other_pixels(tiny_diffusion: Any, pixels: Any) -> None:
    first = _run(tiny_diffusion, seed=7)[0]
    again = _run(tiny_diffusion, seed=7)[0]
    other = _run(tiny_diffusion, seed=8)[0]
    assert first.size == (64, 64)
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(first) != pixels(other)).any()
    assert pixels(first).std() > 5  # a real picture, not a flat fill


def test_image_i_of_a_batch_reproduces_alone(tiny_diffusion: Any, pixels: Any) -> None:
    batch = _run(tiny_diffusion, seed=100, num_images=3)
    assert [image.seed for image in batch] == [100, 101, 102]
    assert [image.index for image in batch] == [0, 1, 2]
    alone = _run(tiny_diffusion, seed=batch[2].seed)[0]
    assert (pixels(alone) == pixels(batch[2])).all()
    assert (pixels(batch[0]) != pixels(batch[1])).any()


def test_batched_runs_match_single_runs_closely(
    tiny_models: TinyModels, shared_settings: Settings, tiny_diffusion: Any, pixels: Any
) -> None:
    batched = DiffusionGenerator(tiny_models.diffusion, {"batch_size": 2}, shared_settings)
    batched.load("cpu")
    together = _run(batched, seed=5, num_images=2)
    apart = [_run(tiny_diffusion, seed=s)[0] for s in (5, 6)]
    assert together[0].params["batch_size"] == 2
    for joint, single in zip(together, apart, strict=True):
        assert abs(pixels(joint) - pixels(single)).max() <= 2  # float noise at most


def test_resolved_parameters_are_recorded(tiny_diffusion: Any) -> None:
    image = _run(tiny_diffusion, seed=3, params={"steps": 2, "guidance": 5.0, "width": 48})[0]
    params = image.params
    assert params["mode"] == "txt2img"
    assert params["steps"] == 2
    assert params["guidance"] == 5.0
    assert (params["width"], params["height"]) == (48, 64)
    assert image.size == (48, 64)
    assert params["latents"]["shape"] == [1, 4, 32, 24]
    assert "manual_seed" in params["latents"]["sampler"]
    assert params["device"] == "cpu"
    assert params["dtype"] == "float32"
    assert params["seed"] == 3
    assert params["scheduler"] == "default"
    assert params["scheduler_class"] == "DDIMScheduler"


def test_scaled_dot_product_attention_is_in_use(tiny_diffusion: Any) -> None:
    assert tiny_diffusion.attention_processors() == ["AttnProcessor2_0"]
    assert _run(tiny_diffusion, seed=1)[0].params["attention"] == ["AttnProcessor2_0"]


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_name_runs_and_is_deterministic(
    tiny_diffusion: Any, name: str, pixels: Any
) -> None:
    params = {"steps": 3, "scheduler": name}
    first = _run(tiny_diffusion, seed=11, params=params)[0]
    again = _run(tiny_diffusion, seed=11, params=params)[0]
    assert first.params["scheduler"] == name
    assert first.params["scheduler_class"] == SCHEDULERS[name][0]
    assert (pixels(first) == pixels(again)).all()


def test_a_scheduler_does_not_leak_into_the_next_request(tiny_diffusion: Any, pixels: Any) -> None:
    before = _run(tiny_diffusion, seed=2)[0]
    _run(tiny_diffusion, seed=2, params={"steps": 2, "scheduler": "euler_a"})
    after = _run(tiny_diffusion, seed=2)[0]
    assert after.params["scheduler_class"] == "DDIMScheduler"
    assert (pixels(before) == pixels(after)).all()


def test_negative_prompt_changes_the_image(tiny_diffusion: Any, pixels: Any) -> None:
    plain = _run(tiny_diffusion, seed=4)[0]
    negative = _run(tiny_diffusion, seed=4, negative_prompt="blurry")[0]
    assert (pixels(plain) != pixels(negative)).any()


def test_image_to_image(tiny_diffusion: Any, content_image: InputImage, pixels: Any) -> None:
    params = {"steps": 4, "strength": 0.5}
    first = _run(tiny_diffusion, seed=9, init_image=content_image, params=params)[0]
    again = _run(tiny_diffusion, seed=9, init_image=content_image, params=params)[0]
    stronger = _run(tiny_diffusion, seed=9, init_image=content_image, params={"steps": 4})[0]
    assert first.size == (96, 72)  # the init image's size (multiples of 8)
    assert first.params["mode"] == "img2img"
    assert first.params["strength"] == 0.5
    assert first.params["init_size"] == [96, 72]
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(first) != pixels(stronger)).any()
    resized = _run(
        tiny_diffusion, seed=9, init_image=content_image, params={**params, "width": 64}
    )[0]
    assert resized.size == (64, 72)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"width": 100}, "parameter 'width': must be a multiple of 8"),
        ({"width": 100000}, "parameter 'width': Input should be less than or equal to 2048"),
        ({"height": 4096}, "parameter 'height': Input should be less than or equal to 2048"),
        ({"steps": 100000}, "parameter 'steps': Input should be less than or equal to 500"),
        ({"scheduler": "warp"}, "unknown scheduler; choose one of ddim, ddpm"),
        ({"cfg": 7}, "unknown parameter 'cfg'; known: steps, guidance"),
        ({"strength": 0.3}, "strength applies to image-to-image"),
    ],
)
def test_bad_parameters_are_one_line_bad_input(
    tiny_diffusion: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadInputError) as err:
        _run(tiny_diffusion, seed=1, params=params)
    assert message in err.value.diagnostics()
    assert "\n" not in err.value.diagnostics()


def test_strength_that_leaves_no_step_is_bad_input(
    tiny_diffusion: Any, content_image: InputImage
) -> None:
    with pytest.raises(BadInputError, match=r"strength 0\.1 of 2 steps leaves no denoising"):
        _run(tiny_diffusion, seed=1, init_image=content_image, params={"steps": 2, "strength": 0.1})


class _RefusingPipeline:
    """Stands in for a diffusers pipeline whose call fails the way diffusers fails."""

    scheduler = None
    dtype = torch.float32

    def __init__(self, error: Exception) -> None:
        self.error = error

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        pass

    def __call__(self, prompt: list[str], generator: Any = None, output_type: str = "pil") -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("height must be divisible"), BadInputError),
        (RuntimeError("oom"), GenerationError),
    ],
)
def test_pipeline_failures_become_one_line_provenant_errors(
    tiny_models: TinyModels, settings: Settings, error: Exception, expected: type
) -> None:
    from diffusers import DDIMScheduler

    pipe = _RefusingPipeline(error)
    pipe.scheduler = DDIMScheduler()
    generator = DiffusionGenerator(tiny_models.diffusion, {}, settings)
    generator.use_pipeline(pipe, torch.device("cpu"))
    with pytest.raises(expected, match=f"diffusion: _RefusingPipeline failed: {error}"):
        _run(generator, seed=1, params={"width": 64, "height": 64})


def test_corrupt_init_image_and_style_image_are_refused(
    tiny_diffusion: Any, corrupt_image: InputImage, style_image: InputImage
) -> None:
    with pytest.raises(BadInputError, match=r"corrupt\.png: corrupt or truncated image"):
        _run(tiny_diffusion, seed=1, init_image=corrupt_image)
    with pytest.raises(BadInputError, match="takes no style image"):
        _run(tiny_diffusion, seed=1, style_image=style_image)


def test_model_info_works_before_load(tiny_models: TinyModels, settings: Settings) -> None:
    generator = DiffusionGenerator(tiny_models.diffusion, {}, settings)
    info = generator.model_info()
    assert generator.device is None
    assert info.name == "tiny-random-diffusion"
    assert info.license == "none (random weights, for tests)"
    assert info.extra["generator"] == "diffusion"
    root = tiny_models.diffusion
    lines = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n"
        for p in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())
        if p.is_file() and p.name != "model_card.json"
    )
    assert info.weights_sha256 == hashlib.sha256(lines.encode()).hexdigest()


def test_a_users_model_without_card_has_unknown_licence(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    copy = tmp_path / "studio-sd"
    shutil.copytree(tiny_models.diffusion, copy)
    (copy / "model_card.json").unlink()
    info = DiffusionGenerator(copy, {}, settings).model_info()
    assert info.name == "studio-sd"
    assert info.license == "unknown"
    assert info.architecture == "StableDiffusionPipeline (diffusers)"
    assert set(info.permitted_uses) == {"commercial", "internal", "research"}


def _break_copy(tiny: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(tiny, copy)
    if how == "no-index":
        (copy / "model_index.json").unlink()
    elif how == "no-unet":
        shutil.rmtree(copy / "unet")
    elif how == "no-weights":
        (copy / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    elif how == "truncated":
        path = copy / "unet" / "diffusion_pytorch_model.safetensors"
        path.write_bytes(path.read_bytes()[:5000])
    elif how == "no-tokenizer":
        for f in (copy / "tokenizer").iterdir():
            f.unlink()
    return copy


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no-index", "not a diffusers pipeline: model_index.json is missing"),
        ("no-unet", "missing component folder unet/ (UNet2DConditionModel)"),
        ("no-weights", "missing vae/ weight files (*.safetensors or *.bin)"),
        ("truncated", "diffusion_pytorch_model.safetensors: truncated safetensors file"),
        ("no-tokenizer", "missing tokenizer/tokenizer.json or vocab.json"),
    ],
)
def test_incomplete_model_directories_name_what_is_missing(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path, how: str, message: str
) -> None:
    broken = _break_copy(tiny_models.diffusion, tmp_path, how)
    with pytest.raises(WeightsError) as err:
        DiffusionGenerator(broken, {}, settings).load("cpu")
    assert message in err.value.diagnostics()
    status = DiffusionGenerator.check_weights(broken)
    assert not status.present
    assert message in status.detail


def test_corrupt_weights_behind_a_sound_header_name_the_pipeline(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "garbled"
    shutil.copytree(tiny_models.diffusion, broken)
    config = broken / "unet" / "config.json"
    config.write_text(
        config.read_text().replace('"cross_attention_dim": 32', '"cross_attention_dim": 40')
    )
    with pytest.raises(WeightsError, match=r"garbled: cannot load pipeline"):
        DiffusionGenerator(broken, {}, settings).load("cpu")


def test_missing_directory_and_hub_ids(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="model not found"):
        DiffusionGenerator(tmp_path / "absent", {}, settings).load("cpu")
    with pytest.raises(WeightsError, match="never downloads models"):
        DiffusionGenerator("runwayml/stable-diffusion-v1-5", {}, settings).model_info()


def test_unknown_options_are_config_errors(tiny_models: TinyModels, settings: Settings) -> None:
    from provenance.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[generators\.diffusion\]: batchsize: unknown setting"):
        DiffusionGenerator(tiny_models.diffusion, {"batchsize": 2}, settings)
    with pytest.raises(ConfigError, match="unknown scheduler"):
        DiffusionGenerator(tiny_models.diffusion, {"scheduler": "nope"}, settings)


def test_configured_default_scheduler_is_used(
    tiny_models: TinyModels, shared_settings: Settings
) -> None:
    generator = DiffusionGenerator(tiny_models.diffusion, {"scheduler": "euler"}, shared_settings)
    generator.load("cpu")
    image = _run(generator, seed=1)[0]
    assert image.params["scheduler_class"] == "EulerDiscreteScheduler"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_gpu_is_a_device_error(tiny_models: TinyModels, tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path, env={"PROVENANT_DEVICE": "cuda"})
    generator = DiffusionGenerator(tiny_models.diffusion, {}, settings)
    with pytest.raises(DeviceError, match="no CUDA GPU is available"):
        generator.load(None)
    with pytest.raises(DeviceError, match="no CUDA GPU is available"):
        _run(generator, seed=1)


def test_safety_checker_is_not_loaded_and_says_so(
    tiny_models: TinyModels, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    with_checker = tmp_path / "with-checker"
    shutil.copytree(tiny_models.diffusion, with_checker)
    config = CLIPConfig(
        text_config={
            "hidden_size": 8,
            "intermediate_size": 8,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
        },
        vision_config={
            "hidden_size": 8,
            "intermediate_size": 8,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=8,
    )
    StableDiffusionSafetyChecker(config).save_pretrained(with_checker / "safety_checker")
    CLIPImageProcessor(crop_size=32, size=32).save_pretrained(with_checker / "feature_extractor")
    index = json.loads((with_checker / "model_index.json").read_text())
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    (with_checker / "model_index.json").write_text(json.dumps(index))
    generator = DiffusionGenerator(with_checker, {}, settings)
    with caplog.at_level(logging.WARNING, logger="provenance.generators.diffusion"):
        generator.load("cpu")
    assert generator._pipe.safety_checker is None
    assert "screened by Provenant's output_safety policy" in caplog.text
    assert _run(generator, seed=1)[0].size == (64, 64)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_half_precision_on_gpu(tiny_models: TinyModels, settings: Settings, pixels: Any) -> None:
    generator = DiffusionGenerator(tiny_models.diffusion, {}, settings)
    generator.load("cuda")
    first = _run(generator, seed=1)[0]
    again = _run(generator, seed=1)[0]
    assert first.params["dtype"] == "float16"
    assert first.params["latents"]["sampler"].startswith(
        "diffusers randn_tensor with torch.Generator('cuda"
    )
    assert (pixels(first) == pixels(again)).all()


@pytest.mark.slow
def test_compiled_unet_gives_the_same_pictures(
    tiny_models: TinyModels, shared_settings: Settings, tiny_diffusion: Any, pixels: Any
) -> None:
    compiled = DiffusionGenerator(tiny_models.diffusion, {"compile": True}, shared_settings)
    compiled.load("cpu")
    image = _run(compiled, seed=12)[0]
    eager = _run(tiny_diffusion, seed=12)[0]
    assert image.params["compiled"] is True
    assert abs(pixels(image) - pixels(eager)).max() <= 2
