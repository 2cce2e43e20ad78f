"""Shared torch mechanics for every generator family, written once.

Device choice (cuda, then mps, then cpu, unless told), dtype per device, seeded
`torch.Generator`s, tensor <-> PIL conversion, and loading state dicts from `.safetensors` /
`.pt` files with errors that name the file and what is wrong.  The family modules call these
so that a seed, a device or a broken weights file behaves the same way everywhere.

This module imports torch; plugin modules import it lazily (inside `load`/`generate`) so
that `provenant generators list` and licence screening never pay for torch.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from provenance.errors import DeviceError, WeightsError

log = logging.getLogger(__name__)

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_DEVICE_TYPES = ("cpu", "cuda", "mps")


# -- devices and dtypes --------------------------------------------------------------------


def select_device(requested: str | torch.device | None = "auto") -> torch.device:
    """The device to run on: `auto` picks cuda, then mps, then cpu; others are checked.

    Asking for a device that is not there is a `DeviceError` (one line, naming it), never a
    silent fall-back: a studio that configured a GPU wants to know it is not using one.
    """
    if isinstance(requested, torch.device):
        _check_available(requested)
        return requested
    name = str(requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type not in _DEVICE_TYPES:
        raise DeviceError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    _check_available(device)
    return device


def _check_available(device: torch.device) -> None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {str(device)!r} requested but no CUDA GPU is available "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {str(device)!r} requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' requested but Apple MPS is not available here")


def select_dtype(setting: str, device: torch.device) -> torch.dtype:
    """fp16/bf16 on accelerators as configured (`auto` = float16); always float32 on CPU.

    Half precision on CPU is slow and, for several ops, unsupported, so it is never used
    there; a configured half dtype is noted in the log instead of failing the request.
    """
    if device.type == "cpu":
        if setting not in ("auto", "float32"):
            log.info("dtype %s ignored on CPU; running float32", setting)
        return torch.float32
    if setting == "auto":
        return torch.float16
    return _DTYPES[setting]


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.float16` -> "float16" (what goes into the recorded parameters)."""
    return str(dtype).removeprefix("torch.")


def device_name(device: torch.device) -> str:
    """A readable device description for benchmarks and logs (GPU model on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- seeds -----------------------------------------------------------------------------------


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    """A `torch.Generator` seeded with `seed`, on CUDA for CUDA work and on CPU otherwise.

    MPS has no reliable device generator, so MPS work draws its noise on the CPU (as
    diffusers does); `generator_device` says which device drew it, for the record.
    """
    return torch.Generator(device=generator_device(device)).manual_seed(seed)


def generator_device(device: torch.device) -> str:
    """Which device's random stream `seeded_generator` uses for `device`."""
    return str(device) if device.type == "cuda" else "cpu"


# -- images ----------------------------------------------------------------------------------


def tensor_to_pil(
    tensor: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> Image.Image:
    """One CHW (or 1CHW) image tensor in `value_range` -> an RGB PIL image.

    Rounds like diffusers (`round(x * 255)`), so pixels match what its pipelines return;
    one-channel outputs are repeated to grey RGB.
    """
    if tensor.dim() == 4:
        tensor = tensor[0]
    low, high = value_range
    unit = ((tensor.detach().float().cpu() - low) / (high - low)).clamp(0.0, 1.0)
    if unit.shape[0] == 1:
        unit = unit.expand(3, -1, -1)
    array = (unit.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array, mode="RGB")


def pil_to_tensor(image: Image.Image, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """An RGB PIL image -> a contiguous 1x3xHxW tensor in [0, 1] on `device`.

    Contiguous, because optimisers such as L-BFGS flatten gradients with `view`.
    """
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
    return tensor.to(device=device, dtype=dtype)


# -- weights files -----------------------------------------------------------------------------


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Read tensors from `.safetensors` (preferred) or a torch file (`weights_only=True`).

    Torch files are read with `weights_only=True`, so a checkpoint cannot run code; anything
    unreadable is a `WeightsError` naming the file.
    """
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: corrupt safetensors file ({one_line(exc)})") from exc
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise WeightsError(
                f"{path}: unreadable torch weights file (it holds Python objects besides "
                "tensors; refused, since loading them could run code)"
            ) from exc
        raise WeightsError(f"{path}: unreadable torch weights file ({_first_line(exc)})") from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable torch weights file ({_first_line(exc)})") from exc
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path}: expected a state dict, found {type(loaded).__name__}")
    return dict(loaded)


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load `state` into `module` strictly; a mismatch names the tensor and both shapes."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors {_some(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors {_some(unexpected)}")
        raise WeightsError(f"{path}: does not match the architecture: {'; '.join(parts)}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: wrong shape for {key}: file has {tuple(state[key].shape)}, "
                f"the configured architecture needs {tuple(tensor.shape)}"
            )
    module.load_state_dict(state, strict=True)


def _some(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else exc.__class__.__name__


def one_line(exc: BaseException) -> str:
    """A foreign exception's message on one line (for `WeightsError` details)."""
    return " ".join(str(exc).split()) or exc.__class__.__name__


# -- offline ---------------------------------------------------------------------------------


def require_offline() -> None:
    """Make sure no Hugging Face library can reach the network from this process.

    Sets the documented offline switches and, when `huggingface_hub` was already imported
    (it reads them at import time), flips its module constant too.
    """
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[key] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


def quiet_hf_progress() -> None:
    """Silence diffusers/transformers progress bars: Provenant's CLI draws its own."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
