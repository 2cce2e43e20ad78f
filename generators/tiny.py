"""Tiny random-weight models for every family: tests, the demo, and trying things on a laptop.

`make_tiny_models(root)` writes, with fixed seeds (identical bytes on every run with the same
library versions):
  * `diffusion/`   - a StableDiffusionPipeline layout (UNet2DConditionModel, AutoencoderKL,
                     CLIPTextModel, a byte-level CLIPTokenizer built here, DDIM scheduler),
                     sized like diffusers' own `get_dummy_components()`; native size 64x64;
  * `gan/`         - a DCGAN (32x32, latent 16) as `model.safetensors` + `config.json`;
  * `adain/`       - AdaIN encoder/decoder with narrow widths + `config.json`;
  * `gatys/vgg19.safetensors` - a narrow VGG-19 (torchvision key layout) + `config.json`;
  * `torchscript/generator.pt` - a scripted `z (1, 16) -> image (1, 3, 32, 32)` generator.
Each carries a `model_card.json` named `tiny-random-*` with licence "none (random weights,
for tests)", so no one mistakes them for trained models.  Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.errors import BadInputError
from provenance.generators.cards import ModelCard, read_model_card, write_model_card

TINY_PREFIX = "tiny-random-"
TINY_LICENSE = "none (random weights, for tests)"
TINY_LATENT = 16


@dataclass(frozen=True)
class TinyModels:
    """Where `make_tiny_models` put each model (pass these as `--model`)."""

    root: Path
    diffusion: Path
    gan: Path
    adain: Path
    gatys: Path
    torchscript: Path

    def as_dict(self) -> dict[str, str]:
        """JSON-ready paths (for `provenant models make-tiny --json`)."""
        return {k: str(v) for k, v in self.__dict__.items()}


#: Where each tiny model lives under the root, and the path a generator is given.
TINY_PATHS = {
    "diffusion": "diffusion",
    "gan": "gan",
    "adain": "adain",
    "gatys": "gatys/vgg19.safetensors",
    "torchscript": "torchscript/generator.pt",
}


def make_tiny_models(root: Path) -> TinyModels:
    """Write all tiny models under `root`; replaces earlier tiny models, nothing else."""
    root = Path(root).absolute()
    paths = make_tiny(root, tuple(TINY_PATHS))
    return TinyModels(root=root, **paths)


def make_tiny(root: Path, folders: tuple[str, ...]) -> dict[str, Path]:
    """Write the tiny models named in `folders` (keys of `TINY_PATHS`) under `root`.

    Each keeps its own fixed seed whichever others are written with it, so a model's bytes
    do not depend on which were asked for.
    """
    root = Path(root).absolute()
    builders: dict[str, tuple[Callable[[Path], None], str]] = {
        "diffusion": (_write_diffusion, "StableDiffusionPipeline (tiny)"),
        "gan": (_write_gan, "DCGAN 32x32, latent 16, 8 base channels"),
        "adain": (_write_adain, "AdaIN encoder/decoder, widths [4, 8, 8, 16]"),
        "gatys": (_write_gatys, "VGG-19 features, widths [4, 8, 8, 16, 16]"),
        "torchscript": (_write_torchscript, "TorchScript z(16) -> 32x32 RGB generator"),
    }
    seeds = {folder: seed for seed, folder in enumerate(builders)}
    builders = {folder: builders[folder] for folder in folders}
    for folder in builders:
        _refuse_foreign(root / folder)
    staging = root / f".tiny-{uuid.uuid4().hex}"
    try:
        staging.mkdir(parents=True)
        for folder, (build, architecture) in builders.items():
            seed = seeds[folder]
            target = staging / folder
            target.mkdir()
            _seeded(seed, build, target)
            write_model_card(target, _card(folder, architecture, seed))
        for folder in builders:  # built completely first, then swapped in one by one
            shutil.rmtree(root / folder, ignore_errors=True)
            os.replace(staging / folder, root / folder)
    except OSError as exc:
        raise BadInputError(f"{root}: cannot write tiny models ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {folder: root / TINY_PATHS[folder] for folder in builders}


def _refuse_foreign(folder: Path) -> None:
    """Never overwrite a directory that is not an earlier tiny model."""
    if not folder.exists():
        return
    card = read_model_card(folder) if folder.is_dir() else None
    if card is None or not card.name.startswith(TINY_PREFIX):
        raise BadInputError(f"{folder}: exists and is not a tiny model; choose an empty directory")


def _card(folder: str, architecture: str, seed: int) -> ModelCard:
    return ModelCard(
        name=f"{TINY_PREFIX}{folder}",
        version="1",
        architecture=architecture,
        license=TINY_LICENSE,
        training_data=f"none (random initialisation, torch seed {seed})",
        source="provenance.generators.tiny.make_tiny_models",
    )


def _seeded(seed: int, build: Callable[[Path], None], target: Path) -> None:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        build(target)


def _save(module: object, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}  # type: ignore[attr-defined]
    save_file(state, str(path), metadata={"format": "pt"})


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_gan(target: Path) -> None:
    from provenance.generators._dcgan_config import CONFIG_NAME, DCGANConfig
    from provenance.generators._dcgan_net import DCGANNetwork

    config = DCGANConfig(latent_dim=TINY_LATENT, base_channels=8, resolution=32, channels=3)
    network = DCGANNetwork(config.latent_dim, config.base_channels, config.resolution, 3)
    _calibrate_batchnorm(network, config.latent_dim)
    _save(network, target / "model.safetensors")
    _write_json(target / CONFIG_NAME, config.model_dump(mode="json"))


def _calibrate_batchnorm(network: Any, latent_dim: int) -> None:
    """Give random BatchNorm layers the running statistics a trained network would have.

    Untouched running stats (mean 0, variance 1) let activations shrink layer by layer and
    the output collapses to flat grey; a few training-mode passes fix that, so different
    seeds visibly give different tiny images.
    """
    import torch

    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the calibration passes
    network.train()
    with torch.no_grad():
        for _ in range(4):
            network(torch.randn(16, latent_dim, 1, 1))
    network.eval()


def _variance_preserving(network: Any) -> Any:
    """He-initialise convolutions so a random AdaIN decoder's output is not flat grey."""
    import torch

    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    return network


