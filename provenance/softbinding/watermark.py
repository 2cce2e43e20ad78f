"""Invisible watermarks from `invisible-watermark`: RivaGAN (ONNX) and DWT-DCT-SVD.

RivaGAN's encoder and decoder are ONNX files inside the `imwatermark` package; they are run
here with onnxruntime directly (the package's own wrapper imports torch, which `verify` must
not load), and each session is opened once per process.  To keep the cost independent of
the image size the encoder sees the image scaled to `WORK_SIDE` pixels square; the residual
it adds is scaled back up and added to the full-size pixels, and the decoder reads the
image scaled to the same square.  This also makes the mark survive resizing by design.

DWT-DCT-SVD needs no weights and is cheap, but is weak against resizing and cropping (the
README's table says how weak).  Its module is loaded from the package's file, again so that
the package's torch-importing `__init__` is not run.

Images whose short side is under `MIN_SIDE` pixels are not watermarked: they are signed with
the fingerprint alone, and the manifest and ledger row say so.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from PIL import Image

from provenance.errors import ConfigError
from provenance.softbinding import payload

#: Names in `[soft_binding] watermark`, and the `alg` each writes in the manifest.
ALGORITHMS = {"rivagan": "org.provenant.rivagan.1", "dwtdctsvd": "org.provenant.dwtdctsvd.1"}
#: Images with a shorter side than this carry no watermark (fingerprint only).
MIN_SIDE = 256
#: The square RivaGAN's encoder and decoder see.
WORK_SIDE = 256
#: Decoder output above this is a 1 bit (the package's own threshold).
RIVAGAN_THRESHOLD = 0.52
#: Squares the decoder tries in turn: the embedding scale, then the scales a centre crop to
#: 90% and 80% leaves the mark at.  The first well-formed payload wins.
DECODE_SIDES = (WORK_SIDE, WORK_SIDE * 9 // 10, WORK_SIDE * 8 // 10)


class Watermarker(Protocol):
    """Embeds 32 payload bits in RGB pixels and reads them back."""

    name: str
    alg: str

    def embed(self, rgb: np.ndarray, bits: Sequence[int]) -> np.ndarray: ...
    def decode(self, rgb: np.ndarray) -> list[int]: ...


def fits(width: int, height: int) -> bool:
    """Whether an image of this size is large enough to carry a watermark."""
    return min(width, height) >= MIN_SIDE


def get_watermarker(name: str) -> Watermarker:
    """The watermarker configured as `name` ("rivagan" or "dwtdctsvd")."""
    if name == "rivagan":
        return RivaGan()
    if name == "dwtdctsvd":
        return DwtDctSvd()
    raise ConfigError(f"unknown watermark {name!r}; use rivagan, dwtdctsvd or none")


def by_alg(alg: str) -> Watermarker | None:
    """The watermarker that writes `alg` in the manifest, or None when it is not ours."""
    for name, known in ALGORITHMS.items():
        if known == alg:
            return get_watermarker(name)
    return None


def _package_dir() -> Path:
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the watermark needs the invisible-watermark package (`make install` adds it)"
        )
    return Path(spec.origin).parent


_SESSIONS: dict[str, Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(name: str) -> Any:
    """One onnxruntime session per model file and process (opening one costs ~100 ms)."""
    with _SESSIONS_LOCK:
        if name not in _SESSIONS:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            _SESSIONS[name] = onnxruntime.InferenceSession(
                str(_package_dir() / name), options, providers=["CPUExecutionProvider"]
            )
        return _SESSIONS[name]


def _to_frame(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 as RivaGAN's input: BGR in [-1, 1], shape 1x3x1xHxW."""
    bgr = rgb[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None, :, None, :, :])


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize float channels (HxWxC) with bilinear (up) or box (down) filtering."""
    shrinking = width < array.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    channels = [
        np.asarray(Image.fromarray(array[:, :, c], mode="F").resize((width, height), method))
        for c in range(array.shape[2])
    ]
    return np.stack(channels, axis=2)


class RivaGan:
    """RivaGAN, 32 bits, run at `WORK_SIDE` squared whatever the image size."""

    name = "rivagan"
    alg = ALGORITHMS["rivagan"]

    def embed(self, rgb: np.ndarray, bits: Sequence[int]) -> np.ndarray:
        height, width = rgb.shape[:2]
        small = _resize(rgb.astype(np.float32), WORK_SIDE, WORK_SIDE)
        frame = _to_frame(np.clip(small, 0, 255))
        data = np.asarray([bits], dtype=np.float32)
        out = _session("rivagan_encoder.onnx").run(None, {"frame": frame, "data": data})[0]
        out = np.clip(out, -1.0, 1.0)
        residual_bgr = (out[0, :, 0] - frame[0, :, 0]).transpose(1, 2, 0) * 127.5
        residual = _resize(np.ascontiguousarray(residual_bgr[:, :, ::-1]), width, height)
        marked = rgb.astype(np.float32) + residual
        return np.clip(np.rint(marked), 0, 255).astype(np.uint8)

    def decode(self, rgb: np.ndarray) -> list[int]:
        bits: list[int] = []
        for side in DECODE_SIDES:
            bits = self._decode_at(rgb, side)
            if payload.decode(bits) is not None:
                break
        return bits

    def _decode_at(self, rgb: np.ndarray, side: int) -> list[int]:
        small = _resize(rgb.astype(np.float32), side, side)
        frame = _to_frame(np.clip(small, 0, 255))
        scores = _session("rivagan_decoder.onnx").run(None, {"frame": frame})[0][0]
        return [int(s > RIVAGAN_THRESHOLD) for s in scores]


_DWT_MODULE: ModuleType | None = None


def _dwt_module() -> ModuleType:
    """`imwatermark/dwtDctSvd.py`, loaded from its file (see module docstring)."""
    global _DWT_MODULE
    if _DWT_MODULE is None:
        path = _package_dir() / "dwtDctSvd.py"
        spec = importlib.util.spec_from_file_location("provenant_dwtdctsvd", path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{path}: cannot load the DWT-DCT-SVD watermark")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _DWT_MODULE = module
    return _DWT_MODULE


class DwtDctSvd:
    """DWT-DCT-SVD on the luma channel (invisible-watermark's `dwtDctSvd`), 32 bits."""

    name = "dwtdctsvd"
    alg = ALGORITHMS["dwtdctsvd"]

    def embed(self, rgb: np.ndarray, bits: Sequence[int]) -> np.ndarray:
        embedder = _dwt_module().EmbedDwtDctSvd(list(bits), wmLen=payload.PAYLOAD_BITS)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        return np.ascontiguousarray(embedder.encode(bgr)[:, :, ::-1])

    def decode(self, rgb: np.ndarray) -> list[int]:
        embedder = _dwt_module().EmbedDwtDctSvd([], wmLen=payload.PAYLOAD_BITS)
        bits = embedder.decode(np.ascontiguousarray(rgb[:, :, ::-1]))
        return [int(b) for b in np.asarray(bits).ravel()[: payload.PAYLOAD_BITS]]
