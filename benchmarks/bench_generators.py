"""Generator throughput and peak memory on real architectures, through Provenant's plugins.

    python benchmarks/bench_generators.py               # every case, device auto
    python benchmarks/bench_generators.py --case sd15   # one case
    python benchmarks/bench_generators.py --device cpu  # force the CPU
    python benchmarks/bench_generators.py --record      # + results/bench_generators-<device>.json

Cases (each runs in its own process, so peak memory is that case's alone):
  sd15   Stable Diffusion 1.5 architecture (UNet2DConditionModel with block_out_channels
         320/640/1280/1280 and cross-attention 768, the SD AutoencoderKL, a CLIP ViT-L/14 text
         encoder) with random weights built from explicit configs, nothing downloaded.  GPU:
         512x512, 25 steps, float16.  CPU: reduced to 256x256 and 4 steps (said in the output).
  dcgan  the trained 64x64 faces DCGAN of `gan-face-generate` when installed (else the same
         architecture with random weights), 64 images through `DCGANGenerator`.
  gatys  Gatys optimisation over a full-width VGG-19 (random weights): GPU 512x512, 50 L-BFGS
         steps; CPU 256x256, 10 steps.
Timings exclude model construction and one warm-up image; on CUDA the device is synchronised
before every clock read.  Peak memory: `torch.cuda.max_memory_allocated` on CUDA, the
process's peak resident set size on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CASES = ("dcgan", "gatys", "sd15")

SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "norm_num_groups": 32,
    "sample_size": 512,
}
CLIP_VIT_L14_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
SD15_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}


def _settings(home: Path, device: str) -> Any:
    from provenance.config import Settings

    return Settings.load(home=home, env={"PROVENANT_DEVICE": device})


class Meter:
    """Wall-clock timing (synchronised on CUDA) and peak memory of one case."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def time(self, work: Callable[[], Any]) -> float:
        """Seconds `work` took, with queued GPU work finished on both sides."""
        from provenance.generators._torch import synchronize

        synchronize(self.device)
        start = time.perf_counter()
        work()
        synchronize(self.device)
        return time.perf_counter() - start

    def peak_mb(self) -> dict[str, float]:
        """Peak GPU allocation on CUDA; peak resident set of the process otherwise."""
        import torch

        if self.device.type == "cuda":
            return {"peak_cuda_allocated_mb": torch.cuda.max_memory_allocated(self.device) / 2**20}
        return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _request(generator: str, **fields: Any) -> Any:
    from provenance.types import GenerationRequest

    return GenerationRequest(
        prompt="a lighthouse on a cliff at dusk", generator=generator, **fields
    )