def _write_adain(target: Path) -> None:
    from provenance.generators._style_nets import adain_decoder, adain_encoder

    widths = (4, 8, 8, 16)
    _save(_variance_preserving(adain_encoder(widths)), target / "encoder.safetensors")
    decoder = _variance_preserving(adain_decoder(widths))
    decoder[-1].bias.data.fill_(0.5)  # centre the random output in [0, 1]
    _save(decoder, target / "decoder.safetensors")
    _write_json(target / "config.json", {"architecture": "adain", "widths": list(widths)})


def _write_gatys(target: Path) -> None:
    import torch

    from provenance.generators._style_nets import vgg19_features

    widths = (4, 8, 8, 16, 16)
    features = torch.nn.Module()
    features.features = vgg19_features(widths)  # torchvision's `features.N.*` key layout
    _save(features, target / "vgg19.safetensors")
    _write_json(target / "config.json", {"architecture": "vgg19", "widths": list(widths)})


def _write_torchscript(target: Path) -> None:
    import torch
    from torch import nn

    network = nn.Sequential(
        nn.Linear(TINY_LATENT, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is what this model tests
        torch.jit.save(torch.jit.script(network.eval()), str(target / "generator.pt"))


def _write_diffusion(target: Path) -> None:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from provenance.generators._torch import quiet_hf_progress, require_offline

    require_offline()
    quiet_hf_progress()
    vocab = byte_level_vocab()
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
    )
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(vocab),
        max_position_embeddings=77,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(target), safe_serialization=True)  # type: ignore[attr-defined]


def byte_level_vocab() -> dict[str, int]:
    """A CLIP byte-level BPE vocabulary with no merges: every byte, alone or word-final.

    Any text tokenises (one token per byte), which is all a random-weight text encoder needs;
    it is written locally, so no tokenizer is ever fetched.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    chars = [chr(b) for b in printable]
    chars += [chr(256 + n) for n in range(256 - len(printable))]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [*chars, *(c + "</w>" for c in chars)]:
        vocab[token] = len(vocab)
    return vocab
