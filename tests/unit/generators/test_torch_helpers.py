"""Device choice, dtypes, seeded generators, tensor <-> PIL, strict state-dict loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from provenance.errors import DeviceError, WeightsError
from provenance.generators._torch import (
    generator_device,
    load_into,
    load_state_dict_file,
    pil_to_tensor,
    require_offline,
    seeded_generator,
    select_device,
    select_dtype,
    tensor_to_pil,
)

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")


def test_auto_device_is_cpu_without_accelerators() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert select_device("auto").type == expected
    assert select_device(None).type == expected


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA"])
def test_cuda_without_a_gpu_is_one_clear_line(name: str) -> None:
    with pytest.raises(DeviceError) as err:
        select_device(name)
    message = err.value.diagnostics()
    assert "no CUDA GPU is available" in message
    assert "\n" not in message


@no_cuda
def test_a_torch_device_object_is_checked_too() -> None:
    with pytest.raises(DeviceError):
        select_device(torch.device("cuda"))


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cpu:x"])
def test_unknown_devices_are_refused(name: str) -> None:
    with pytest.raises(DeviceError, match="device"):
        select_device(name)


def test_cpu_always_runs_float32() -> None:
    cpu = torch.device("cpu")
    assert select_dtype("float16", cpu) is torch.float32
    assert select_dtype("auto", cpu) is torch.float32


def test_accelerators_use_the_configured_half_dtype() -> None:
    cuda = torch.device("cuda")  # only the type is read; no GPU needed
    assert select_dtype("auto", cuda) is torch.float16
    assert select_dtype("bfloat16", cuda) is torch.bfloat16
    assert select_dtype("float32", cuda) is torch.float32


def test_seeded_generators_repeat_and_differ() -> None:
    cpu = torch.device("cpu")
    a = torch.randn(8, generator=seeded_generator(7, cpu))
    b = torch.randn(8, generator=seeded_generator(7, cpu))
    c = torch.randn(8, generator=seeded_generator(8, cpu))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert generator_device(torch.device("mps")) == "cpu"
    assert generator_device(torch.device("cuda:1")) == "cuda:1"


def test_tensor_pil_round_trip_is_exact_on_uint8_pixels() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    tensor = pil_to_tensor(image, torch.device("cpu"), torch.float32)
    assert tensor.shape == (1, 3, 12, 10)
    assert np.array_equal(np.asarray(tensor_to_pil(tensor, (0.0, 1.0))), pixels)
    signed = tensor * 2 - 1
    assert np.array_equal(np.asarray(tensor_to_pil(signed)), pixels)


def test_tensor_to_pil_clamps_and_greys_one_channel() -> None:
    out = np.asarray(tensor_to_pil(torch.tensor([[[-5.0, 5.0]]])))
    assert out.shape == (1, 2, 3)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]


def test_state_dict_files_load_from_safetensors_and_torch(tmp_path: Path) -> None:
    state = {"w": torch.arange(4.0)}
    save_file(state, str(tmp_path / "a.safetensors"))
    torch.save(state, tmp_path / "a.pt")
    assert torch.equal(load_state_dict_file(tmp_path / "a.safetensors")["w"], state["w"])
    assert torch.equal(load_state_dict_file(tmp_path / "a.pt")["w"], state["w"])


def test_corrupt_and_missing_weights_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match=r"bad\.safetensors: corrupt safetensors file"):
        load_state_dict_file(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match=r"junk\.pt: unreadable torch weights file"):
        load_state_dict_file(junk)
    with pytest.raises(WeightsError, match="weights file not found"):
        load_state_dict_file(tmp_path / "absent.safetensors")


def test_torch_files_cannot_run_code(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("executed",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, path)
    with pytest.raises(WeightsError, match="unreadable torch weights file"):
        load_state_dict_file(path)


def test_load_into_names_wrong_shapes_and_missing_tensors() -> None:
    module = torch.nn.Linear(3, 2)
    with pytest.raises(WeightsError, match=r"wrong shape for weight: file has \(2, 4\)"):
        load_into(module, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, Path("m.st"))
    with pytest.raises(WeightsError, match="missing tensors bias"):
        load_into(module, {"weight": torch.zeros(2, 3)}, Path("m.st"))
    with pytest.raises(WeightsError, match="unexpected tensors extra"):
        state = {"weight": torch.zeros(2, 3), "bias": torch.zeros(2), "extra": torch.zeros(1)}
        load_into(module, state, Path("m.st"))
    load_into(module, {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, Path("m.st"))
    assert torch.equal(module.weight, torch.ones(2, 3))


def test_require_offline_sets_the_hub_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    require_offline()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE is True