def sd15_generator(device_name: str, home: Path) -> tuple[Any, Any, float]:
    """A `DiffusionGenerator` serving the SD 1.5 architecture with random weights.

    Returns (generator, pipeline, seconds it took to build); shared with bench_pipeline.py so
    both measure the same model.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from provenance.generators._torch import select_device, select_dtype
    from provenance.generators.diffusion import DiffusionGenerator
    from provenance.generators.tiny import byte_level_vocab
    from provenance.types import ModelInfo

    device = select_device(device_name)
    dtype = select_dtype("auto", device)
    torch.manual_seed(0)
    started = time.perf_counter()
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**SD15_VAE),
        text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_VIT_L14_TEXT)),
        tokenizer=CLIPTokenizer(vocab=byte_level_vocab(), merges=[], model_max_length=77),
        unet=UNet2DConditionModel(**SD15_UNET),
        scheduler=PNDMScheduler(**SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).to(device=device, dtype=dtype)
    build_s = time.perf_counter() - started
    generator = DiffusionGenerator(None, {}, _settings(home, device_name))
    card = ModelInfo(
        name="sd15-architecture-random",
        version="benchmark",
        architecture="StableDiffusionPipeline (SD 1.5 configs)",
        license="none (random weights, benchmark only)",
        training_data="none (random initialisation)",
        weights_sha256="",
    )
    generator.use_pipeline(pipe, device, card)
    return generator, pipe, build_s


def bench_sd15(device_name: str, home: Path) -> dict[str, Any]:
    """SD 1.5 architecture, random weights, through `DiffusionGenerator.use_pipeline`."""
    from provenance.generators._torch import dtype_name

    generator, pipe, build_s = sd15_generator(device_name, home)
    device = generator.device
    dtype = pipe.unet.dtype
    on_gpu = device.type == "cuda"
    size, steps, images = (512, 25, 4) if on_gpu else (256, 4, 2)
    meter = Meter(device)
    params = {"steps": steps, "width": size, "height": size}
    meter.time(
        lambda: generator.generate(_request("diffusion", seed=0, params={**params, "steps": 2}))
    )
    seconds = [
        meter.time(lambda i=i: generator.generate(_request("diffusion", seed=i, params=params)))
        for i in range(images)
    ]
    per_image = sum(seconds) / len(seconds)
    return {
        "case": "sd15",
        "what": "Stable Diffusion 1.5 architecture, random weights, txt2img, guidance 7.5",
        "reduced_for_cpu": not on_gpu,
        "size": size,
        "steps": steps,
        "images": images,
        "dtype": dtype_name(dtype),
        "attention": generator.attention_processors(),
        "unet_parameters_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 1),
        "build_s": round(build_s, 2),
        "seconds_per_image": round(per_image, 3),
        "images_per_s": round(1 / per_image, 4),
        "unet_steps_per_s": round(steps / per_image, 3),
        **{k: round(v, 1) for k, v in meter.peak_mb().items()},
    }


def bench_dcgan(device_name: str, home: Path) -> dict[str, Any]:
    """64x64 faces DCGAN (trained when installed), 64 images through `DCGANGenerator`."""
    from provenance.generators._torch import select_device
    from provenance.generators.gan import DCGANGenerator
    from provenance.generators.locate import package_dir

    device = select_device(device_name)
    settings = _settings(home, device_name)
    trained = package_dir("gan_face_generate") is not None
    model: Any = "gan-face-generate" if trained else _random_faces_dcgan(home)
    generator = DCGANGenerator(model, {}, settings)
    generator.load(device)
    meter = Meter(device)
    meter.time(lambda: generator.generate(_request("gan", seed=0)))
    count = 64
    seconds = meter.time(lambda: generator.generate(_request("gan", seed=1, num_images=count)))
    return {
        "case": "dcgan",
        "what": "64x64 DCGAN, "
        + ("trained gan-face-generate weights" if trained else "random weights (faces layout)"),
        "images": count,
        "seconds_per_image": round(seconds / count, 5),
        "images_per_s": round(count / seconds, 1),
        **{k: round(v, 1) for k, v in meter.peak_mb().items()},
    }


def _random_faces_dcgan(home: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    from provenance.generators._dcgan_net import DCGANNetwork
    from provenance.generators.gan import FACES_CONFIG

    folder = home / "dcgan"
    folder.mkdir()
    torch.manual_seed(0)
    network = DCGANNetwork(100, 64, 64, 3)
    save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(FACES_CONFIG.model_dump_json())
    return folder


def bench_gatys(device_name: str, home: Path) -> dict[str, Any]:
    """Gatys over a full-width VGG-19 with random weights."""
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from provenance.generators._style_nets import vgg19_features
    from provenance.generators._torch import select_device
    from provenance.generators.style_transfer import StyleTransferGenerator
    from provenance.types import InputImage

    device = select_device(device_name)
    on_gpu = device.type == "cuda"
    size, steps = (512, 50) if on_gpu else (256, 10)
    torch.manual_seed(0)
    holder = torch.nn.Module()
    holder.features = vgg19_features()
    weights = home / "vgg19.safetensors"
    save_file({k: v.contiguous() for k, v in holder.state_dict().items()}, str(weights))
    rng = np.random.default_rng(0)
    images = {}
    for name, relationship in (("content", "parentOf"), ("style", "inputTo")):
        path = home / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        images[name] = InputImage.from_path(path, relationship)
    generator = StyleTransferGenerator(weights, {}, _settings(home, device_name))
    generator.load(device)
    meter = Meter(device)
    params = {"steps": steps, "max_size": size}
    inputs = {"init_image": images["content"], "style_image": images["style"]}
    meter.time(
        lambda: generator.generate(
            _request("style_transfer", seed=0, params={**params, "steps": 2}, **inputs)
        )
    )
    seconds = meter.time(
        lambda: generator.generate(_request("style_transfer", seed=0, params=params, **inputs))
    )
    return {
        "case": "gatys",
        "what": "Gatys style transfer, full-width VGG-19 (random weights), L-BFGS",
        "reduced_for_cpu": not on_gpu,
        "size": size,
        "steps": steps,
        "seconds_per_image": round(seconds, 3),
        "images_per_s": round(1 / seconds, 4),
        "steps_per_s": round(steps / seconds, 2),
        **{k: round(v, 1) for k, v in meter.peak_mb().items()},
    }


BENCHES: dict[str, Callable[[str, Path], dict[str, Any]]] = {
    "dcgan": bench_dcgan,
    "gatys": bench_gatys,
    "sd15": bench_sd15,
}


def _run_case(case: str, device: str) -> dict[str, Any]:
    """One case in a fresh interpreter, so its peak memory is its own."""
    command = [sys.executable, __file__, "--case", case, "--device", device, "--child"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {
            "case": case,
            "error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed",
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def _environment(device: str) -> dict[str, Any]:
    import torch

    from provenance.generators._torch import device_name, select_device

    chosen = select_device(device)
    return {
        "device": chosen.type,
        "device_name": device_name(chosen),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    """Run the chosen cases and print (and optionally record) the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--case", choices=CASES, action="append", help="case(s) to run (default: all)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--record", action="store_true", help="write results/bench_generators-<device>.json"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as home:
            print(json.dumps(BENCHES[args.case[0]](args.device, Path(home))))
        return
    environment = _environment(args.device)
    results = [_run_case(case, args.device) for case in args.case or CASES]
    for result in results:
        print(json.dumps(result) if args.json else _describe(result))
    if environment["device"] != "cuda" and not args.json:
        print("note: no CUDA device; SD 1.5 and Gatys ran at reduced size and steps on the CPU")
    if args.record:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"bench_generators-{environment['device']}.json"
        path.write_text(
            json.dumps({"environment": environment, "results": results}, indent=2) + "\n"
        )
        print(f"recorded {path}")


def _describe(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['case']:<6} failed: {result['error']}"
    memory = result.get("peak_cuda_allocated_mb", result.get("peak_rss_mb"))
    kind = "GPU peak" if "peak_cuda_allocated_mb" in result else "peak RSS"
    size = (
        f" {result['size']}x{result['size']}, {result['steps']} steps" if "size" in result else ""
    )
    return (
        f"{result['case']:<6} {result['images_per_s']:>10} images/s  "
        f"{result['seconds_per_image']:>8} s/image  {kind} {memory} MB  ({result['what']}{size})"
    )


if __name__ == "__main__":
    main()
